"""The retrieval seam: the ``Chunk`` a retriever returns and the ``Retriever`` protocol."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any, Protocol, runtime_checkable


@dataclass(frozen=True)
class Chunk:
    """A retrieved passage: ``source_id`` names it (a clause id where it has one), ``score`` is cosine similarity."""

    source_id: str
    text: str
    score: float = 0.0
    title: str = ""
    uri: str = ""
    clause: str = ""  # the clause id when the chunk is one clause of a handbook, else ""
    source: str = ""  # the document the chunk came from (path relative to the ingest root)
    chunk_id: str = ""  # content hash; the id in the store
    meta: dict[str, Any] = field(default_factory=dict, hash=False, compare=False)

    def with_score(self, score: float) -> Chunk:
        return replace(self, score=score)


@runtime_checkable
class Retriever(Protocol):
    """Finds the ``k`` chunks of ``tenant``'s knowledge base nearest to ``query``, best first."""

    async def retrieve(self, query: str, tenant: str, k: int) -> list[Chunk]: ...
