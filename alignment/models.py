"""Loading the models a run works with: base, policies built from LoRA adapters, tokenizers.

A policy adapter is saved with a ``lineage.json`` naming the base model and the adapters merged into
the base before it was trained (PPO and DPO train a fresh LoRA on top of the merged SFT model, so their
reference is "the same weights with the adapter disabled"). Any adapter directory is therefore
self-describing and can be evaluated or exported on its own.
"""

from __future__ import annotations

import json
import os
import random
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from alignment import registry

if TYPE_CHECKING:
    import torch
    from transformers import PreTrainedModel, PreTrainedTokenizerBase

LINEAGE_FILE = "lineage.json"
TRAINING_TEMPLATES = {
    # SmolLM2's chat template, rendered identically, plus {% generation %} markers for assistant-only loss.
    "smollm2": Path(__file__).with_name("smollm2_training.jinja"),  # a *.jinja package-data file
}


@dataclass(frozen=True)
class Lineage:
    """How a policy adapter is built: ``base``, plus ``merged`` adapters in order, plus the adapter itself."""

    base: str
    merged: tuple[Path, ...] = ()

    def to_json(self, adapter_dir: Path) -> dict[str, Any]:
        return {"base": self.base, "merged": [os.path.relpath(p, adapter_dir) for p in self.merged]}

    @classmethod
    def read(cls, adapter_dir: Path) -> Lineage:
        raw = json.loads((adapter_dir / LINEAGE_FILE).read_text())
        return cls(raw["base"], tuple((adapter_dir / p).resolve() for p in raw.get("merged", [])))


def save_lineage(adapter_dir: Path, lineage: Lineage) -> None:
    (adapter_dir / LINEAGE_FILE).write_text(json.dumps(lineage.to_json(adapter_dir), indent=2) + "\n")


def is_adapter_dir(path: Path) -> bool:
    return (path / "adapter_config.json").is_file() and (path / LINEAGE_FILE).is_file()


def configure_torch(seed: int, threads: int | None) -> None:
    """Seed every RNG a run touches and pin torch's thread count when the recipe asks for it."""
    import numpy as np
    import torch

    if threads:
        torch.set_num_threads(threads)
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def device() -> torch.device:
    import torch

    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def dtype_for(bf16: bool) -> torch.dtype:
    import torch

    return torch.bfloat16 if bf16 and torch.cuda.is_available() else torch.float32


def load_tokenizer(model: str | Path) -> PreTrainedTokenizerBase:
    """The model's tokenizer with a pad token (SmolLM2 pads with its EOS, ``<|im_end|>``)."""
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(registry.resolve(model))
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer


def training_chat_template(tokenizer: PreTrainedTokenizerBase) -> str:
    """A chat template with ``{% generation %}`` markers that renders exactly like the model's own."""
    from trl.chat_template_utils import get_training_chat_template, has_generation_markers

    template = tokenizer.chat_template
    if isinstance(template, str) and has_generation_markers(template):
        return template
    for path in TRAINING_TEMPLATES.values():
        candidate = path.read_text(encoding="utf-8")
        if _renders_like(tokenizer, candidate):
            return candidate
    patched = get_training_chat_template(tokenizer)  # TRL's own list; raises for unknown templates
    return patched or template


def _renders_like(tokenizer: PreTrainedTokenizerBase, candidate: str) -> bool:
    probes = [
        [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}],
        [
            {"role": "system", "content": "S"},
            {"role": "user", "content": "a"},
            {"role": "assistant", "content": "b"},
            {"role": "user", "content": "c"},
        ],
    ]
    for messages in probes:
        for add_generation_prompt in (False, True):
            kwargs: dict[str, Any] = {"tokenize": False, "add_generation_prompt": add_generation_prompt}
            if tokenizer.apply_chat_template(messages, **kwargs) != tokenizer.apply_chat_template(
                messages, chat_template=candidate, **kwargs
            ):
                return False
    return True


def load_causal_lm(model: str | Path, dtype: torch.dtype | None = None) -> PreTrainedModel:
    import torch
    from transformers import AutoModelForCausalLM

    loaded: Any = AutoModelForCausalLM.from_pretrained(registry.resolve(model), dtype=dtype or torch.float32)
    return loaded.to(device())  # type: ignore[no-any-return]


def merged_model(
    base: str, adapters: tuple[Path, ...] | list[Path], dtype: torch.dtype | None = None
) -> PreTrainedModel:
    """The base model with each adapter merged into its weights, in order (one copy of the weights)."""
    from peft import PeftModel

    model = load_causal_lm(base, dtype)
    for adapter in adapters:
        model = PeftModel.from_pretrained(model, str(adapter)).merge_and_unload()
    return model


def load_policy(path: str | Path, dtype: torch.dtype | None = None) -> tuple[Any, Lineage | None]:
    """A model to generate from: a registry name, an HF dir, or a policy adapter dir (kept as a PeftModel).

    Returns the model and, for adapters, its lineage (so callers can disable the adapter for the reference).
    """
    from peft import PeftModel

    candidate = Path(path)
    if candidate.is_dir() and is_adapter_dir(candidate):
        lineage = Lineage.read(candidate)
        model = merged_model(lineage.base, lineage.merged, dtype)
        return PeftModel.from_pretrained(model, str(candidate)), lineage
    return load_causal_lm(path, dtype), None


def merged_policy(path: str | Path, dtype: torch.dtype | None = None) -> PreTrainedModel:
    """A policy with every adapter merged: what export saves."""
    candidate = Path(path)
    if candidate.is_dir() and is_adapter_dir(candidate):
        lineage = Lineage.read(candidate)
        return merged_model(lineage.base, (*lineage.merged, candidate.resolve()), dtype)
    return load_causal_lm(path, dtype)


def lora_config(settings: Any, task_type: str = "CAUSAL_LM") -> Any:
    """A peft LoraConfig from a recipe's LoraSettings."""
    from peft import LoraConfig

    return LoraConfig(
        r=settings.r,
        lora_alpha=settings.alpha,
        lora_dropout=settings.dropout,
        target_modules=settings.target_modules,
        task_type=task_type,
    )
