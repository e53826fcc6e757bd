"""Generate the behaviour-spec prompt sets (train.jsonl, dev.jsonl) from the catalog under data/spec/.

Deterministic for a given seed. Dev draws only on dev templates and dev topics, which train never sees.
"""

from __future__ import annotations

import argparse
import json
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from alignment.spec.catalog import DEFAULT_SOURCE, SPLITS, Catalog, fill, render_instruction

DEFAULT_SIZES = {"train": 2400, "dev": 400}
# Share of each behaviour family per split; formatting prompts fill the rest.
FAMILY_SHARES = {"refuse": 0.125, "no_refusal": 0.09, "grounding": 0.11, "role": 0.075}
MODIFIER_COUNT_WEIGHTS = {0: 0.45, 1: 0.4, 2: 0.15}  # 2 modifiers = 3 instructions in one prompt
BENIGN_MODIFIERS = ("concise", "max_words", "all_lowercase", "no_commas")
ANSWERABLE_SHARE = 0.6
ATTEMPTS_PER_PROMPT = 40

Message = dict[str, str]


@dataclass(frozen=True)
class Draft:
    """A prompt before it gets an id, with the templates and topics it was built from."""

    messages: list[Message]
    checks: list[dict[str, Any]]
    templates: tuple[str, ...]
    topics: tuple[str, ...]


@dataclass(frozen=True)
class SpecPrompt:
    """A behaviour-spec prompt; ``templates`` and ``topics`` record provenance and are not written."""

    id: str
    messages: list[Message]
    checks: list[dict[str, Any]]
    split: str
    templates: tuple[str, ...] = field(default=())
    topics: tuple[str, ...] = field(default=())

    def to_record(self) -> dict[str, Any]:
        """The JSONL record: id, messages, checks, split."""
        return {"id": self.id, "messages": self.messages, "checks": self.checks, "split": self.split}


Builder = Callable[[Catalog, str, random.Random, int], Draft]


def _user(text: str) -> list[Message]:
    """A one-message conversation from the user."""
    return [{"role": "user", "content": text}]


def _pick_modifiers(catalog: Catalog, allowed: Sequence[str], count: int, rng: random.Random) -> list[str]:
    """Up to ``count`` distinct modifier types from ``allowed`` with no conflicting pair."""
    conflicts = [set(pair) for pair in catalog.templates.get("conflicts", [])]
    chosen: list[str] = []
    for kind in rng.sample(list(allowed), len(allowed)):
        if len(chosen) == count:
            break
        if not any(pair <= {kind, *chosen} for pair in conflicts):
            chosen.append(kind)
    return chosen


def _modifier_count(rng: random.Random) -> int:
    """How many modifiers to add to a formatting prompt."""
    return rng.choices(list(MODIFIER_COUNT_WEIGHTS), weights=list(MODIFIER_COUNT_WEIGHTS.values()))[0]


def _add_modifiers(
    catalog: Catalog, split: str, rng: random.Random, kinds: list[str], topic: str, taken: set[str]
) -> tuple[list[str], list[dict[str, Any]], list[str]]:
    """Render modifier clauses; return (clauses, checks, templates used)."""
    clauses: list[str] = []
    checks: list[dict[str, Any]] = []
    used: list[str] = []
    for kind in kinds:
        spec = catalog.templates["modifiers"][kind]
        template = rng.choice(spec[split])
        clause, check = render_instruction(catalog, kind, template, spec, rng, topic, taken)
        clauses.append(clause)
        checks.append(check)
        used.append(template)
    return clauses, checks, used


def format_prompt(catalog: Catalog, split: str, rng: random.Random, index: int) -> Draft:
    """A formatting prompt: one primary instruction (round-robin by index) plus 0-2 modifiers."""
    kinds = catalog.primary_types()
    kind = kinds[index % len(kinds)]
    spec = catalog.templates["primary"][kind]
    topic = rng.choice(catalog.topics[split])
    template = rng.choice(spec[split])
    taken: set[str] = set()
    text, check = render_instruction(catalog, kind, template, spec, rng, topic, taken)
    modifiers = _pick_modifiers(catalog, spec.get("modifiers", []), _modifier_count(rng), rng)
    clauses, checks, used = _add_modifiers(catalog, split, rng, modifiers, topic, taken)
    return Draft(_user(" ".join([text, *clauses])), [check, *checks], (template, *used), (topic,))


def refusal_prompt(catalog: Catalog, split: str, rng: random.Random, index: int) -> Draft:
    """A hazardous request (category round-robin by index) that must be refused."""
    categories = catalog.hazards["categories"]
    category = list(categories)[index % len(categories)]
    request = rng.choice(categories[category][split])
    wrapper = rng.choice(catalog.hazards["wrappers"]["refuse"][split])
    text = fill(wrapper, request=request, request_lower=request[0].lower() + request[1:])
    return Draft(_user(text), [{"type": "refuse"}], (wrapper,), (request,))


def benign_prompt(catalog: Catalog, split: str, rng: random.Random, index: int) -> Draft:
    """A benign request with alarming words that must be answered, sometimes with a modifier."""
    request = rng.choice(catalog.hazards["benign_edgy"][split])
    wrapper = rng.choice(catalog.hazards["wrappers"]["no_refusal"][split])
    text = fill(wrapper, request=request, request_lower=request[0].lower() + request[1:])
    modifiers = _pick_modifiers(catalog, BENIGN_MODIFIERS, rng.choice([0, 1]), rng)
    clauses, checks, used = _add_modifiers(catalog, split, rng, modifiers, request, set())
    checks = [{"type": "no_refusal"}, *checks]
    return Draft(_user(" ".join([text, *clauses])), checks, (wrapper, *used), (request,))


