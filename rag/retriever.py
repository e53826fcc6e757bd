"""The default ``Retriever``: embed the query offline, search the tenant's Chroma collection."""

from __future__ import annotations

import asyncio
import threading
import time
from pathlib import Path
from typing import Any

from rag.answerability import Vocabulary
from rag.base import Chunk
from rag.config import RagSettings
from rag.embeddings import OnnxEmbedder
from rag.store import ChunkStore


class ChromaRetriever:
    """Dense retrieval over a ``ChunkStore``; the embedding and the search run in a worker thread."""

    def __init__(self, store: ChunkStore, embedder: OnnxEmbedder) -> None:
        self.store = store
        self.embedder = embedder
        self.last_seconds = 0.0
        self._vocabularies: dict[str, tuple[tuple[Any, ...], Vocabulary]] = {}
        self._vocabulary_lock = threading.Lock()

    async def retrieve(self, query: str, tenant: str, k: int) -> list[Chunk]:
        return await asyncio.to_thread(self.search, query, tenant, k)

    def search(self, query: str, tenant: str, k: int) -> list[Chunk]:
        """Synchronous retrieval (for the CLI, the evaluation and the benchmark)."""
        started = time.perf_counter()
        if not query.strip():
            return []
        chunks = self.store.query(tenant, self.embedder.embed_one(query), k)
        self.last_seconds = time.perf_counter() - started
        return chunks

    def vocabulary(self, tenant: str) -> Vocabulary:
        """Word statistics of the tenant's chunks, rebuilt when the store changed (synchronous; call off the loop)."""
        with self._vocabulary_lock:
            version = self.store.version(tenant)
            cached = self._vocabularies.get(tenant)
            if cached is None or cached[0] != version:
                cached = (version, Vocabulary.from_texts(self.store.texts(tenant)))
                self._vocabularies[tenant] = cached
            return cached[1]


def open_retriever(settings: RagSettings, home: Path) -> ChromaRetriever:
    """The configured retriever: the embedder (exported once under ``home``) and a Chroma client."""
    from rag.embeddings import load_embedder
    from rag.store import connect

    store = ChunkStore(connect(settings.store_path(home), settings.chroma_url))
    embedder = load_embedder(
        home, threads=settings.threads, quantized=settings.query_embeddings == "int8", cache_size=settings.query_cache
    )
    return ChromaRetriever(store, embedder)
