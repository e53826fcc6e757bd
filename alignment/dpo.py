"""DPO (TRL ``DPOTrainer``) from the reward stage's comparisons: an offline alternative to RM + PPO.

Like PPO, DPO trains a fresh LoRA on the SFT model merged in memory, so its reference is the SFT
model with the adapter disabled.
"""

from __future__ import annotations

import logging
from typing import Any

from alignment import models
from alignment.artifacts import RunPaths
from alignment.data import split_heldout, write_jsonl
from alignment.recipe import Recipe
from alignment.reward import all_comparisons
from alignment.training import last_checkpoint, trainer_kwargs

log = logging.getLogger(__name__)
COLUMNS = ("prompt", "chosen", "rejected")


def run(recipe: Recipe, paths: RunPaths) -> dict[str, Any]:
    """Train the DPO adapter; reports implicit-reward accuracy on the reward stage's held-out prompts."""
    from trl import DPOConfig, DPOTrainer

    if not paths.comparisons.is_file():
        raise FileNotFoundError(f"no comparisons at {paths.comparisons}: run --stage reward first")
    comparisons = all_comparisons(recipe, paths)
    train, heldout = split_heldout(comparisons, recipe.reward.comparisons.heldout_fraction, recipe.seed)
    settings = recipe.dpo
    tokenizer = models.load_tokenizer(recipe.model)
    sft = paths.policy_adapter("sft")
    merged = (sft.resolve(),) if sft else ()
    model = models.merged_model(recipe.model, merged, models.dtype_for(recipe.bf16))
    output_dir = str(paths.stage_dir("dpo") / "trainer")
    config = DPOConfig(
        **trainer_kwargs(recipe, settings, output_dir), beta=settings.beta, max_length=settings.max_length
    )
    trainer = DPOTrainer(
        model=model,
        args=config,
        train_dataset=as_dataset(train),
        processing_class=tokenizer,
        peft_config=models.lora_config(settings.lora),
    )
    result = trainer.train(resume_from_checkpoint=last_checkpoint(output_dir))
    trained: Any = trainer.model  # the peft model (typed as a union by transformers)
    if trainer.accelerator.is_main_process:
        trained.save_pretrained(str(paths.dpo_adapter))
        models.save_lineage(paths.dpo_adapter, models.Lineage(recipe.model, merged))
        write_jsonl(paths.stage_dir("dpo") / "log.jsonl", trainer.state.log_history)
    trainer.accelerator.wait_for_everyone()
    metrics: dict[str, Any] = {
        "train_pairs": len(train),
        "steps": trainer.state.global_step,
        "train_loss": result.training_loss,
    }
    if heldout:
        evaluation = trainer.evaluate(eval_dataset=as_dataset(heldout))
        metrics["heldout_reward_accuracy"] = evaluation.get("eval_rewards/accuracies")
        metrics["heldout_loss"] = evaluation.get("eval_loss")
    return metrics


def as_dataset(rows: list[dict[str, Any]]) -> Any:
    """Comparisons as a TRL preference dataset (conversational prompt/chosen/rejected)."""
    from datasets import Dataset

    return Dataset.from_list([{key: row[key] for key in COLUMNS} for row in rows])
