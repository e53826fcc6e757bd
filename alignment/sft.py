"""Supervised fine-tuning on demonstrations: TRL ``SFTTrainer`` + LoRA, loss on assistant tokens only.

SmolLM2's chat template has no ``{% generation %}`` markers, so training renders conversations with
a template that produces the identical text plus those markers (``alignment/smollm2_training.jinja``);
the adapter is saved without a tokenizer, so the model keeps its own template everywhere else.
"""

from __future__ import annotations

import logging
from typing import Any

from alignment import demos as sampled_demos
from alignment import models
from alignment.artifacts import RunPaths
from alignment.data import Record, load_demonstrations, prompt_key, read_jsonl, write_jsonl
from alignment.recipe import Recipe, resolve_path
from alignment.sampling import encode_prompt
from alignment.training import last_checkpoint, trainer_kwargs

log = logging.getLogger(__name__)


def demonstration_records(recipe: Recipe) -> list[dict[str, Any]]:
    return load_demonstrations([resolve_path(p) for p in recipe.data.demonstrations])


def demo_tokens(tokenizer: Any, demo: Record) -> int:
    """Tokens of a single-turn demonstration as SFT sees it (templated prompt, answer, end of turn)."""
    prompt = encode_prompt(tokenizer, demo["messages"][:-1])
    return len(prompt) + len(tokenizer(demo["messages"][-1]["content"])["input_ids"]) + 2


def sampled_demonstrations(
    recipe: Recipe, paths: RunPaths, model: Any, tokenizer: Any, golden: list[Record]
) -> tuple[list[Record], dict[str, Any]]:
    """Demonstrations from the base policy's own repaired samples (``alignment/demos.py``), made once per
    run and kept in ``sft/sampled_demonstrations.jsonl`` so a resumed stage trains on the same data."""
    settings = recipe.sft.sampled
    if settings.prompts <= 0:
        return [], {}
    cached = paths.stage_dir("sft") / "sampled_demonstrations.jsonl"
    if cached.exists():
        records = read_jsonl(cached)
        return records, {"kept": len(records), "cached": True}
    prompts = sampled_demos.pick(
        read_jsonl(resolve_path(recipe.data.train_prompts)),
        settings.prompts,
        seed=recipe.seed,
        tokenizer=tokenizer,
        max_prompt_tokens=recipe.data.max_prompt_tokens,
        exclude={prompt_key(demo["messages"][:-1]) for demo in golden},
    )
    records, stats = sampled_demos.build(
        model,
        tokenizer,
        prompts,
        samples=settings.samples,
        max_new_tokens=settings.max_new_tokens,
        temperature=settings.temperature,
        batch_size=settings.batch_size,
        min_words=settings.min_words,
    )
    write_jsonl(cached, records)
    return records, stats


def run(recipe: Recipe, paths: RunPaths) -> dict[str, Any]:
    """Train the SFT adapter; returns its metrics."""
    from datasets import Dataset
    from trl import SFTConfig, SFTTrainer

    tokenizer = models.load_tokenizer(recipe.model)
    golden = demonstration_records(recipe)
    model = models.load_causal_lm(recipe.model, models.dtype_for(recipe.bf16))
    sampled, sampled_stats = sampled_demonstrations(recipe, paths, model, tokenizer, golden)
    variants = sampled_demos.case_variants(
        golden + sampled,
        recipe.sft.case_variants,
        seed=recipe.seed,
        fits=lambda demo: demo_tokens(tokenizer, demo) <= recipe.sft.max_length,
    )
    demos = golden + sampled + variants
    # Only now the training template: sampling above prompts the model with its own chat template.
    tokenizer.chat_template = models.training_chat_template(tokenizer)
    dataset = Dataset.from_list([{"messages": demo["messages"]} for demo in demos])
    output_dir = str(paths.stage_dir("sft") / "trainer")
    config = SFTConfig(
        **trainer_kwargs(recipe, recipe.sft, output_dir),
        assistant_only_loss=True,
        max_length=recipe.sft.max_length,
        train_sampling_strategy="group_by_length",  # batches of similar length: less padding on CPU
    )
    trainer = SFTTrainer(
        model=model,
        args=config,
        train_dataset=dataset,
        processing_class=tokenizer,
        peft_config=models.lora_config(recipe.sft.lora),
    )
    resume = last_checkpoint(output_dir)
    if resume:
        log.info("resuming SFT from %s", resume)
    result = trainer.train(resume_from_checkpoint=resume)
    trained: Any = trainer.model  # the peft model (typed as a union by transformers)
    if trainer.accelerator.is_main_process:
        trained.save_pretrained(str(paths.sft_adapter))
        models.save_lineage(paths.sft_adapter, models.Lineage(recipe.model))
        write_jsonl(paths.stage_dir("sft") / "log.jsonl", trainer.state.log_history)
    trainer.accelerator.wait_for_everyone()
    losses = [entry["loss"] for entry in trainer.state.log_history if "loss" in entry]
    return {
        "demonstrations": len(demos),
        "golden_demonstrations": len(golden),
        "sampled_demonstrations": sampled_stats,
        "case_variants": len(variants),
        "steps": trainer.state.global_step,
        "train_loss": result.training_loss,
        "first_loss": losses[0] if losses else None,
        "last_loss": losses[-1] if losses else None,
    }
