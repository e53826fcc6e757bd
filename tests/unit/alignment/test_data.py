"""Comparison/demonstration records, held-out splits and atomic JSONL writes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from alignment.data import (
    DataError,
    load_comparisons,
    read_jsonl,
    split_heldout,
    validate_comparison,
    validate_demonstration,
    write_jsonl,
)


def comparison(prompt="hi", chosen="good", rejected="bad", **extra):
    return {
        "prompt": [{"role": "user", "content": prompt}],
        "chosen": [{"role": "assistant", "content": chosen}],
        "rejected": [{"role": "assistant", "content": rejected}],
        **extra,
    }


def test_review_queue_comparison_is_accepted_and_defaults_filled():
    record = validate_comparison(comparison(source="review", meta={"item": 7}))
    assert record["source"] == "review" and record["meta"] == {"item": 7}
    assert validate_comparison(comparison())["source"] == "unknown"


@pytest.mark.parametrize(
    "record",
    [
        comparison(chosen="same", rejected="same"),
        {**comparison(), "chosen": [{"role": "user", "content": "x"}]},
        {**comparison(), "prompt": [{"role": "assistant", "content": "x"}]},
        {**comparison(), "rejected": []},
        {
            **comparison(),
            "chosen": [{"role": "assistant", "content": "a"}, {"role": "assistant", "content": "b"}],
        },
        {"prompt": [{"role": "user", "content": "x"}]},
    ],
)
def test_malformed_comparisons_raise(record):
    with pytest.raises(DataError):
        validate_comparison(record)


def test_demonstration_must_end_with_the_assistant():
    validate_demonstration(
        {"messages": [{"role": "user", "content": "q"}, {"role": "assistant", "content": "a"}]}
    )
    with pytest.raises(DataError):
        validate_demonstration({"messages": [{"role": "user", "content": "q"}]})


def test_load_comparisons_names_the_bad_line(tmp_path: Path):
    path = tmp_path / "extra.jsonl"
    path.write_text(json.dumps(comparison()) + "\n" + json.dumps(comparison(chosen="x", rejected="x")) + "\n")
    with pytest.raises(DataError, match=r"extra.jsonl\[1\]"):
        load_comparisons([path])


def test_split_is_deterministic_and_keeps_a_prompts_pairs_together():
    records = [comparison(prompt=f"p{i % 10}", chosen=f"c{i}", rejected=f"r{i}") for i in range(40)]
    train, heldout = split_heldout(records, 0.3, seed=1)
    assert (train, heldout) == split_heldout(records, 0.3, seed=1)
    assert len(train) + len(heldout) == 40 and heldout
    held_prompts = {r["prompt"][0]["content"] for r in heldout}
    assert not held_prompts & {r["prompt"][0]["content"] for r in train}


def test_split_borrows_a_prompt_when_nothing_is_held_out_and_none_when_fraction_is_zero():
    records = [comparison(prompt="only", chosen=f"c{i}", rejected=f"r{i}") for i in range(2)] + [
        comparison(prompt="two")
    ]
    train, heldout = split_heldout(records, 1e-9)
    assert train and heldout
    assert split_heldout(records, 0.0) == (records, [])


def test_jsonl_round_trip(tmp_path: Path):
    path = tmp_path / "sub" / "x.jsonl"
    write_jsonl(path, [{"a": 1}, {"b": "é"}])
    assert read_jsonl(path) == [{"a": 1}, {"b": "é"}]
    assert not [p for p in path.parent.iterdir() if p.name.startswith(".")]  # no temp file left
