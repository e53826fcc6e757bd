"""Golden demonstrations: format, coverage, length, train-only prompts, and every answer passes its checks."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from alignment.spec import CHECKERS, check_params, score
from alignment.spec.catalog import DEFAULT_SOURCE, Catalog
from alignment.spec.format_checks import count_words

GOLDEN = DEFAULT_SOURCE.parent / "golden" / "demonstrations.jsonl"
MAX_ANSWER_WORDS = 120


def _read(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


DEMOS = _read(GOLDEN)


def test_at_least_150_demonstrations_covering_every_type() -> None:
    assert len(DEMOS) >= 150
    types = {check["type"] for demo in DEMOS for check in demo["checks"]}
    assert types == set(CHECKERS)


def test_demonstration_format() -> None:
    for demo in DEMOS:
        assert set(demo) == {"messages", "source", "checks"}
        assert demo["source"] == "golden"
        roles = [message["role"] for message in demo["messages"]]
        assert roles in (["user", "assistant"], ["system", "user", "assistant"])
        assert all(isinstance(message["content"], str) and message["content"] for message in demo["messages"])
        for check in demo["checks"]:
            check_params(check)


@pytest.mark.parametrize("demo", DEMOS, ids=lambda demo: demo["messages"][-2]["content"][:60])
def test_golden_answer_passes_its_checks_strictly(demo: dict[str, Any]) -> None:
    answer = demo["messages"][-1]["content"]
    strict, _, results = score(answer, demo["checks"])
    assert strict, [result for result in results if not result.strict]
    assert count_words(answer) <= MAX_ANSWER_WORDS


def test_prompts_are_train_prompts_never_dev() -> None:
    train = {json.dumps(record["messages"]) for record in _read(DEFAULT_SOURCE / "train.jsonl")}
    dev_topics = [topic.lower() for topic in Catalog.load().topics["dev"]]
    for demo in DEMOS:
        prompt = demo["messages"][:-1]
        assert json.dumps(prompt) in train
        text = " ".join(message["content"].lower() for message in prompt)
        assert not [topic for topic in dev_topics if f" {topic}" in text]


def test_prompts_are_distinct() -> None:
    prompts = [json.dumps(demo["messages"][:-1]) for demo in DEMOS]
    assert len(set(prompts)) == len(prompts)
