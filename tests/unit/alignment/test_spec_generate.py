"""The behaviour-spec generator: determinism, sizes, coverage and train/dev disjointness."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from alignment.spec import CHECKERS, check_params
from alignment.spec.catalog import DEFAULT_SOURCE, Catalog
from alignment.spec.generate import SpecPrompt, generate_split, main

SPEC_DIR = DEFAULT_SOURCE


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return Catalog.load()


@pytest.fixture(scope="module")
def splits(catalog: Catalog) -> dict[str, list[SpecPrompt]]:
    return {"train": generate_split(catalog, "train", 2400, 0), "dev": generate_split(catalog, "dev", 400, 0)}


def _read(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def test_generation_is_deterministic(catalog: Catalog, splits: dict[str, list[SpecPrompt]]) -> None:
    again = generate_split(catalog, "dev", 400, 0)
    assert [p.to_record() for p in again] == [p.to_record() for p in splits["dev"]]
    other_seed = generate_split(catalog, "dev", 400, 1)
    assert [p.to_record() for p in other_seed] != [p.to_record() for p in splits["dev"]]


def test_committed_files_match_seed_zero(splits: dict[str, list[SpecPrompt]]) -> None:
    for split, prompts in splits.items():
        assert _read(SPEC_DIR / f"{split}.jsonl") == [p.to_record() for p in prompts], split


def test_sizes_and_unique_prompts(splits: dict[str, list[SpecPrompt]]) -> None:
    assert len(splits["train"]) >= 2000
    assert len(splits["dev"]) >= 300
    for prompts in splits.values():
        assert len({json.dumps(p.messages) for p in prompts}) == len(prompts)
        assert len({p.id for p in prompts}) == len(prompts)


def test_records_have_the_documented_shape(splits: dict[str, list[SpecPrompt]]) -> None:
    for split, prompts in splits.items():
        for prompt in prompts:
            record = prompt.to_record()
            assert list(record) == ["id", "messages", "checks", "split"]
            assert record["split"] == split
            assert record["messages"][-1]["role"] == "user"
            assert {m["role"] for m in record["messages"]} <= {"system", "user"}
            assert 1 <= len(record["checks"]) <= 3
            for check in record["checks"]:
                check_params(check)  # raises SpecError on an unknown type or bad params


def test_every_instruction_type_appears_in_both_splits(splits: dict[str, list[SpecPrompt]]) -> None:
    for split, prompts in splits.items():
        types = {check["type"] for prompt in prompts for check in prompt.checks}
        assert types == set(CHECKERS), split


def test_prompts_combine_instructions(splits: dict[str, list[SpecPrompt]]) -> None:
    combined = [p for p in splits["train"] if len({c["type"] for c in p.checks}) == 3]
    assert len(combined) >= 100


def test_dev_templates_and_topics_never_seen_in_train(splits: dict[str, list[SpecPrompt]]) -> None:
    train_templates = {t for p in splits["train"] for t in p.templates}
    dev_templates = {t for p in splits["dev"] for t in p.templates}
    train_topics = {t for p in splits["train"] for t in p.topics}
    dev_topics = {t for p in splits["dev"] for t in p.topics}
    assert dev_templates and dev_topics
    assert not train_templates & dev_templates
    assert not train_topics & dev_topics


def _train_dev_lists(node: Any) -> list[tuple[list[Any], list[Any]]]:
    """Every (train, dev) list pair anywhere in a catalog file."""
    if isinstance(node, dict):
        pairs = [(node["train"], node["dev"])] if {"train", "dev"} <= set(node) else []
        return pairs + [pair for value in node.values() for pair in _train_dev_lists(value)]
    return []


@pytest.mark.parametrize("name", ["templates", "topics", "hazards", "grounding", "personas"])
def test_catalog_lists_are_disjoint(catalog: Catalog, name: str) -> None:
    pairs = _train_dev_lists(getattr(catalog, name))
    assert pairs
    for train, dev in pairs:
        as_keys = [{json.dumps(item, sort_keys=True) for item in items} for items in (train, dev)]
        assert not as_keys[0] & as_keys[1]


def test_dev_topics_never_appear_in_train_text(splits: dict[str, list[SpecPrompt]], catalog: Catalog) -> None:
    train_text = "\n".join(m["content"].lower() for p in splits["train"] for m in p.messages)
    leaked = [topic for topic in catalog.topics["dev"] if f" {topic.lower()}" in train_text]
    assert leaked == []


def test_grounding_citations_point_at_the_right_passage(splits: dict[str, list[SpecPrompt]]) -> None:
    for prompt in splits["train"]:
        cite = next((c for c in prompt.checks if c["type"] == "cite_sources"), None)
        if cite is None:
            continue
        words = next(c["words"] for c in prompt.checks if c["type"] == "include_words")
        text = "\n".join(m["content"] for m in prompt.messages)
        for source_id in cite["valid_ids"]:
            line = next(line for line in text.splitlines() if line.startswith(f"[{source_id}] "))
            assert all(word.lower() in line.lower() for word in words), (line, words)


def test_cli_writes_both_files(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    main(["--out", str(tmp_path), "--seed", "3", "--train-size", "120", "--dev-size", "60"])
    assert len(_read(tmp_path / "train.jsonl")) == 120
    assert len(_read(tmp_path / "dev.jsonl")) == 60
    assert "train: 120 prompts" in capsys.readouterr().out


def test_cli_help_describes_options(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["--help"])
    out = capsys.readouterr().out
    assert "--seed" in out and "--out" in out and "dev" in out
