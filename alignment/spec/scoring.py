"""IFEval-style strict and loose scoring of a response against its checks.

Strict applies each check to the response as given. Loose passes a check when any variant passes:
the response with markdown emphasis removed, its first line removed, its last line removed, or
both lines removed (each with and without emphasis).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from alignment.spec.checkers import run_check

# **bold**, __bold__ and `code` markers go wholesale; a single * or _ only where it opens or closes
# emphasis (touching text on one side), so "* item" bullets and snake_case survive.
_STRONG_OR_CODE = re.compile(r"\*\*|__|`")
_SINGLE_EMPHASIS = re.compile(r"(?<![\w*])[*_](?=[^\s*_])|(?<=[^\s*_])[*_](?![\w*])")


@dataclass(frozen=True)
class CheckResult:
    """One check's outcome: strict on the response as given, loose on any of its variants."""

    type: str
    strict: bool
    loose: bool


Score = tuple[bool, bool, list[CheckResult]]


def strip_emphasis(text: str) -> str:
    """Remove markdown emphasis and inline-code markers, keeping list bullets and inner underscores."""
    return _SINGLE_EMPHASIS.sub("", _STRONG_OR_CODE.sub("", text))


def loose_variants(response: str) -> list[str]:
    """The response and its loose variants, first occurrence of each kept, original first."""
    lines = response.split("\n")
    trimmed = [
        response,
        "\n".join(lines[1:]),
        "\n".join(lines[:-1]),
        "\n".join(lines[1:-1]),
    ]
    variants = trimmed + [strip_emphasis(text) for text in trimmed]
    return list(dict.fromkeys(variants))


def score(response: str, checks: Sequence[Mapping[str, Any]]) -> Score:
    """Score a response: (all checks pass strictly, all pass loosely, per-check results)."""
    variants = loose_variants(response)
    results = []
    for check in checks:
        strict = run_check(response, check)
        loose = strict or any(run_check(variant, check) for variant in variants[1:])
        results.append(CheckResult(type=str(check["type"]), strict=strict, loose=loose))
    return all(r.strict for r in results), all(r.loose for r in results), results


def summarize(scores: Iterable[Score]) -> dict[str, float]:
    """IFEval's four accuracies: prompt- and instruction-level, strict and loose."""
    scores = list(scores)
    results = [result for _, _, per_check in scores for result in per_check]
    return {
        "prompt_strict": _mean(strict for strict, _, _ in scores),
        "prompt_loose": _mean(loose for _, loose, _ in scores),
        "instruction_strict": _mean(result.strict for result in results),
        "instruction_loose": _mean(result.loose for result in results),
    }


def _mean(flags: Iterable[bool]) -> float:
    """Fraction of true flags; 0.0 for none."""
    values = list(flags)
    return sum(values) / len(values) if values else 0.0
