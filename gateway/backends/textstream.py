"""Incremental detokenization with stop strings: emit only text that can no longer change or be cut."""

from __future__ import annotations

from typing import Any

_REPLACEMENT = "\ufffd"


class IncrementalText:
    """Turns a growing list of token ids into emitted text pieces.

    Text is held back while it ends in an incomplete UTF-8 sequence, or in a prefix of a stop string;
    a completed stop string ends the text before it (the stop string itself is never emitted).
    """

    def __init__(self, tokenizer: Any, stop: list[str] | None = None) -> None:
        self._tokenizer = tokenizer
        self._stop = [s for s in (stop or []) if s]
        self._ids: list[int] = []
        self._text = ""
        self._sent = 0
        self.stopped = False

    @property
    def text(self) -> str:
        """Everything emitted so far."""
        return self._text[: self._sent]

    def push(self, token: int) -> tuple[str, bool]:
        """Add a token; return the newly safe text and whether a stop string completed."""
        self._ids.append(token)
        self._text = self._tokenizer.decode(self._ids, skip_special_tokens=True)
        hit = self._first_stop()
        if hit is not None:
            piece = self._text[self._sent : hit]
            self._sent = hit
            self._text = self._text[:hit]
            self.stopped = True
            return piece, True
        safe = len(self._text.rstrip(_REPLACEMENT))
        safe -= self._stop_prefix_len(safe)
        safe = max(safe, self._sent)
        piece = self._text[self._sent : safe]
        self._sent = safe
        return piece, False

    def finish(self) -> str:
        """Flush whatever was held back (the sequence ended without completing a stop string)."""
        piece = self._text[self._sent :]
        self._sent = len(self._text)
        return piece

    def _first_stop(self) -> int | None:
        found: int | None = None
        for stop in self._stop:
            idx = self._text.find(stop, max(0, self._sent - len(stop) + 1))
            if idx != -1 and (found is None or idx < found):
                found = idx
        return found

    def _stop_prefix_len(self, end: int) -> int:
        """Length of the longest suffix of ``text[:end]`` that starts some stop string."""
        longest = 0
        for stop in self._stop:
            for k in range(min(len(stop) - 1, end - self._sent), longest, -1):
                if self._text[end - k : end] == stop[:k]:
                    longest = k
                    break
        return longest
