"""Streaming-safe output guards: a hold-back buffer releases text only after the guards have seen it.

Text arrives token by token; the filter keeps it until a cut point — the end of a sentence (or, in
``chars`` mode, a word boundary at least ``chars`` characters before the newest text) — then runs the
output guards over the held text with some already-sent context before it. What is released is the
text before the cut with every finding masked; a finding that straddles the cut moves the cut before
it. The newest ``chars`` characters are held in ``chars`` mode because a finding (a card number,
an IBAN) may still be arriving: none is longer than that. A block releases nothing more.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

from guardrails.base import Decision
from guardrails.config import StreamingConfig

_SENTENCE_END = re.compile(r"[.!?…]+[\"')\]]*(?=\s)|\n")
_WORD_END = re.compile(r"(?<=\S)(?=\s)")


@dataclass
class Release:
    """What the filter lets through now: text to send (masked), or the decision that ends the stream."""

    text: str = ""
    blocked: Decision | None = None


def mask_spans(text: str, spans: Sequence[tuple[int, int, str]]) -> str:
    """``text`` with each span replaced by ``<LABEL>``; overlapping spans merge (no tail of a finding is left)."""
    pieces, at = [], 0
    for start, end, label in sorted(spans):
        if start < at:
            at = max(at, end)
            continue
        pieces += [text[at:start], f"<{label}>"]
        at = end
    return "".join(pieces) + text[at:]


class HoldBackFilter:
    """Feeds one choice's streamed text through the output guards; ``check`` runs them over a text."""

    def __init__(self, check: Callable[[str], Awaitable[Any]], config: StreamingConfig) -> None:
        self.check = check
        self.config = config
        self.pending = ""  # received, not yet released
        self.sent = ""  # released (raw, before masking): the context for the next check
        self.blocked: Decision | None = None

    async def feed(self, text: str) -> Release:
        if self.blocked is not None:
            return Release(blocked=self.blocked)
        self.pending += text
        cut = self._cut_point()
        if cut <= 0:
            return Release()
        return await self._release(cut)

    async def finish(self) -> Release:
        """The end of the stream: everything still held, checked and masked."""
        if self.blocked is not None:
            return Release(blocked=self.blocked)
        if not self.pending:
            return Release()
        return await self._release(len(self.pending), final=True)

    def _cut_point(self) -> int:
        if self.config.hold_back == "sentence":
            ends = [m.end() for m in _SENTENCE_END.finditer(self.pending)]
            if ends:
                return ends[-1]
            if len(self.pending) <= self.config.max_hold_chars:
                return 0
        # chars mode, or a sentence too long to hold: the last word end before the newest `chars` characters.
        limit = len(self.pending) - self.config.chars
        ends = [m.start() for m in _WORD_END.finditer(self.pending, 0, max(0, limit) + 1) if m.start() <= limit]
        return ends[-1] if ends else 0

    async def _release(self, cut: int, final: bool = False) -> Release:
        context = self.sent[-self.config.context_chars :] if self.config.context_chars else ""
        verdict = await self.check(context + self.pending)
        blocked = getattr(verdict, "blocked", None)
        if blocked is not None:
            self.blocked = blocked
            self.pending = ""
            return Release(blocked=blocked)
        offset = len(context)
        spans = [(s - offset, e - offset, label) for d in verdict.decisions if d.action == "redact"
                 for s, e, label in d.spans if e > offset]
        if any(d.action == "redact" and not d.spans for d in verdict.decisions):
            if not final:  # a redaction without spans cannot be cut safely: hold everything until the end
                return Release()
            replaced = next(d.replacement for d in verdict.decisions if d.action == "redact" and not d.spans)
            released = (replaced or "")[len(context):] if (replaced or "").startswith(context) else (replaced or "")
            self.sent, self.pending = self.sent + self.pending, ""
            return Release(released)
        for start, end, _ in sorted(spans):
            if start < cut < end:  # never split a finding: cut before it
                cut = max(0, start)
        if cut <= 0:
            return Release()
        head = self.pending[:cut]
        released = mask_spans(head, [(max(0, s), min(e, cut), label) for s, e, label in spans if s < cut])
        self.sent += head
        self.pending = self.pending[cut:]
        return Release(released)
