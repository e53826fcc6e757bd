"""The run report: ``report.json`` (every number), ``report.md`` (tables) and ``report.png`` (pass rate per
instruction type, one bar per model)."""

from __future__ import annotations

import platform
from collections.abc import Sequence
from typing import Any

from alignment.artifacts import RunPaths, read_done
from alignment.data import write_json
from alignment.recipe import STAGES, Recipe

SUMMARY_KEYS = ("prompt_strict", "prompt_loose", "instruction_strict", "instruction_loose")


def _fmt(value: Any, digits: int = 3) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def _model_summary(result: dict[str, Any]) -> dict[str, Any]:
    keys = (
        *SUMMARY_KEYS,
        "rm_mean",
        "rm_win_rate",
        "kl_to_reference",
        "kl_to_base",
        "mean_response_tokens",
        "eos_rate",
    )
    return {key: result.get(key) for key in keys} | {"per_type": result["per_type"]}


def write(
    recipe: Recipe, paths: RunPaths, results: dict[str, dict[str, Any]], prompt_ids: Sequence[Any]
) -> dict[str, Any]:
    """Write the three report files; returns the summary of the best-trained model evaluated."""
    stages = {stage: read_done(paths.stage_dir(stage)) for stage in STAGES}
    stage_seconds = {
        stage: {"wall": done.get("wall_seconds"), "cpu": done.get("cpu_seconds")}
        for stage, done in stages.items()
        if done
    }
    timing = ("wall_seconds", "cpu_seconds")
    document = {
        "run": recipe.name,
        "model": recipe.model,
        "recipe": recipe.source,
        "recipe_sha256": recipe.sha256(),
        "dev_prompts": len(prompt_ids),
        "dev_prompt_ids": list(prompt_ids),
        "baseline": recipe.eval.baseline,
        "models": {name: _model_summary(result) for name, result in results.items()},
        "reward_model": {
            k: stages["reward"].get(k)
            for k in ("heldout_accuracy", "train_accuracy", "heldout_pairs", "train_pairs")
        },
        "ppo": {k: v for k, v in stages["ppo"].items() if k not in timing},
        "dpo": {k: v for k, v in stages["dpo"].items() if k not in timing},
        "stage_seconds": stage_seconds,
        "machine": {"platform": platform.platform(), "processor": platform.processor() or platform.machine()},
    }
    write_json(paths.report_json, document)
    _chart(paths, results)
    paths.report_md.write_text(_markdown(document, paths), encoding="utf-8")
    final = next(
        (results[n] for n in ("ppo", "dpo", "sft", "base") if n in results), next(iter(results.values()))
    )
    return _model_summary(final)


def _markdown(doc: dict[str, Any], paths: RunPaths) -> str:
    lines = [
        f"# Alignment report: `{doc['run']}`",
        "",
        f"Base model `{doc['model']}`, recipe `{doc['recipe']}` (sha256 `{doc['recipe_sha256'][:12]}`), "
        f"{doc['dev_prompts']} behaviour-spec dev prompts (templates and topics unseen in training), "
        "greedy decoding.",
        "",
        "## Behaviour-spec pass rate (dev)",
        "",
        "| model | prompt strict | prompt loose | instr. strict | instr. loose | RM score | RM win rate vs "
        f"{doc['baseline']} | KL to reference | KL to base | mean tokens |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for name, m in doc["models"].items():
        lines.append(
            f"| {name} | {_fmt(m['prompt_strict'])} | {_fmt(m['prompt_loose'])} "
            f"| {_fmt(m['instruction_strict'])} "
            f"| {_fmt(m['instruction_loose'])} | {_fmt(m['rm_mean'])} | {_fmt(m['rm_win_rate'])} "
            f"| {_fmt(m['kl_to_reference'])} | {_fmt(m['kl_to_base'])} "
            f"| {_fmt(m['mean_response_tokens'], 1)} |"
        )
    lines += [
        "",
        "KL: exact per-token KL summed over each greedy dev response, averaged over prompts (nats); the "
        "reference is the model a stage trained against (base for SFT, the SFT model for PPO and DPO).",
        "",
        f"![pass rate per instruction type]({paths.chart.name})",
        "",
        "## Per instruction type (strict pass rate)",
        "",
    ]
    names = list(doc["models"])
    types = sorted({t for m in doc["models"].values() for t in m["per_type"]})
    lines += ["| type | n | " + " | ".join(names) + " |", "|---|---|" + "---|" * len(names)]
    for kind in types:
        count = next(
            (m["per_type"][kind]["count"] for m in doc["models"].values() if kind in m["per_type"]), 0
        )
        cells = [_fmt(doc["models"][n]["per_type"].get(kind, {}).get("strict")) for n in names]
        lines.append(f"| {kind} | {count} | " + " | ".join(cells) + " |")
    rm = doc["reward_model"]
    lines += [
        "",
        "## Reward model",
        "",
        f"Held-out pairwise accuracy {_fmt(rm['heldout_accuracy'])} on {_fmt(rm['heldout_pairs'])} pairs "
        f"(train accuracy {_fmt(rm['train_accuracy'])} on {_fmt(rm['train_pairs'])} pairs).",
        "",
    ]
    if doc["ppo"]:
        p = doc["ppo"]
        lines += [
            "## PPO",
            "",
            f"{_fmt(p.get('steps'))} steps ({_fmt(p.get('episodes'))} episodes, "
            f"reward: {p.get('reward_source')}); mean reward {_fmt(p.get('reward_first'))} (first quarter) "
            f"→ {_fmt(p.get('reward_last'))} (last quarter), "
            f"KL {_fmt(p.get('kl_last'))} nats, final KL coefficient {_fmt(p.get('kl_coef_last'), 4)}. "
            "Per-step log: `ppo/log.jsonl`.",
            "",
        ]
    lines += [
        "## Wall time per stage",
        "",
        "CPU seconds count every thread; wall time well above CPU seconds / threads means a shared machine.",
        "",
        "| stage | wall seconds | CPU seconds |",
        "|---|---|---|",
    ]
    lines += [
        f"| {stage} | {_fmt(seconds['wall'], 1)} | {_fmt(seconds['cpu'], 1)} |"
        for stage, seconds in doc["stage_seconds"].items()
    ]
    lines += ["", f"Machine: {doc['machine']['platform']}.", ""]
    return "\n".join(lines)


def _chart(paths: RunPaths, results: dict[str, dict[str, Any]]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(results)
    types = sorted({t for r in results.values() for t in r["per_type"]})
    groups = ["ALL (prompt)", *types]
    width = 0.8 / max(len(names), 1)
    fig, ax = plt.subplots(figsize=(max(8, 0.6 * len(groups) * max(len(names), 1) / 2 + 4), 4.5))
    for i, name in enumerate(names):
        values = [results[name]["prompt_strict"]] + [
            results[name]["per_type"].get(t, {}).get("strict", 0.0) for t in types
        ]
        ax.bar([g + i * width for g in range(len(groups))], values, width, label=name)
    ax.set_xticks([g + width * (len(names) - 1) / 2 for g in range(len(groups))])
    ax.set_xticklabels(groups, rotation=60, ha="right", fontsize=8)
    ax.set_ylim(0, 1)
    ax.set_ylabel("strict pass rate (dev)")
    ax.set_title("Behaviour-spec pass rate per instruction type")
    ax.legend()
    fig.tight_layout()
    fig.savefig(paths.chart, dpi=110)
    plt.close(fig)
