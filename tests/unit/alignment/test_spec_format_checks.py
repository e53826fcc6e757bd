"""Formatting checkers: fixed passing and failing responses for each instruction type."""

from __future__ import annotations

from typing import Any

import pytest

from alignment.spec import run_check
from alignment.spec.format_checks import count_words, split_sentences

SCHEMA = {
    "type": "object",
    "required": ["topic", "facts"],
    "properties": {"topic": {"type": "string"}, "facts": {"type": "array", "minItems": 2, "maxItems": 2}},
}

PASSING: list[tuple[dict[str, Any], str]] = [
    ({"type": "bullet_count", "n": 3}, "- one\n- two\n- three"),
    ({"type": "bullet_count", "n": 3}, "* one\n• two\n  - three"),
    ({"type": "bullet_count", "n": 2}, "Facts:\n- bees dance\n- bees sting\n\nThat is all."),
    ({"type": "numbered_list_count", "n": 2}, "1. Boil water.\n2) Add tea."),
    ({"type": "max_sentences", "n": 2}, "Dr. Lee measured 3.5 liters, e.g. in a jug. That is it!"),
    ({"type": "max_words", "n": 5}, "Tea is a hot drink."),
    ({"type": "min_words", "n": 4}, "Tea is very old."),
    ({"type": "concise", "n": 40}, "Coffee is a brewed drink made from roasted beans."),
    ({"type": "concise"}, "Short and sweet."),
    ({"type": "paragraph_count", "n": 2}, "First paragraph here.\n\nSecond paragraph here."),
    ({"type": "json_only"}, '{"a": 1}'),
    ({"type": "json_only", "required_keys": ["summary", "fun_fact"]}, '{"summary": "x", "fun_fact": "y"}'),
    ({"type": "json_only", "schema": SCHEMA}, '{"topic": "tea", "facts": ["hot", "old"]}'),
    ({"type": "include_words", "words": ["history", "daily life"]}, "Its HISTORY shapes daily  life."),
    ({"type": "exclude_words", "words": ["very"]}, "Everything is fine, every day."),
    ({"type": "starts_with", "phrase": "Answer:"}, "  answer: tea is hot."),
    ({"type": "ends_with", "phrase": "Hope this helps."}, "Tea is hot. Hope this helps.  \n"),
    ({"type": "ends_with", "phrase": "Anything else?"}, "THAT IS ALL. ANYTHING ELSE?"),
    ({"type": "all_lowercase"}, "tea is a drink from 2700 bc."),
    ({"type": "all_uppercase"}, "TEA IS A DRINK FROM 2700 BC."),
    ({"type": "no_commas"}, "Tea is hot. It is old."),
    ({"type": "title_in_double_angles"}, "<<Ode to Tea>>\nSteam rises."),
]

FAILING: list[tuple[dict[str, Any], str]] = [
    ({"type": "bullet_count", "n": 3}, "- one\n- two"),
    ({"type": "bullet_count", "n": 3}, "- one\n- two\n- three\n- four"),
    ({"type": "bullet_count", "n": 2}, "**bold** line\n---\n-dash without space"),
    ({"type": "numbered_list_count", "n": 3}, "1. one\n2. two\nIn 2024. it rained"),
    ({"type": "max_sentences", "n": 2}, "One. Two. Three."),
    ({"type": "max_sentences", "n": 2}, "- first point\n- second point\n- third point"),
    ({"type": "max_words", "n": 4}, "Tea is a hot drink."),
    ({"type": "min_words", "n": 6}, "Tea is a hot drink."),
    ({"type": "concise", "n": 5}, "Coffee is a brewed drink made from roasted beans."),
    ({"type": "paragraph_count", "n": 2}, "One line.\nAnother line in the same paragraph."),
    ({"type": "json_only"}, 'Here you go: {"a": 1}'),
    ({"type": "json_only"}, '```json\n{"a": 1}\n```'),
    ({"type": "json_only", "required_keys": ["summary"]}, '["summary"]'),
    ({"type": "json_only", "required_keys": ["summary", "fun_fact"]}, '{"summary": "x"}'),
    ({"type": "json_only", "schema": SCHEMA}, '{"topic": "tea", "facts": ["hot"]}'),
    ({"type": "include_words", "words": ["history"]}, "Its prehistory is long."),
    ({"type": "include_words", "words": ["history", "energy"]}, "Its history is long."),
    ({"type": "exclude_words", "words": ["very"]}, "It is Very good."),
    ({"type": "starts_with", "phrase": "Answer:"}, "Sure! Answer: tea."),
    ({"type": "ends_with", "phrase": "Hope this helps."}, "Hope this helps. Bye."),
    ({"type": "all_lowercase"}, "tea is a drink from China."),
    ({"type": "all_lowercase"}, "2700 - 42"),
    ({"type": "all_uppercase"}, "TEA IS A DRINk."),
    ({"type": "no_commas"}, "Tea, coffee and milk."),
    ({"type": "no_commas"}, "Tea，coffee."),
    ({"type": "title_in_double_angles"}, "<Ode to Tea>\n<< >>\nSteam rises."),
]


@pytest.mark.parametrize(("check", "response"), PASSING)
def test_passing_examples(check: dict[str, Any], response: str) -> None:
    assert run_check(response, check) is True


@pytest.mark.parametrize(("check", "response"), FAILING)
def test_failing_examples(check: dict[str, Any], response: str) -> None:
    assert run_check(response, check) is False


def test_every_format_checker_has_both_examples() -> None:
    passing = {check["type"] for check, _ in PASSING}
    failing = {check["type"] for check, _ in FAILING}
    assert passing == failing
    assert len(passing) == 16


def test_count_words_keeps_contractions_and_skips_markdown() -> None:
    assert count_words("- It's a well-known fact: 3.5 cups!") == 6


def test_split_sentences_respects_abbreviations_and_lines() -> None:
    assert split_sentences("Mr. Smith left, i.e. he went home. Then?\n- a bullet") == [
        "Mr. Smith left, i.e. he went home.",
        "Then?",
        "- a bullet",
    ]


def test_malformed_schema_is_an_error_not_a_failure() -> None:
    import jsonschema

    with pytest.raises(jsonschema.SchemaError):
        run_check("{}", {"type": "json_only", "schema": {"type": 42}})
