"""Alignment recipes: one YAML file describes a whole run (model, data, and each stage's settings).

Each stage section maps onto a small dataclass holding only what that stage needs; unknown keys are
errors, so a typo in a recipe fails loudly instead of silently training with a default.
"""

from __future__ import annotations

import dataclasses
import hashlib
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

REPO_ROOT = Path(__file__).resolve().parents[1]
STAGES = ("sft", "reward", "ppo", "dpo", "eval", "export")


class RecipeError(ValueError):
    """A recipe file or override is malformed (unknown key, wrong type, unknown stage)."""


@dataclass
class LoraSettings:
    r: int = 8  # LoRA rank
    alpha: int = 16  # LoRA scaling numerator (scale = alpha / r)
    dropout: float = 0.0  # dropout on the LoRA branch (0 keeps PPO's old/new log-probs comparable)
    target_modules: list[str] | str = "all-linear"  # peft target modules


@dataclass
class DataSettings:
    train_prompts: str = "data/spec/train.jsonl"  # behaviour-spec prompts: PPO and best-of-n sampling
    dev_prompts: str = "data/spec/dev.jsonl"  # behaviour-spec prompts: evaluation only
    demonstrations: list[str] = field(default_factory=lambda: ["data/golden/demonstrations.jsonl"])
    extra_comparisons: list[str] = field(default_factory=list)  # review-queue / hand-written comparisons
    max_prompt_tokens: int = 384  # prompts longer than this (chat-templated) are skipped everywhere


@dataclass
class SampledDemoSettings:
    prompts: int = 0  # train prompts the base policy answers for extra demonstrations (0: golden only)
    samples: int = 2  # answers per prompt; the first that passes its checks (after repair) is kept
    max_new_tokens: int = 128
    temperature: float = 0.7
    batch_size: int = 16
    min_words: int = 15  # answers shorter than this are not kept (they carry too little content)


@dataclass
class SFTSettings:
    epochs: float = 1.0
    max_steps: int = -1  # > 0 overrides epochs
    batch_size: int = 4
    grad_accum: int = 1
    lr: float = 2e-4
    max_length: int = 512  # tokens per demonstration (truncated beyond)
    save_steps: int = 50  # trainer checkpoint interval (resume point)
    lora: LoraSettings = field(default_factory=LoraSettings)
    sampled: SampledDemoSettings = field(default_factory=SampledDemoSettings)  # alignment/demos.py
    case_variants: int = 0  # demonstrations recast to all-lowercase/uppercase (demos.case_variants)


@dataclass
class ComparisonSettings:
    prompts: int = 64  # train prompts sampled best-of-n (golden-demo prompts come on top when enabled)
    samples: int = 4  # n in best-of-n
    max_new_tokens: int = 96
    temperature: float = 1.0
    batch_size: int = 8
    golden_pairs: bool = True  # add (golden answer, worst sample) pairs for the golden prompts
    golden_prompts: int = 32  # how many golden-demo prompts to sample for those pairs
    heldout_fraction: float = 0.2  # share of prompts whose pairs are held out to measure RM accuracy


@dataclass
class RewardSettings:
    epochs: float = 1.0
    max_steps: int = -1
    batch_size: int = 4  # pairs per step
    grad_accum: int = 1
    lr: float = 1e-4
    max_length: int = 512
    save_steps: int = 50
    center_rewards: float | None = 0.01  # keeps scores near 0 (helps PPO's value init)
    lora: LoraSettings = field(default_factory=LoraSettings)
    comparisons: ComparisonSettings = field(default_factory=ComparisonSettings)


@dataclass
class PPOSettings:
    steps: int = 20  # rollout/update iterations
    batch_size: int = 8  # prompts per rollout
    minibatch_size: int = 4
    epochs: int = 2  # PPO epochs over each rollout
    lr: float = 1e-4
    max_new_tokens: int = 64
    temperature: float = 1.0
    gamma: float = 1.0
    lam: float = 0.95
    cliprange: float = 0.2
    cliprange_value: float = 0.2
    vf_coef: float = 0.1
    kl_coef: float = 0.05  # initial beta of the per-token KL penalty
    kl_target: float | None = 6.0  # adaptive controller target (nats per response); None: fixed beta
    kl_horizon: int = 10000
    whiten_rewards: bool = True
    ptx_coef: float = 0.0  # weight of the SFT (demonstration) loss mixed into each update
    ptx_batch_size: int = 4
    missing_eos_penalty: float | None = 1.0  # subtracted from the score of responses cut off before EOS
    reward_source: str = "rm"  # rm | checkers | rm+checkers
    max_grad_norm: float = 1.0
    checkpoint_every: int = 5
    lora: LoraSettings = field(default_factory=LoraSettings)


@dataclass
class DPOSettings:
    epochs: float = 1.0
    max_steps: int = -1
    batch_size: int = 4
    grad_accum: int = 1
    lr: float = 5e-5
    beta: float = 0.1
    max_length: int = 512
    save_steps: int = 50
    lora: LoraSettings = field(default_factory=LoraSettings)


@dataclass
class EvalSettings:
    models: list[str] = field(
        default_factory=lambda: ["base", "sft", "ppo", "dpo"]
    )  # those with artifacts run
    baseline: str = "base"  # RM win rate is measured against this model's responses
    prompts: int | None = None  # first N dev prompts (None: all)
    max_new_tokens: int = 128
    batch_size: int = 8


