"""The PPO stage: SFT model (merged) + fresh LoRA as the policy, the reward model as the reward.

The SFT adapter is merged into the base weights in memory, so the reference PPO's KL penalty pulls
towards is the SFT model (InstructGPT), obtained by disabling the PPO adapter: one copy of the weights.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from typing import Any

import torch

from alignment import models
from alignment.artifacts import RunPaths
from alignment.comparisons import spec_reward
from alignment.data import read_jsonl
from alignment.ppo.trainer import PPOTrainer, Prompt, RewardFn
from alignment.ppo.value_head import ValueHead
from alignment.recipe import Recipe, resolve_path
from alignment.reward import RewardScorer
from alignment.sampling import encode_prompt
from alignment.sft import demonstration_records

log = logging.getLogger(__name__)


def spec_prompts(recipe: Recipe, tokenizer: Any) -> list[Prompt]:
    """Behaviour-spec train prompts that fit the prompt budget, with their records as metadata."""
    prompts = []
    for record in read_jsonl(resolve_path(recipe.data.train_prompts)):
        ids = encode_prompt(tokenizer, record["messages"])
        if len(ids) <= recipe.data.max_prompt_tokens:
            prompts.append(Prompt(ids, record))
    return prompts


def ptx_examples(recipe: Recipe, tokenizer: Any, max_length: int) -> list[dict[str, list[int]]]:
    """Demonstrations tokenized with labels on assistant tokens only (the ptx term's data)."""
    template = models.training_chat_template(tokenizer)
    examples = []
    for demo in demonstration_records(recipe):
        out = tokenizer.apply_chat_template(
            demo["messages"],
            chat_template=template,
            tokenize=True,
            return_dict=True,
            return_assistant_tokens_mask=True,
        )
        ids, mask = list(out["input_ids"])[:max_length], list(out["assistant_masks"])[:max_length]
        labels = [token if keep else -100 for token, keep in zip(ids, mask, strict=True)]
        if any(label != -100 for label in labels):
            examples.append({"input_ids": ids, "labels": labels})
    return examples


def make_reward_fn(source: str, tokenizer: Any, scorer: RewardScorer | None) -> RewardFn:
    """Score responses with the reward model, the behaviour-spec checkers, or their sum."""

    def reward(prompts: Sequence[Prompt], responses: list[list[int]], finished: list[bool]) -> torch.Tensor:
        texts = [tokenizer.decode(ids, skip_special_tokens=True).strip() for ids in responses]
        total = torch.zeros(len(texts))
        if "rm" in source.split("+") and scorer is not None:
            conversations = [
                [*p.meta["messages"], {"role": "assistant", "content": text}]
                for p, text in zip(prompts, texts, strict=True)
            ]
            total += scorer.score(conversations)
        if "checkers" in source.split("+"):
            total += torch.tensor(
                [spec_reward(text, p.meta.get("checks", [])) for p, text in zip(prompts, texts, strict=True)]
            )
        return total

    return reward


def run(recipe: Recipe, paths: RunPaths) -> dict[str, Any]:
    """Train the PPO adapter (resuming from its checkpoint); returns summary metrics."""
    from peft import get_peft_model

    settings = recipe.ppo
    uses_rm = "rm" in settings.reward_source.split("+")
    if uses_rm and not (paths.reward_adapter / "adapter_config.json").is_file():
        raise FileNotFoundError(f"no reward model at {paths.reward_adapter}: run --stage reward first")
    tokenizer = models.load_tokenizer(recipe.model)
    sft = paths.policy_adapter("sft")
    if sft is None:
        log.warning("no SFT adapter: PPO starts from (and is anchored to) the base model")
    merged = (sft.resolve(),) if sft else ()
    backbone = models.merged_model(recipe.model, merged, models.dtype_for(recipe.bf16))
    policy = get_peft_model(backbone, models.lora_config(settings.lora))

    scorer = RewardScorer.load(paths.reward_adapter) if uses_rm else None
    hidden = backbone.config.hidden_size
    value_head = ValueHead.from_score_weight(scorer.score_weight()) if scorer else ValueHead(hidden)
    examples = ptx_examples(recipe, tokenizer, recipe.sft.max_length) if settings.ptx_coef > 0 else []
    trainer = PPOTrainer(
        policy,
        value_head,
        settings,
        make_reward_fn(settings.reward_source, tokenizer, scorer),
        pad_id=tokenizer.pad_token_id,
        eos_id=tokenizer.eos_token_id,
        ptx_examples=examples,
        seed=recipe.seed,
        log_path=paths.ppo_log,
    )
    prompts = spec_prompts(recipe, tokenizer)
    trainer.train(prompts, checkpoint_dir=paths.ppo_checkpoint)

    policy.save_pretrained(str(paths.ppo_adapter))
    models.save_lineage(paths.ppo_adapter, models.Lineage(recipe.model, merged))
    value_head.save(paths.ppo_adapter / "value_head.pt")
    history = [json.loads(line) for line in paths.ppo_log.read_text().splitlines() if line.strip()]
    window = max(1, len(history) // 4)  # first and last quarter of the run
    return {
        "steps": trainer.step_count,
        "episodes": trainer.step_count * settings.batch_size,
        "reward_first": _mean(history[:window], "reward"),
        "reward_last": _mean(history[-window:], "reward"),
        "kl_last": _mean(history[-window:], "kl"),
        "kl_coef_last": history[-1]["kl_coef"],
        "reward_source": settings.reward_source,
    }


def _mean(rows: Sequence[dict[str, Any]], key: str) -> float:
    return sum(row[key] for row in rows) / len(rows)
