"""``keel align``: run an alignment recipe (or one stage of it). Also runnable as ``python -m alignment.cli``.

Imports nothing heavy at module level: the gateway's CLI builds its parser from ``add_arguments``.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Sequence

STAGE_CHOICES = ("sft", "reward", "ppo", "dpo", "eval", "export", "all")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The ``align`` options (shared by ``keel align`` and ``python -m alignment.cli``)."""
    parser.add_argument(
        "--recipe", required=True, help="recipe YAML (recipes/tiny.yaml, recipes/smollm2-cpu.yaml, ...)"
    )
    parser.add_argument(
        "--stage", default="all", choices=STAGE_CHOICES, help="stage to run (default: all, in order)"
    )
    parser.add_argument(
        "--extra-data",
        action="append",
        default=[],
        metavar="FILE",
        help="extra comparison JSONL (review-queue export, hand-written pairs) for reward and DPO",
    )
    parser.add_argument(
        "--force", action="store_true", help="rerun the stage(s) even if their artifacts exist"
    )
    parser.add_argument(
        "--run-dir", help="where artifacts go (default: the recipe's run_dir, else runs/<name>)"
    )
    parser.add_argument(
        "--max-steps", type=int, help="smoke run: cap every training stage at N optimiser/PPO steps"
    )
    parser.add_argument(
        "--max-prompts", type=int, help="smoke run: cap prompts sampled for comparisons and eval"
    )
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a recipe field, e.g. --set ppo.kl_target=3 --set eval.prompts=50; repeatable",
    )
    parser.add_argument(
        "--model",
        action="append",
        default=[],
        metavar="PATH",
        help="(eval) also evaluate this model: a registry name, HF dir or adapter dir; repeatable",
    )


def run(args: argparse.Namespace) -> int:
    """Load the recipe, apply overrides, run the pipeline, print each stage's metrics as JSON."""
    from alignment import pipeline
    from alignment.recipe import cap_prompts, cap_steps, load

    if not logging.getLogger().handlers:
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    overrides = list(args.set)
    if args.run_dir:
        overrides.append(f"run_dir={args.run_dir}")
    recipe = load(args.recipe, overrides)
    recipe.data.extra_comparisons = [*recipe.data.extra_comparisons, *args.extra_data]
    if args.max_steps:
        cap_steps(recipe, args.max_steps)
    if args.max_prompts:
        cap_prompts(recipe, args.max_prompts)
    results = pipeline.run(recipe, args.stage, force=args.force, extra_models=args.model)
    print(json.dumps({"run_dir": str(recipe.run_path), "stages": results}, indent=2, default=str))
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m alignment.cli", description="Run an alignment recipe.")
    add_arguments(parser)
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
