"""The grounding output guard: citations must point at the numbered sources; sourced answers must cite."""

from __future__ import annotations

import re
from dataclasses import dataclass

from guardrails.base import Action, Decision, GuardContext

CITATION = re.compile(r"\[(\d{1,3}(?:\s*[,;]\s*\d{1,3})*)\]")
NOT_FOUND = re.compile(r"\bnot\s+(?:be\s+)?found\s+in\s+the\s+(?:provided\s+|given\s+)?(?:sources|context|documents|passages)\b", re.I)


def cited_numbers(text: str) -> list[int]:
    """Source numbers the text cites, as ``[2]``, ``[1, 3]`` or ``[1][2]``, in order of first use."""
    seen: list[int] = []
    for match in CITATION.finditer(text):
        for part in re.split(r"\s*[,;]\s*", match.group(1)):
            number = int(part)
            if number not in seen:
                seen.append(number)
    return seen


@dataclass(frozen=True)
class CitationCheck:
    """The facts of one answer: what it cites, which citations point nowhere, whether it says not found."""

    cited: tuple[int, ...]
    invalid: tuple[int, ...]
    says_not_found: bool

    @property
    def status(self) -> str:
        if self.invalid:
            return "invalid_citation"
        if self.cited:
            return "cited"
        return "not_found" if self.says_not_found else "uncited"


def check_citations(text: str, sources: int) -> CitationCheck:
    cited = cited_numbers(text)
    return CitationCheck(
        cited=tuple(n for n in cited if 1 <= n <= sources),
        invalid=tuple(n for n in cited if not 1 <= n <= sources),
        says_not_found=bool(NOT_FOUND.search(text)),
    )


@dataclass
class GroundingGuard:
    """Flags (or blocks, per config) answers given sources that cite none of them or cite ones not given."""

    name: str = "grounding"
    action: Action = "escalate"

    async def check(self, subject: str, ctx: GuardContext) -> Decision:
        if ctx.sources <= 0:
            return Decision("allow", self.name, category="ungrounded")
        result = check_citations(subject, ctx.sources)
        if result.status in ("cited", "not_found"):
            return Decision("allow", self.name, category=result.status)
        if result.status == "invalid_citation":
            reason = f"cites sources that were not provided: {list(result.invalid)} (given 1..{ctx.sources})"
        else:
            reason = f"the answer cites none of the {ctx.sources} sources it was given"
        return Decision(self.action, self.name, category=result.status, score=1.0, reason=reason)