@dataclass
class ExportSettings:
    policy: str = "ppo"  # ppo | dpo | sft: the model to merge and export (falls back along ppo → dpo → sft)
    dtype: str = "float32"


@dataclass
class Recipe:
    name: str
    model: str  # registry name or local HF dir
    run_dir: str = ""  # default runs/<name>
    seed: int = 0
    threads: int | None = None  # torch threads (None: torch's default)
    bf16: bool = False  # mixed precision (GPU recipes); CPU recipes keep fp32
    stages: list[str] = field(default_factory=lambda: list(STAGES))  # what `--stage all` runs, in order
    data: DataSettings = field(default_factory=DataSettings)
    sft: SFTSettings = field(default_factory=SFTSettings)
    reward: RewardSettings = field(default_factory=RewardSettings)
    ppo: PPOSettings = field(default_factory=PPOSettings)
    dpo: DPOSettings = field(default_factory=DPOSettings)
    eval: EvalSettings = field(default_factory=EvalSettings)
    export: ExportSettings = field(default_factory=ExportSettings)
    source: str = ""  # the YAML file this recipe was read from (set by load)

    def __post_init__(self) -> None:
        unknown = [stage for stage in self.stages if stage not in STAGES]
        if unknown:
            raise RecipeError(f"unknown stage(s) {unknown}; stages are {list(STAGES)}")
        if self.ppo.reward_source not in ("rm", "checkers", "rm+checkers"):
            raise RecipeError(
                f"ppo.reward_source must be rm, checkers or rm+checkers, not {self.ppo.reward_source!r}"
            )

    @property
    def run_path(self) -> Path:
        return resolve_path(self.run_dir or f"runs/{self.name}")

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def sha256(self) -> str:
        """Hash of the effective settings (after overrides), recorded in manifests."""
        return hashlib.sha256(yaml.safe_dump(self.to_dict(), sort_keys=True).encode()).hexdigest()


def resolve_path(path: str | Path) -> Path:
    """Recipe paths are relative to the repository root unless absolute."""
    candidate = Path(path).expanduser()
    return candidate if candidate.is_absolute() else REPO_ROOT / candidate


def load(path: str | Path, overrides: list[str] | None = None) -> Recipe:
    """Read a recipe YAML file and apply ``section.key=value`` overrides (values parsed as YAML)."""
    path = Path(path)
    raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    if not isinstance(raw, dict):
        raise RecipeError(f"{path}: a recipe is a mapping")
    for override in overrides or []:
        key, sep, value = override.partition("=")
        if not sep:
            raise RecipeError(f"override {override!r} is not key=value")
        _set_dotted(raw, key.strip(), yaml.safe_load(value))
    raw["source"] = str(path)
    return _build(Recipe, raw, "recipe")


def cap_steps(recipe: Recipe, max_steps: int) -> None:
    """Smoke-run helper: at most ``max_steps`` optimiser steps in every training stage."""
    recipe.sft.max_steps = max_steps
    recipe.reward.max_steps = max_steps
    recipe.dpo.max_steps = max_steps
    recipe.ppo.steps = min(recipe.ppo.steps, max_steps)


def cap_prompts(recipe: Recipe, max_prompts: int) -> None:
    """Smoke-run helper: sample and evaluate on at most ``max_prompts`` prompts."""
    comparisons = recipe.reward.comparisons
    comparisons.prompts = min(comparisons.prompts, max_prompts)
    comparisons.golden_prompts = min(comparisons.golden_prompts, max_prompts)
    recipe.eval.prompts = min(recipe.eval.prompts or max_prompts, max_prompts)


def _set_dotted(raw: dict[str, Any], key: str, value: Any) -> None:
    node = raw
    *parents, leaf = key.split(".")
    for part in parents:
        node = node.setdefault(part, {})
        if not isinstance(node, dict):
            raise RecipeError(f"override {key!r}: {part!r} is not a section")
    node[leaf] = value


def _build(cls: type, raw: Any, where: str) -> Any:
    if not isinstance(raw, dict):
        raise RecipeError(f"{where}: expected a mapping, got {type(raw).__name__}")
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(raw) - names)
    if unknown:
        raise RecipeError(f"{where}: unknown key(s) {unknown}; known: {sorted(names)}")
    values = {}
    for name, value in raw.items():
        hint = hints[name]
        if isinstance(hint, type) and dataclasses.is_dataclass(hint):
            values[name] = _build(hint, value, f"{where}.{name}")
        else:
            values[name] = _coerce(hint, value, f"{where}.{name}")
    try:
        return cls(**values)
    except TypeError as exc:
        raise RecipeError(f"{where}: {exc}") from exc


def _coerce(hint: Any, value: Any, where: str) -> Any:
    """Check a scalar/list value against its annotation; ints are accepted where floats are expected."""
    options = typing.get_args(hint) if isinstance(hint, types.UnionType) else (hint,)
    for option in options:
        origin = typing.get_origin(option) or option
        if option is type(None) and value is None:
            return None
        if origin is float and isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
        if origin is int and isinstance(value, int) and not isinstance(value, bool):
            return value
        if origin in (str, bool) and type(value) is origin:
            return value
        if origin is list and isinstance(value, list):
            return list(value)
    raise RecipeError(f"{where}: {value!r} does not match {hint}")
