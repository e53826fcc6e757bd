"""Comparisons from best-of-n sampling: the current policy answers each prompt n times, the behaviour-spec
checkers rank the answers, and the best and worst (when they differ) become a chosen/rejected pair.

Golden demonstrations add pairs of (golden answer, worst sample) for their prompts.
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from typing import Any

from alignment.data import Record
from alignment.sampling import Generation, encode_prompt, sample_each
from alignment.spec import score


def check_value(text: str, checks: Sequence[Mapping[str, Any]]) -> float:
    """How well a response follows its checks: strict plus loose pass fraction, in [0, 2]."""
    if not checks:
        return 0.0
    return _pass_fraction(score(text, checks)[2])


def _pass_fraction(results: Sequence[Any]) -> float:
    return (sum(r.strict for r in results) + sum(r.loose for r in results)) / len(results)


def spec_reward(text: str, checks: Sequence[Mapping[str, Any]]) -> float:
    """PPO's checker reward, in [0, 3]: ``check_value`` plus 1 when every check passes strictly.

    Partial credit alone pays a policy to trade a hard check for easy ones (a short answer with no commas
    gets half marks on "a numbered list of 5, no commas"); the bonus pays only for following the whole
    prompt, which is what the eval's prompt-level strict pass rate measures.
    """
    if not checks:
        return 0.0
    strict, _, results = score(text, checks)
    return _pass_fraction(results) + float(strict)


def pick_prompts(
    records: Sequence[Record], count: int, seed: int, tokenizer: Any, max_prompt_tokens: int
) -> list[Record]:
    """A seeded sample of ``count`` prompt records whose templated prompt fits ``max_prompt_tokens``."""
    order = list(records)
    random.Random(seed).shuffle(order)
    picked: list[Record] = []
    for record in order:
        if len(picked) == count:
            break
        if len(encode_prompt(tokenizer, record["messages"])) <= max_prompt_tokens:
            picked.append(record)
    return picked


def _pair(
    prompt: list[dict[str, str]], chosen: str, rejected: str, source: str, meta: dict[str, Any]
) -> Record:
    return {
        "prompt": prompt,
        "chosen": [{"role": "assistant", "content": chosen}],
        "rejected": [{"role": "assistant", "content": rejected}],
        "source": source,
        "meta": meta,
    }


def rank_samples(
    prompts: Sequence[Record], generations: Sequence[Generation], n: int, *, golden: bool = False
) -> list[Record]:
    """Turn n samples per prompt into pairs.

    ``golden`` records carry an ``answer`` (the demonstration), paired with the worst sample instead.
    """
    pairs = []
    for index, record in enumerate(prompts):
        samples = generations[index * n : (index + 1) * n]
        checks = record.get("checks", [])
        ranked = sorted(((check_value(g.text, checks), g.text) for g in samples), key=lambda item: item[0])
        worst_value, worst = ranked[0]
        if golden:
            prompt, answer = list(record["messages"]), record["answer"]
            best_value = check_value(answer, checks)
            if best_value > worst_value and answer != worst:
                meta = {"checks": checks, "chosen_value": best_value, "rejected_value": worst_value, "n": n}
                pairs.append(_pair(prompt, answer, worst, "golden_vs_sample", meta))
            continue
        best_value, best = ranked[-1]
        if best_value > worst_value and best != worst:
            meta = {
                "id": record.get("id"),
                "checks": checks,
                "chosen_value": best_value,
                "rejected_value": worst_value,
                "n": n,
            }
            pairs.append(_pair(list(record["messages"]), best, worst, "best_of_n", meta))
    return pairs


def best_of_n(
    model: Any,
    tokenizer: Any,
    prompts: Sequence[Record],
    *,
    n: int,
    max_new_tokens: int,
    temperature: float,
    batch_size: int,
    golden: bool = False,
    desc: str = "best-of-n",
) -> list[Record]:
    """Sample n responses per prompt from ``model`` and rank them into comparisons."""
    generations = sample_each(
        model,
        tokenizer,
        prompts,
        n=n,
        max_new_tokens=max_new_tokens,
        temperature=temperature,
        batch_size=batch_size,
        desc=desc,
    )
    return rank_samples(prompts, generations, n, golden=golden)
