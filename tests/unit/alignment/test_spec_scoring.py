"""Registry validation and IFEval-style strict vs loose scoring."""

from __future__ import annotations

import inspect

import pytest

from alignment.spec import (
    CHECKERS,
    CheckResult,
    SpecError,
    loose_variants,
    run_check,
    score,
    strip_emphasis,
    summarize,
)

REQUIRED_TYPES = {
    "bullet_count", "max_sentences", "max_words", "min_words", "concise", "json_only", "include_words",
    "exclude_words", "ends_with", "all_lowercase", "no_commas", "refuse", "no_refusal", "not_found",
    "cite_sources", "keep_role",
}  # fmt: skip


def test_registry_holds_required_types_as_pure_functions() -> None:
    assert REQUIRED_TYPES <= set(CHECKERS)
    assert len(CHECKERS) >= 16
    for name, checker in CHECKERS.items():
        first = next(iter(inspect.signature(checker).parameters))
        assert first == "response", name


def test_unknown_type_and_bad_params_raise_spec_error() -> None:
    with pytest.raises(SpecError):
        run_check("hi", {"type": "no_such_check"})
    with pytest.raises(SpecError):
        run_check("hi", {"type": "bullet_count"})
    with pytest.raises(SpecError):
        run_check("hi", {"type": "all_lowercase", "n": 3})


@pytest.mark.parametrize("check", [{"type": "max_words", "n": 10}, {"type": "exclude_words", "words": ["x"]}])
def test_empty_response_passes_nothing(check: dict[str, object]) -> None:
    assert run_check("  \n", check) is False
    assert score("", [check])[:2] == (False, False)


def test_strip_emphasis_keeps_bullets_and_snake_case() -> None:
    assert strip_emphasis("**- a**\n* item with *em* and snake_case `code` __b__") == (
        "- a\n* item with em and snake_case code b"
    )


def test_loose_variants_cover_trimmed_lines() -> None:
    variants = loose_variants("Sure!\nbody\nBye")
    assert variants[0] == "Sure!\nbody\nBye"
    assert {"body\nBye", "Sure!\nbody", "body"} <= set(variants)


def test_bold_bullets_pass_only_loosely() -> None:
    strict, loose, results = score("**- a**\n**- b**", [{"type": "bullet_count", "n": 2}])
    assert (strict, loose) == (False, True)
    assert results == [CheckResult(type="bullet_count", strict=False, loose=True)]


def test_preamble_line_passes_only_loosely() -> None:
    response = "Sure! Here is your JSON:\n{\"summary\": \"tea\", \"fun_fact\": \"old\"}"
    check = {"type": "json_only", "required_keys": ["summary", "fun_fact"]}
    assert score(response, [check])[:2] == (False, True)


def test_code_fenced_json_passes_only_loosely() -> None:
    assert score('```json\n{"a": 1}\n```', [{"type": "json_only"}])[:2] == (False, True)


def test_trailing_sign_off_passes_only_loosely() -> None:
    response = "In short.\nTea is hot. It is old.\nHope you enjoyed this answer about tea."
    assert score(response, [{"type": "max_sentences", "n": 2}])[:2] == (False, True)


def test_loose_does_not_rescue_a_real_failure() -> None:
    checks = [{"type": "bullet_count", "n": 2}, {"type": "bullet_count", "n": 5}]
    strict, loose, results = score("- a\n- b", checks)
    assert (strict, loose) == (False, False)
    assert [(r.strict, r.loose) for r in results] == [(True, True), (False, False)]


def test_single_line_response_cannot_pass_by_trimming_to_nothing() -> None:
    assert score("Way too many words for this limit", [{"type": "max_words", "n": 2}])[:2] == (False, False)


def test_summarize_reports_four_accuracies() -> None:
    scores = [
        score("- a\n- b", [{"type": "bullet_count", "n": 2}, {"type": "no_commas"}]),
        score("**- a**", [{"type": "bullet_count", "n": 1}]),
    ]
    assert summarize(scores) == {
        "prompt_strict": 0.5,
        "prompt_loose": 1.0,
        "instruction_strict": 2 / 3,
        "instruction_loose": 1.0,
    }
    assert summarize([])["prompt_strict"] == 0.0
