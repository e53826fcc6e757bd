"""The reward model: comparisons in, a Bradley-Terry scorer out (TRL ``RewardTrainer`` + LoRA).

The stage first samples comparisons from the current policy (best-of-n ranked by the checkers, see
``comparisons``), adds any extra comparison files (review queue, hand-written), holds out a share of
prompts, trains, and reports pairwise accuracy on the held-out pairs.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from alignment import distributed, models
from alignment.artifacts import RunPaths
from alignment.comparisons import best_of_n, pick_prompts
from alignment.data import Message, Record, load_comparisons, read_jsonl, split_heldout, write_jsonl
from alignment.recipe import Recipe, resolve_path
from alignment.sft import demonstration_records
from alignment.training import last_checkpoint, trainer_kwargs

log = logging.getLogger(__name__)
META_FILE = "reward_model.json"


def sequence_classifier(model: str | Path, dtype: torch.dtype | None = None) -> Any:
    """The base model with a one-output score head (Bradley-Terry needs exactly one label)."""
    from transformers import AutoConfig, AutoModelForSequenceClassification

    from alignment import registry

    model_dir = registry.resolve(model)
    config = AutoConfig.from_pretrained(model_dir)
    config.num_labels = 1  # from_config(cfg, num_labels=1) raises; set it on the config first
    tokenizer = models.load_tokenizer(model)
    config.pad_token_id = tokenizer.pad_token_id
    classifier = AutoModelForSequenceClassification.from_pretrained(
        model_dir, config=config, dtype=dtype or torch.float32
    )
    return classifier.to(models.device())


class RewardScorer:
    """Scores conversations with a trained reward model adapter."""

    def __init__(self, model: Any, tokenizer: Any, batch_size: int = 8) -> None:
        self.model = model.eval()
        self.tokenizer = tokenizer
        self.batch_size = batch_size

    @classmethod
    def load(cls, adapter_dir: Path, batch_size: int = 8) -> RewardScorer:
        from peft import PeftModel

        base = json.loads((adapter_dir / META_FILE).read_text())["base"]
        model = PeftModel.from_pretrained(sequence_classifier(base), str(adapter_dir))
        return cls(model, models.load_tokenizer(base), batch_size)

    def score_weight(self) -> torch.Tensor:
        """The trained score head's weight (1, hidden): the value head's starting point in PPO."""
        head = self.model.get_base_model().score
        trained = getattr(head, "modules_to_save", None)  # peft wraps the head it trains
        module = trained["default"] if trained is not None else head
        return module.weight.detach().clone()

    @torch.no_grad()
    def score(self, conversations: Sequence[Sequence[Message]]) -> torch.Tensor:
        """One scalar per full conversation (prompt + assistant answer), tokenized as RewardTrainer does."""
        pad_id = self.tokenizer.pad_token_id
        device = next(self.model.parameters()).device
        rows = []
        for messages in conversations:
            ids = self.tokenizer.apply_chat_template(list(messages), tokenize=True, return_dict=True)[
                "input_ids"
            ]
            rows.append(list(ids))
        scores = []
        for start in range(0, len(rows), self.batch_size):
            chunk = rows[start : start + self.batch_size]
            width = max(len(r) for r in chunk)
            input_ids = torch.full((len(chunk), width), pad_id, dtype=torch.long)
            attention_mask = torch.zeros((len(chunk), width), dtype=torch.long)
            for i, row in enumerate(chunk):
                input_ids[i, : len(row)] = torch.tensor(row)
                attention_mask[i, : len(row)] = 1
            logits = self.model(
                input_ids=input_ids.to(device), attention_mask=attention_mask.to(device)
            ).logits
            scores.append(logits[:, 0].float().cpu())
        return torch.cat(scores) if scores else torch.zeros(0)


def pairwise_accuracy(scorer: Any, comparisons: Sequence[Record]) -> float:
    """Share of pairs where the chosen answer scores strictly higher than the rejected one."""
    if not comparisons:
        return float("nan")
    chosen = scorer.score([c["prompt"] + c["chosen"] for c in comparisons])
    rejected = scorer.score([c["prompt"] + c["rejected"] for c in comparisons])
    return (chosen > rejected).float().mean().item()


def sample_comparisons(recipe: Recipe, paths: RunPaths) -> list[Record]:
    """Best-of-n pairs from the current policy (the SFT adapter when present, else the base model)."""
    settings = recipe.reward.comparisons
    policy_path = paths.policy_adapter("sft") or recipe.model
    log.info("sampling comparisons from %s", policy_path)
    policy = models.merged_policy(
        policy_path, models.dtype_for(recipe.bf16)
    )  # merged: no LoRA cost per token
    tokenizer = models.load_tokenizer(recipe.model)
    common: dict[str, Any] = {
        "n": settings.samples,
        "max_new_tokens": settings.max_new_tokens,
        "temperature": settings.temperature,
        "batch_size": settings.batch_size,
    }
    prompts = pick_prompts(
        read_jsonl(resolve_path(recipe.data.train_prompts)),
        settings.prompts,
        recipe.seed,
        tokenizer,
        recipe.data.max_prompt_tokens,
    )
    pairs = best_of_n(policy, tokenizer, prompts, **common, desc="best-of-n (spec prompts)")
    if settings.golden_pairs and settings.golden_prompts > 0:
        golden = [
            {"messages": d["messages"][:-1], "answer": d["messages"][-1]["content"], "checks": d["checks"]}
            for d in demonstration_records(recipe)
            if d.get("checks")
        ]
        demos = pick_prompts(
            golden, settings.golden_prompts, recipe.seed, tokenizer, recipe.data.max_prompt_tokens
        )
        pairs += best_of_n(policy, tokenizer, demos, **common, golden=True, desc="best-of-n (golden prompts)")
    return pairs


def all_comparisons(recipe: Recipe, paths: RunPaths) -> list[Record]:
    """Sampled comparisons plus the recipe's extra comparison files (``--extra-data`` lands there)."""
    extra = load_comparisons([resolve_path(p) for p in recipe.data.extra_comparisons])
    return read_jsonl(paths.comparisons) + extra


