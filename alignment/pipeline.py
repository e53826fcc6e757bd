"""Run a recipe's stages in order, skipping the ones whose artifacts exist (unless forced).

Stages: sft → reward (sample comparisons, train RM) → ppo → dpo → eval → export. Each writes its
artifacts under ``runs/<run>/<stage>/`` and a ``DONE.json`` with its metrics and wall time last; the
training stages also checkpoint as they go, so an interrupted stage resumes where it stopped.
"""

from __future__ import annotations

import gc
import importlib
import logging
import resource
import time
from collections.abc import Sequence
from typing import Any

import yaml

from alignment import distributed, models
from alignment.artifacts import RunPaths, clear, is_done, mark_done, read_done
from alignment.recipe import STAGES, Recipe

log = logging.getLogger(__name__)

RUNNERS = {
    "sft": "alignment.sft",
    "reward": "alignment.reward",
    "ppo": "alignment.ppo.stage",
    "dpo": "alignment.dpo",
    "eval": "alignment.eval",
    "export": "alignment.export",
}
# Stages that run on the main process only under `accelerate launch` (the TRL stages run everywhere).
MAIN_ONLY = ("ppo", "eval", "export")
# What a forced stage invalidates downstream (their results would describe stale models).
DOWNSTREAM = {
    "sft": ("reward", "ppo", "dpo", "eval", "export"),
    "reward": ("ppo", "dpo", "eval", "export"),
    "ppo": ("export",),
    "dpo": ("export",),
    "eval": ("export",),
    "export": (),
}


def run(
    recipe: Recipe,
    stage: str = "all",
    *,
    force: bool = False,
    extra_models: Sequence[str] = (),
) -> dict[str, dict[str, Any]]:
    """Run one stage or the recipe's ``stages`` list; returns each stage's metrics."""
    if stage != "all" and stage not in STAGES:
        raise ValueError(f"unknown stage {stage!r}; choose from {', '.join(STAGES)} or all")
    stages = list(recipe.stages) if stage == "all" else [stage]
    paths = RunPaths(recipe.run_path)
    if distributed.is_main():
        paths.root.mkdir(parents=True, exist_ok=True)
        (paths.root / "recipe.yaml").write_text(yaml.safe_dump(recipe.to_dict(), sort_keys=False))
    distributed.wait()
    models.configure_torch(recipe.seed, recipe.threads)
    results: dict[str, dict[str, Any]] = {}
    for name in stages:
        stage_dir = paths.stage_dir(name)
        if force and distributed.is_main():
            clear(stage_dir)
            for downstream in DOWNSTREAM[name]:
                if downstream not in stages and is_done(paths.stage_dir(downstream)):
                    log.warning("%s is now stale (it used the old %s); rerun it", downstream, name)
        distributed.wait()
        if name != "eval" and is_done(stage_dir):
            log.info("stage %s: done already (%s), skipping; --force reruns it", name, stage_dir)
            results[name] = read_done(stage_dir)
            continue
        if name in MAIN_ONLY and not distributed.is_main():
            distributed.wait()  # the main process runs this stage
            results[name] = read_done(stage_dir)
            continue
        log.info("stage %s: starting", name)
        started, cpu_started = time.perf_counter(), time.process_time()
        module = importlib.import_module(RUNNERS[name])
        metrics = module.run(recipe, paths, extra_models) if name == "eval" else module.run(recipe, paths)
        metrics["wall_seconds"] = round(time.perf_counter() - started, 1)
        # CPU seconds (all threads) do not depend on what else the machine runs: wall / CPU shows contention.
        metrics["cpu_seconds"] = round(time.process_time() - cpu_started, 1)
        metrics["peak_rss_mb"] = (
            resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024
        )  # process peak so far
        if distributed.is_main():
            mark_done(stage_dir, metrics)
        if name in MAIN_ONLY:
            distributed.wait()
        log.info("stage %s: done in %.1f s: %s", name, metrics["wall_seconds"], _brief(metrics))
        results[name] = metrics
        gc.collect()  # the next stage loads its own models
    return results


def _brief(metrics: dict[str, Any]) -> str:
    return ", ".join(
        f"{k}={v:.3f}" if isinstance(v, float) else f"{k}={v}"
        for k, v in metrics.items()
        if not isinstance(v, dict | list)
    )
