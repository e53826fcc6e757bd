"""Keel's behaviour spec: IFEval-style verifiable instructions, their checkers and scoring."""

from alignment.spec.checkers import CHECKERS, Checker, SpecError, check_params, run_check
from alignment.spec.scoring import CheckResult, Score, loose_variants, score, strip_emphasis, summarize

__all__ = [
    "CHECKERS",
    "CheckResult",
    "Checker",
    "Score",
    "SpecError",
    "check_params",
    "loose_variants",
    "run_check",
    "score",
    "strip_emphasis",
    "summarize",
]
