"""A toy policy for PPO tests: a 2-layer Llama over a 16-token vocabulary with a LoRA adapter."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import torch

TOY_VOCAB, TOY_EOS, TOY_PAD, TOY_HIDDEN = 16, 1, 0, 32


def build_toy_policy(seed: int = 0):
    from peft import LoraConfig, get_peft_model
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(seed)
    config = LlamaConfig(
        vocab_size=TOY_VOCAB,
        hidden_size=TOY_HIDDEN,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=64,
        tie_word_embeddings=False,
        bos_token_id=2,
        eos_token_id=TOY_EOS,
        pad_token_id=TOY_PAD,
    )
    # The LoRA includes lm_head: a freshly initialised model's output layer is too small (std 0.02) for
    # adapters on the hidden layers alone to move its next-token distribution within a few steps.
    lora = LoraConfig(
        r=8,
        lora_alpha=16,
        lora_dropout=0.0,
        target_modules=["q_proj", "v_proj", "o_proj", "down_proj", "lm_head"],
    )
    return get_peft_model(LlamaForCausalLM(config), lora)


@pytest.fixture
def toy_policy() -> Callable[..., object]:
    torch.set_num_threads(1)
    return build_toy_policy


@pytest.fixture
def toy_prompts():
    from alignment.ppo import Prompt

    generator = torch.Generator().manual_seed(1)
    return [Prompt(torch.randint(2, TOY_VOCAB, (4,), generator=generator).tolist()) for _ in range(32)]
