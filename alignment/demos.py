"""Demonstrations by rejection sampling with repair: the base policy answers behaviour-spec train prompts,
each answer is reshaped to the prompt's formatting checks (``alignment.spec.repair``) and kept only if it
then passes every check strictly. SFT trains on these beside the golden demonstrations.

The content is the model's own; only its form is rewritten, so SFT teaches form without pulling the model
towards text it would not write. Prompts the base model cannot answer acceptably (it complies with
hazardous requests: ``refuse`` prompts) yield nothing; their demonstrations are the golden ones.
"""

from __future__ import annotations

import logging
import random
import re
from collections.abc import Callable, Sequence
from typing import Any

from alignment.comparisons import pick_prompts
from alignment.data import Record, prompt_key
from alignment.sampling import sample_each
from alignment.spec.catalog import Catalog
from alignment.spec.format_checks import count_words
from alignment.spec.repair import REPAIRERS, repair
from alignment.spec.scoring import score

log = logging.getLogger(__name__)


def topic_of(text: str, topics: Sequence[str]) -> str:
    """The longest catalog topic named in ``text`` (the subject a title or JSON "topic" field names)."""
    named = [t for t in topics if re.search(r"(?<!\w)" + re.escape(t) + r"(?!\w)", text, re.IGNORECASE)]
    return max(named, key=len) if named else "the topic"


def complete_sentences(text: str) -> str:
    """A response cut off at the token limit, up to the end of its last whole sentence ("" if none)."""
    ends = [m.end() for m in re.finditer(r"[.!?](?=\s|$)", text)]
    return text[: ends[-1]] if ends else ""


def pick(
    records: Sequence[Record],
    count: int,
    *,
    seed: int,
    tokenizer: Any,
    max_prompt_tokens: int,
    exclude: set[str],
) -> list[Record]:
    """A seeded sample of prompts that fit, are not golden prompts, and ask for something sampling can
    give (a ``refuse`` check needs a refusal the base model does not write)."""
    usable = [
        record
        for record in records
        if prompt_key(record["messages"]) not in exclude
        and not any(check["type"] == "refuse" for check in record.get("checks", []))
    ]
    return pick_prompts(usable, count, seed, tokenizer, max_prompt_tokens)


def build(
    model: Any,
    tokenizer: Any,
    prompts: Sequence[Record],
    *,
    samples: int,
    max_new_tokens: int,
    temperature: float,
    batch_size: int,
    min_words: int = 15,
    catalog: Catalog | None = None,
) -> tuple[list[Record], dict[str, Any]]:
    """One demonstration per prompt that any of its ``samples`` answers yields; and counts of how."""
    topics = [t for split in (catalog or Catalog.load()).topics.values() for t in split]
    generations = sample_each(
        model,
        tokenizer,
        prompts,
        n=samples,
        max_new_tokens=max_new_tokens,
        temperature=temperature,
        batch_size=batch_size,
        desc="demonstrations",
    )
    demos: list[Record] = []
    passed_as_sampled = repaired = 0
    for index, record in enumerate(prompts):
        checks = record.get("checks", [])
        topic = topic_of(record["messages"][-1]["content"], topics)
        for generation in generations[index * samples : (index + 1) * samples]:
            text = generation.text if generation.finished else complete_sentences(generation.text)
            if count_words(text) < min_words:
                continue
            fixed = repair(text, checks, topic)
            if fixed is None:
                continue
            if fixed == text:
                passed_as_sampled += 1
            else:
                repaired += 1
            demos.append(
                {
                    "messages": [*record["messages"], {"role": "assistant", "content": fixed}],
                    "source": "repaired_sample" if fixed != text else "sample",
                    "checks": checks,
                }
            )
            break
    stats = {
        "prompts": len(prompts),
        "kept": len(demos),
        "passed_as_sampled": passed_as_sampled,
        "repaired": repaired,
    }
    log.info("demonstrations from sampling: %s", stats)
    return demos, stats


CASE_TYPES = ("all_lowercase", "all_uppercase")
# Demonstrations whose answer a change of case would spoil: refusals, grounded answers and personas keep
# their wording; JSON keys and quoted phrases are case-sensitive; a case already asked for stays.
_NOT_RECAST = {"refuse", "not_found", "cite_sources", "keep_role", "json_only", "starts_with", "ends_with", *CASE_TYPES}


def case_variants(
    demos: Sequence[Record],
    count: int,
    *,
    seed: int,
    fits: Callable[[Record], bool] = lambda _: True,
    catalog: Catalog | None = None,
) -> list[Record]:
    """Up to ``count`` demonstrations recast to one case: a train phrasing of the all-lowercase or
    all-uppercase instruction is appended to the prompt and the answer is lowercased or uppercased.

    A case instruction composes with most others, and the case of an answer is pure form, so this is the
    same change of form a repair makes (``alignment.spec.repair``). A variant is kept only if the recast
    answer passes every check of the new prompt strictly and ``fits`` (uppercase text takes more tokens).
    Lowercase and uppercase alternate.
    """
    catalog = catalog or Catalog.load()
    rng = random.Random(seed)
    candidates = [
        demo
        for demo in demos
        if [m["role"] for m in demo["messages"]] == ["user", "assistant"]
        and not any(c["type"] in _NOT_RECAST for c in demo.get("checks", []))
    ]
    variants: list[Record] = []
    for demo in rng.sample(candidates, len(candidates)):
        if len(variants) == count:
            break
        kind = CASE_TYPES[len(variants) % 2]
        clause = rng.choice(catalog.templates["modifiers"][kind]["train"])
        prompt, answer = demo["messages"][0]["content"], demo["messages"][1]["content"]
        recast = REPAIRERS[kind](answer, topic="")  # the repairer for that case (lower() / upper())
        checks = [*demo.get("checks", []), {"type": kind}]
        variant = {
            "messages": [{"role": "user", "content": f"{prompt} {clause}"}, {"role": "assistant", "content": recast}],
            "source": "case_variant",
            "checks": checks,
        }
        if score(recast, checks)[0] and fits(variant):
            variants.append(variant)
    log.info("case variants: %d of %d asked (%d candidates)", len(variants), count, len(candidates))
    return variants
