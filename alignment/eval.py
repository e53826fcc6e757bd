"""Evaluate policies: behaviour-spec pass rates on dev, reward-model win rate, KL to reference and base.

Each model answers the same dev prompts greedily. Pass rates are IFEval's (prompt/instruction level,
strict/loose) plus a per-instruction-type breakdown. KL is exact per token (the full next-token
distributions), summed over each greedy response and averaged over prompts; the reference is the
model a stage trained against (base for SFT, the SFT model for PPO and DPO). Per-model results are
cached under ``eval/`` so an interrupted evaluation resumes.
"""

from __future__ import annotations

import gc
import hashlib
import json
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from alignment import models
from alignment.artifacts import RunPaths
from alignment.data import Record, file_sha256, read_jsonl, write_json
from alignment.recipe import Recipe, resolve_path
from alignment.reward import RewardScorer
from alignment.sampling import Generation, batch_from_generations, encode_prompt, generate, response_logits
from alignment.spec import score, summarize

log = logging.getLogger(__name__)
KL_BATCH = 4


def dev_prompts(recipe: Recipe, tokenizer: Any) -> list[Record]:
    """The first ``eval.prompts`` dev prompts that fit the prompt budget (the same set for every model)."""
    records = read_jsonl(resolve_path(recipe.data.dev_prompts))
    fitting = [
        r for r in records if len(encode_prompt(tokenizer, r["messages"])) <= recipe.data.max_prompt_tokens
    ]
    return fitting[: recipe.eval.prompts] if recipe.eval.prompts else fitting


def spec_metrics(texts: Sequence[str], prompts: Sequence[Record]) -> dict[str, Any]:
    """IFEval's four accuracies plus strict/loose pass rates per instruction type."""
    scores = [score(text, prompt["checks"]) for text, prompt in zip(texts, prompts, strict=True)]
    per_type: dict[str, dict[str, float]] = {}
    for _, _, results in scores:
        for result in results:
            entry = per_type.setdefault(result.type, {"strict": 0.0, "loose": 0.0, "count": 0})
            entry["strict"] += result.strict
            entry["loose"] += result.loose
            entry["count"] += 1
    for entry in per_type.values():
        entry["strict"] /= entry["count"]
        entry["loose"] /= entry["count"]
    return {**summarize(scores), "per_type": dict(sorted(per_type.items())), "passed": [s[0] for s in scores]}


@torch.no_grad()
def response_kl(policy: Any, reference: Any | None, generations: Sequence[Generation], pad_id: int) -> float:
    """Mean over responses of sum_t KL(policy(.|s_t) || reference(.|s_t)) along each response.

    ``reference=None`` means the policy with its adapter disabled.
    """
    total, count = 0.0, 0
    for start in range(0, len(generations), KL_BATCH):
        batch = batch_from_generations(generations[start : start + KL_BATCH], pad_id)
        logp = torch.log_softmax(response_logits(policy, batch), dim=-1)
        if reference is None:
            with policy.disable_adapter():
                logq = torch.log_softmax(response_logits(policy, batch), dim=-1)
        else:
            logq = torch.log_softmax(response_logits(reference, batch), dim=-1)
        per_token = (logp.exp() * (logp - logq)).sum(dim=-1) * batch.response_mask.to(logp.device)
        total += per_token.sum().item()
        count += len(batch.responses)
    return total / max(count, 1)


