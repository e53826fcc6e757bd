"""The retrieval stage's guards: planted instructions dropped, PII masked (Presidio), verdicts cached per chunk.

A retrieved chunk is identified by its content hash, so a guard's verdict on it never changes: the cache makes
a popular clause cost Presidio once, not once per request.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any

from guardrails.base import Decision, Guard, GuardContext
from rag.base import Chunk

# A knowledge base's published contact numbers and addresses are its content (the handbook's claims line
# is what a customer asks for), so retrieval masks identifiers that are never meant to be published.
# Add PHONE_NUMBER / EMAIL_ADDRESS with `rag.pii_entities` for knowledge bases built from personal records.
RETRIEVAL_PII_ENTITIES: dict[str, str] = {"CREDIT_CARD": "mask", "US_SSN": "mask", "IBAN_CODE": "mask", "IP_ADDRESS": "mask"}


def default_guards(settings: Any) -> list[Guard]:
    """The retrieval guards ``RagSettings`` asks for: injection rules, then the PII guard (Presidio, pattern engine)."""
    guards: list[Guard] = []
    if settings.injection_guard:
        from guardrails.injection_rules import InjectionRules

        guards.append(InjectionRules())
    if settings.pii_guard:
        from guardrails.pii import PiiAnalyzer, PiiGuard

        entities = dict(settings.pii_entities or RETRIEVAL_PII_ENTITIES)
        guards.append(PiiGuard(PiiAnalyzer(nlp="tokens"), entities=entities))  # type: ignore[arg-type]
    return guards


class VerdictCache:
    """The last ``size`` decisions per (guard, chunk content); a chunk's text never changes under its id."""

    def __init__(self, size: int = 4096) -> None:
        self.size = size
        self._items: OrderedDict[tuple[str, str], Decision] = OrderedDict()
        self.hits = 0

    async def check(self, guard: Guard, chunk: Chunk, ctx: GuardContext) -> Decision:
        key = (guard.name, chunk.chunk_id or chunk.text)
        found = self._items.get(key)
        if found is not None:
            self._items.move_to_end(key)
            self.hits += 1
            return found
        decision = await guard.check(chunk.text, ctx)
        self._items[key] = decision
        if len(self._items) > self.size:
            self._items.popitem(last=False)
        return decision