def train(
    recipe: Recipe, comparisons: Sequence[Record], stage_dir: Path
) -> tuple[RewardScorer, dict[str, Any]]:
    """Train the Bradley-Terry reward model on ``comparisons``; saves the adapter to ``stage_dir/adapter``."""
    from datasets import Dataset
    from trl import RewardConfig, RewardTrainer

    settings = recipe.reward
    tokenizer = models.load_tokenizer(recipe.model)
    model = sequence_classifier(recipe.model, models.dtype_for(recipe.bf16))
    output_dir = str(stage_dir / "trainer")
    config = RewardConfig(
        **trainer_kwargs(recipe, settings, output_dir),
        max_length=settings.max_length,
        center_rewards_coefficient=settings.center_rewards,
    )
    columns = ("prompt", "chosen", "rejected")
    trainer = RewardTrainer(
        model=model,
        args=config,
        train_dataset=Dataset.from_list([{k: c[k] for k in columns} for c in comparisons]),
        processing_class=tokenizer,
        peft_config=models.lora_config(settings.lora, task_type="SEQ_CLS"),
    )
    result = trainer.train(resume_from_checkpoint=last_checkpoint(output_dir))
    adapter = stage_dir / "adapter"
    trained: Any = trainer.model  # the peft model (typed as a union by transformers)
    if trainer.accelerator.is_main_process:
        trained.save_pretrained(str(adapter))
        (adapter / META_FILE).write_text(json.dumps({"base": recipe.model}) + "\n")
        write_jsonl(stage_dir / "log.jsonl", trainer.state.log_history)
    trainer.accelerator.wait_for_everyone()
    metrics = {"steps": trainer.state.global_step, "train_loss": result.training_loss}
    return RewardScorer(trainer.model, tokenizer), metrics


def run(recipe: Recipe, paths: RunPaths) -> dict[str, Any]:
    """Sample comparisons (once), train the reward model, measure held-out pairwise accuracy."""
    sampled_marker = paths.comparisons.with_suffix(".done")
    if not sampled_marker.is_file() and distributed.is_main():
        write_jsonl(paths.comparisons, sample_comparisons(recipe, paths))
        sampled_marker.write_text("ok\n")
    distributed.wait()
    comparisons = all_comparisons(recipe, paths)
    train_pairs, heldout = split_heldout(comparisons, recipe.reward.comparisons.heldout_fraction, recipe.seed)
    if not train_pairs:
        raise ValueError("no comparisons to train the reward model on (all samples tied?): add --extra-data")
    if distributed.is_main():
        write_jsonl(paths.stage_dir("reward") / "heldout.jsonl", heldout)
    scorer, metrics = train(recipe, train_pairs, paths.stage_dir("reward"))
    sources: dict[str, int] = {}
    for comparison in comparisons:
        sources[comparison["source"]] = sources.get(comparison["source"], 0) + 1
    return {
        "comparisons": len(comparisons),
        "by_source": sources,
        "train_pairs": len(train_pairs),
        "heldout_pairs": len(heldout),
        **metrics,
        "train_accuracy": pairwise_accuracy(scorer, train_pairs),
        "heldout_accuracy": pairwise_accuracy(scorer, heldout),
    }