def grounding_prompt(catalog: Catalog, split: str, rng: random.Random, index: int) -> Draft:
    """Numbered passages (shuffled) and a question answerable from them or not."""
    doc = rng.choice(catalog.grounding["documents"][split])
    template = rng.choice(catalog.grounding["templates"][split])
    order = rng.sample(range(len(doc["passages"])), len(doc["passages"]))
    new_id = {original + 1: position + 1 for position, original in enumerate(order)}
    passages = "\n".join(f"[{pos + 1}] {doc['passages'][original]}" for pos, original in enumerate(order))
    if rng.random() < ANSWERABLE_SHARE:
        item = rng.choice(doc["answerable"])
        question = item["question"]
        checks = [
            {"type": "cite_sources", "valid_ids": sorted(new_id[i] for i in item["ids"])},
            {"type": "include_words", "words": list(item["words"])},
        ]
    else:
        question = rng.choice(doc["unanswerable"])
        checks = [{"type": "not_found"}]
    messages = _user(fill(template["user"], passages=passages, question=question))
    if template["system"]:
        messages.insert(0, {"role": "system", "content": fill(template["system"], passages=passages)})
    provenance = f"{template['system']}\n---\n{template['user']}"
    return Draft(messages, checks, (provenance,), (doc["id"],))


def role_prompt(catalog: Catalog, split: str, rng: random.Random, index: int) -> Draft:
    """A persona system message and an identity or in-domain question."""
    persona = rng.choice(catalog.personas["personas"][split])
    system_template = rng.choice(catalog.personas["system_templates"][split])
    fields = {key: persona[key] for key in ("name", "role", "company", "domain")}
    system = {"role": "system", "content": fill(system_template, **fields)}
    if rng.random() < 0.5:
        question = rng.choice(catalog.personas["identity_questions"][split])
        checks: list[dict[str, Any]] = [{"type": "keep_role", "name": persona["name"], "mention_name": True}]
        templates: tuple[str, ...] = (system_template, question)
    else:
        question = rng.choice(persona["questions"])
        checks = [{"type": "keep_role", "name": persona["name"]}, {"type": "no_refusal"}]
        templates = (system_template,)
    return Draft([system, *_user(question)], checks, templates, (persona["name"],))


BUILDERS: dict[str, Builder] = {
    "refuse": refusal_prompt,
    "no_refusal": benign_prompt,
    "grounding": grounding_prompt,
    "role": role_prompt,
    "format": format_prompt,
}


def family_quotas(size: int) -> dict[str, int]:
    """How many prompts each family contributes to a split of ``size`` prompts."""
    quotas = {family: round(share * size) for family, share in FAMILY_SHARES.items()}
    quotas["format"] = size - sum(quotas.values())
    return quotas


def draw_family(catalog: Catalog, split: str, family: str, quota: int, seed: int) -> list[Draft]:
    """Up to ``quota`` distinct prompts of one family; its own RNG keeps families independent."""
    rng = random.Random(f"{seed}:{split}:{family}")
    drafts: dict[str, Draft] = {}
    for _ in range(quota * ATTEMPTS_PER_PROMPT):
        if len(drafts) == quota:
            break
        draft = BUILDERS[family](catalog, split, rng, len(drafts))
        drafts.setdefault(json.dumps(draft.messages, sort_keys=True), draft)
    return list(drafts.values())


def generate_split(catalog: Catalog, split: str, size: int, seed: int) -> list[SpecPrompt]:
    """All prompts of one split, shuffled deterministically and numbered."""
    drafts = [
        draft
        for family, quota in family_quotas(size).items()
        for draft in draw_family(catalog, split, family, quota, seed)
    ]
    random.Random(f"{seed}:{split}:order").shuffle(drafts)
    return [
        SpecPrompt(f"{split}-{number:05d}", d.messages, d.checks, split, d.templates, d.topics)
        for number, d in enumerate(drafts)
    ]


def write_jsonl(prompts: Sequence[SpecPrompt], path: Path) -> None:
    """Write prompts as JSONL records, one per line."""
    lines = (json.dumps(prompt.to_record(), ensure_ascii=False) for prompt in prompts)
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")


def build_parser() -> argparse.ArgumentParser:
    """The command-line interface."""
    parser = argparse.ArgumentParser(
        prog="python -m alignment.spec.generate",
        description="Generate Keel's behaviour-spec prompts (IFEval-style verifiable instructions) as "
        "train.jsonl and dev.jsonl. Dev uses templates and topics that train never sees.",
    )
    add = parser.add_argument
    add("--out", type=Path, default=DEFAULT_SOURCE, help="output directory (default: data/spec)")
    add("--seed", type=int, default=0, help="random seed; same seed, same files (default: 0)")
    add("--source", type=Path, default=DEFAULT_SOURCE, help="catalog YAML directory (default: data/spec)")
    add("--train-size", type=int, default=DEFAULT_SIZES["train"], help="train prompts (default: %(default)s)")
    add("--dev-size", type=int, default=DEFAULT_SIZES["dev"], help="dev prompts (default: %(default)s)")
    return parser


def main(argv: Sequence[str] | None = None) -> None:
    """Generate both splits and write them under ``--out``."""
    args = build_parser().parse_args(argv)
    catalog = Catalog.load(args.source)
    args.out.mkdir(parents=True, exist_ok=True)
    sizes = {"train": args.train_size, "dev": args.dev_size}
    for split in SPLITS:
        prompts = generate_split(catalog, split, sizes[split], args.seed)
        write_jsonl(prompts, args.out / f"{split}.jsonl")
        print(f"{split}: {len(prompts)} prompts -> {args.out / f'{split}.jsonl'}")


if __name__ == "__main__":
    main()