def evaluate_policy(
    recipe: Recipe, name: str, path: str, prompts: Sequence[Record], tokenizer: Any
) -> dict[str, Any]:
    """Generate greedily on the dev prompts and compute spec metrics and KL for one model."""
    dtype = models.dtype_for(recipe.bf16)
    policy, lineage = models.load_policy(path, dtype)
    policy.eval()
    generations = generate(
        policy,
        tokenizer,
        [p["messages"] for p in prompts],
        max_new_tokens=recipe.eval.max_new_tokens,
        temperature=0.0,
        batch_size=recipe.eval.batch_size,
        desc=f"eval {name}",
    )
    texts = [g.text for g in generations]
    result: dict[str, Any] = {"name": name, "path": str(path), "prompts": len(prompts)}
    result.update(spec_metrics(texts, prompts))
    result["mean_response_tokens"] = sum(len(g.response_ids) for g in generations) / max(len(generations), 1)
    result["eos_rate"] = sum(g.finished for g in generations) / max(len(generations), 1)
    pad_id = tokenizer.pad_token_id
    if lineage is not None:
        result["kl_to_reference"] = response_kl(policy, None, generations, pad_id)
        if lineage.merged:
            base = models.load_causal_lm(lineage.base, dtype)
            result["kl_to_base"] = response_kl(policy, base, generations, pad_id)
            del base
        else:
            result["kl_to_base"] = result["kl_to_reference"]
    elif str(path) == recipe.model:
        result["kl_to_reference"] = result["kl_to_base"] = 0.0
    else:
        base = models.load_causal_lm(recipe.model, dtype)
        result["kl_to_reference"] = result["kl_to_base"] = response_kl(policy, base, generations, pad_id)
        del base
    result["responses"] = texts
    del policy
    gc.collect()
    return result


def add_reward_metrics(
    results: dict[str, dict[str, Any]], prompts: Sequence[Record], scorer: Any, baseline: str
) -> None:
    """Mean RM score per model and win rate against ``baseline`` (ties count half)."""
    scores = {}
    for name, result in results.items():
        conversations = [
            [*p["messages"], {"role": "assistant", "content": text}]
            for p, text in zip(prompts, result["responses"], strict=True)
        ]
        scores[name] = scorer.score(conversations)
        result["rm_mean"] = scores[name].mean().item()
    if baseline not in scores:
        return
    for name, result in results.items():
        wins = (scores[name] > scores[baseline]).float() + 0.5 * (scores[name] == scores[baseline]).float()
        result["rm_win_rate"] = wins.mean().item()
        result["rm_baseline"] = baseline


def model_paths(recipe: Recipe, paths: RunPaths, extra: Sequence[str] = ()) -> dict[str, str]:
    """Name -> model path for the recipe's eval models that exist, plus any ``--model`` paths."""
    available: dict[str, str] = {}
    for name in recipe.eval.models:
        if name == "base":
            available[name] = recipe.model
        elif (adapter := paths.policy_adapter(name)) is not None:
            available[name] = str(adapter)
    for path in extra:
        resolved = Path(path)
        available[resolved.parent.name + "-export" if resolved.name == "export" else resolved.name] = path
    return available


def fingerprint(path: str, prompts: Sequence[Record], recipe: Recipe) -> str:
    """Identifies an evaluation: model weights (file hash, else the name), prompt set, generation length."""
    files = [Path(path) / name for name in ("adapter_model.safetensors", "model.safetensors")]
    model = next((file_sha256(f) for f in files if f.is_file()), str(path))
    ids = ",".join(str(p.get("id")) for p in prompts)
    return hashlib.sha256(f"{model}|{ids}|{recipe.eval.max_new_tokens}".encode()).hexdigest()


def run(recipe: Recipe, paths: RunPaths, extra_models: Sequence[str] = ()) -> dict[str, Any]:
    """Evaluate every available model, then write report.md, report.json and the chart."""
    from alignment import report

    tokenizer = models.load_tokenizer(recipe.model)
    prompts = dev_prompts(recipe, tokenizer)
    cache_dir = paths.stage_dir("eval")
    results: dict[str, dict[str, Any]] = {}
    for name, path in model_paths(recipe, paths, extra_models).items():
        cached = cache_dir / f"{name}.json"
        key = fingerprint(path, prompts, recipe)
        if cached.is_file() and json.loads(cached.read_text()).get("fingerprint") == key:
            results[name] = json.loads(cached.read_text())
            continue
        log.info("evaluating %s (%s) on %d dev prompts", name, path, len(prompts))
        results[name] = {**evaluate_policy(recipe, name, path, prompts, tokenizer), "fingerprint": key}
        write_json(cached, results[name])
    if (paths.reward_adapter / "adapter_config.json").is_file():
        add_reward_metrics(results, prompts, RewardScorer.load(paths.reward_adapter), recipe.eval.baseline)
    for name, result in results.items():
        write_json(cache_dir / f"{name}.json", result)
    summary = report.write(recipe, paths, results, [p.get("id") for p in prompts])
    return {"models": list(results), "dev_prompts": len(prompts), "prompt_strict": summary["prompt_strict"]}
