"""Grounding: retrieve, drop irrelevant and flagged chunks, number the rest [1]..[k] as a context message."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from guardrails.base import Decision, Guard, GuardContext
from rag.answerability import DEFAULT_MODEL, AnswerabilityModel
from rag.base import Chunk, Retriever
from rag.config import RagSettings
from rag.retrieval_guards import VerdictCache, default_guards

log = logging.getLogger(__name__)

INSTRUCTION = (
    "Answer using only the sources below and cite them like [1]. "
    "If the sources do not contain the answer, say that it is not found in the sources."
)
NOT_FOUND_ANSWER = "I'm sorry, but the answer to that is not found in the sources I can use."


@dataclass
class Grounding:
    """One request's grounding: the numbered sources given to the model and what was dropped, and why."""

    query: str
    tenant: str = ""
    sources: list[Chunk] = field(default_factory=list)  # sources[n - 1] is cited as [n]
    dropped: list[tuple[Chunk, str]] = field(default_factory=list)
    retrieved: int = 0
    seconds: float = 0.0
    unanswerable: float | None = None  # the answerability model's P(unanswerable), when it ran

    @property
    def not_found(self) -> bool:
        return not self.sources

    def context_message(self) -> str:
        return context_message(self.sources)

    def citations(self) -> list[dict[str, Any]]:
        """The wire form of the sources: number, clause, title, uri and score."""
        return [
            {
                "source_id": number,
                "clause": chunk.clause or None,
                "title": chunk.title,
                "uri": chunk.uri,
                "score": round(chunk.score, 4),
            }
            for number, chunk in enumerate(self.sources, start=1)
        ]


def select(chunks: Sequence[Chunk], min_score: float) -> tuple[list[Chunk], list[tuple[Chunk, str]]]:
    """Keep chunks scoring at least ``min_score`` (best first); the rest are dropped as irrelevant."""
    ranked = sorted(chunks, key=lambda c: c.score, reverse=True)
    kept = [c for c in ranked if c.score >= min_score]
    return kept, [(c, "below_threshold") for c in ranked if c.score < min_score]


def context_message(sources: Sequence[Chunk]) -> str:
    """The system message that carries the sources, numbered as the model must cite them."""
    lines = [INSTRUCTION, "", "Sources:"]
    for number, chunk in enumerate(sources, start=1):
        body = " ".join(chunk.text.split())
        label = f"({chunk.clause}) " if chunk.clause and not body.startswith(chunk.clause) else ""
        lines.append(f"[{number}] {label}{body}")
    return "\n".join(lines)


DecisionHook = Callable[[Decision, str, float], None]


class Grounder:
    """Runs the retrieval stage for a tenant: retrieve top-k, threshold, retrieval guards, number the sources."""

    def __init__(
        self,
        settings: RagSettings,
        home: Path,
        retriever: Retriever | None = None,
        guards: Sequence[Guard] | None = None,
        on_decision: DecisionHook | None = None,
        answerability: AnswerabilityModel | None = None,
    ) -> None:
        self.settings = settings
        self.home = home
        self._retriever = retriever
        self._lock = asyncio.Lock()
        self.guards = list(default_guards(settings) if guards is None else guards)
        self.verdicts = VerdictCache()
        self.on_decision = on_decision
        if answerability is None and settings.answerability:
            answerability = AnswerabilityModel.load(settings.answerability_model or DEFAULT_MODEL)
        self.answerability = answerability if settings.answerability else None

    async def retriever(self) -> Retriever:
        """The retriever, opened on first use (loads the embedder and the Chroma client off the event loop)."""
        if self._retriever is None:
            async with self._lock:
                if self._retriever is None:
                    from rag.retriever import open_retriever

                    self._retriever = await asyncio.to_thread(open_retriever, self.settings, self.home)
        return self._retriever

    async def ground(self, query: str, tenant: str) -> Grounding:
        started = time.perf_counter()
        retriever = await self.retriever()
        chunks = await retriever.retrieve(query, tenant, self.settings.top_k)
        kept, dropped = select(chunks, self.settings.min_score)
        probability = None
        vocabulary = getattr(retriever, "vocabulary", None)  # a retriever that knows its corpus (ChromaRetriever)
        if kept and self.answerability is not None and vocabulary is not None:
            model = self.answerability
            refuse, probability = await asyncio.to_thread(lambda: model.unanswerable(query, chunks, vocabulary(tenant)))
            if refuse:
                dropped.extend((c, "unanswerable") for c in kept)
                kept = []
        sources: list[Chunk] = []
        for chunk in kept:
            verdict = await self._screen(chunk, tenant)
            if isinstance(verdict, str):
                dropped.append((chunk, verdict))
            else:
                sources.append(verdict)
        seconds = time.perf_counter() - started
        return Grounding(query, tenant, sources, dropped, retrieved=len(chunks), seconds=seconds, unanswerable=probability)

    async def _screen(self, chunk: Chunk, tenant: str) -> Chunk | str:
        """The chunk to keep (redacted where a guard redacted it), or the reason it is dropped."""
        ctx = GuardContext(stage="retrieval", tenant=tenant)
        for guard in self.guards:
            started = time.perf_counter()
            decision = await self.verdicts.check(guard, chunk, ctx)
            if self.on_decision:
                self.on_decision(decision, "retrieval", time.perf_counter() - started)
            if decision.action == "redact" and decision.replacement is not None:
                chunk = replace(chunk, text=decision.replacement)
            elif decision.action in ("block", "escalate"):
                log.warning(
                    "retrieved chunk dropped by a guard",
                    extra={"guard": decision.guard, "source_id": chunk.source_id, "reason": decision.reason},
                )
                return f"guard:{decision.guard}"
        return chunk
