"""Export the aligned policy as a standard Hugging Face model directory plus ``manifest.json``.

The adapters are merged into the base weights (safetensors), the base tokenizer and its own chat
template are saved alongside, so ``keel serve --model runs/<run>/export`` (or vLLM) loads it as-is.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import importlib.metadata
import json
import logging
import shutil
from pathlib import Path
from typing import Any

from alignment import models, registry
from alignment.artifacts import RunPaths
from alignment.data import file_sha256, write_json
from alignment.recipe import REPO_ROOT, Recipe, resolve_path

log = logging.getLogger(__name__)
FALLBACK = ("ppo", "dpo", "sft")
MANIFEST = "manifest.json"


def chosen_policy(recipe: Recipe, paths: RunPaths) -> tuple[str, Path]:
    """The recipe's export policy, or the next trained one along ppo → dpo → sft."""
    order = [recipe.export.policy, *[p for p in FALLBACK if p != recipe.export.policy]]
    for name in order:
        adapter = paths.policy_adapter(name)
        if adapter is not None:
            if name != recipe.export.policy:
                log.warning("no %s adapter; exporting %s instead", recipe.export.policy, name)
            return name, adapter
    raise FileNotFoundError(f"no trained policy under {paths.root}: run sft (and ppo) first")


def data_hashes(recipe: Recipe, paths: RunPaths) -> dict[str, str]:
    """sha256 of every data file the run consumed (inputs and the sampled comparisons)."""
    files = [
        recipe.data.train_prompts,
        recipe.data.dev_prompts,
        *recipe.data.demonstrations,
        *recipe.data.extra_comparisons,
    ]
    hashes = {str(f): file_sha256(resolve_path(f)) for f in files if resolve_path(f).is_file()}
    if paths.comparisons.is_file():
        hashes[_display(paths.comparisons)] = file_sha256(paths.comparisons)
    return hashes


def _display(path: Path) -> str:
    """A path relative to the repository when it lies inside it."""
    try:
        return str(path.resolve().relative_to(REPO_ROOT))
    except ValueError:
        return str(path)


def _versions() -> dict[str, str]:
    out = {}
    for package in ("torch", "transformers", "trl", "peft", "accelerate"):
        with contextlib.suppress(importlib.metadata.PackageNotFoundError):
            out[package] = importlib.metadata.version(package)
    return out


def manifest(recipe: Recipe, paths: RunPaths, policy: str, adapter: Path) -> dict[str, Any]:
    lineage = models.Lineage.read(adapter)
    report = json.loads(paths.report_json.read_text()) if paths.report_json.is_file() else {}
    base_dir = registry.resolve(recipe.model)
    base_weights = base_dir / "model.safetensors"
    return {
        "format": "keel-export/1",
        "created": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "run": recipe.name,
        "base_model": recipe.model,
        "base_model_sha256": file_sha256(base_weights) if base_weights.is_file() else None,
        "policy": policy,
        "adapters": {
            _display(p): file_sha256(p / "adapter_model.safetensors")
            for p in (*lineage.merged, adapter.resolve())
        },
        "recipe": {"path": recipe.source, "sha256": recipe.sha256(), "settings": recipe.to_dict()},
        "data": data_hashes(recipe, paths),
        "eval": {
            "dev_prompts": report.get("dev_prompts"),
            "models": report.get("models", {}),
            "reward_model": report.get("reward_model"),
        },
        "versions": _versions(),
    }


def run(recipe: Recipe, paths: RunPaths) -> dict[str, Any]:
    """Merge, save and describe the policy; the directory is swapped in atomically."""
    import torch

    policy, adapter = chosen_policy(recipe, paths)
    model: Any = models.merged_policy(adapter, torch.float32)
    model = model.to(dtype=getattr(torch, recipe.export.dtype))
    model.config.name_or_path = f"keel/{recipe.name}"
    tokenizer = models.load_tokenizer(recipe.model)  # the model's own chat template, not the training one
    target = paths.export
    tmp = target.with_name(target.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    model.save_pretrained(str(tmp), safe_serialization=True)
    tokenizer.save_pretrained(str(tmp))
    document = manifest(recipe, paths, policy, adapter)
    write_json(tmp / MANIFEST, document)
    shutil.rmtree(target, ignore_errors=True)
    tmp.rename(target)
    return {"policy": policy, "path": str(target), "files": sorted(p.name for p in target.iterdir())}
