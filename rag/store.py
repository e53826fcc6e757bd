"""Chroma as Keel's chunk store: one collection per tenant, vectors computed by Keel (never by Chroma)."""

from __future__ import annotations

import re
import sqlite3
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import numpy as np

from rag.base import Chunk

COLLECTION_SUFFIX = "minilm"  # vectors of one model per collection: a new model means new collections


def connect(path: Path | None, url: str | None = None) -> Any:
    """A Chroma client: ``HttpClient`` for a server URL, else an embedded ``PersistentClient`` at ``path``."""
    import chromadb
    from chromadb.config import Settings as ChromaSettings

    settings = ChromaSettings(anonymized_telemetry=False)
    if url:
        parsed = urlparse(url if "://" in url else f"http://{url}")
        ssl = parsed.scheme == "https"
        port = parsed.port or (443 if ssl else 8000)
        return chromadb.HttpClient(host=parsed.hostname or "localhost", port=port, ssl=ssl, settings=settings)
    if path is None:
        raise ValueError("an embedded Chroma store needs a path (or configure a server URL)")
    path.mkdir(parents=True, exist_ok=True)
    return chromadb.PersistentClient(path=str(path), settings=settings)


def collection_name(tenant: str) -> str:
    """Chroma's name rules (3-512 of [a-zA-Z0-9._-], alphanumeric at both ends), one name per tenant."""
    if not tenant or not re.fullmatch(r"[A-Za-z0-9_-]{1,200}", tenant):
        raise ValueError("tenant must be a non-empty name of letters, digits, '-' and '_'")
    return f"keel-{tenant}-{COLLECTION_SUFFIX}"


class ChunkStore:
    """Adds, finds and deletes a tenant's chunks; a tenant only ever reads its own collection.

    An embedded Chroma keeps each collection's vector index in memory, so a gateway process would not see
    chunks that ``keel ingest`` (another process) wrote until it restarted. Before reading, the store compares
    the write-ahead log's last sequence number with the one it last saw and reopens the client when another
    process has written (a read of one SQLite index, ~0.1 ms).
    """

    def __init__(self, client: Any) -> None:
        self.client = client
        self._collections: dict[str, Any] = {}
        self._log = _WriteLog.of(client)
        self._seen = self._log.position() if self._log else None
        self.reopened = 0  # how many times another process's writes made the store reopen the client

    def refresh(self) -> bool:
        """Reopen an embedded client whose files another process changed; True when it did."""
        if self._log is None:
            return False
        position = self._log.position()
        if position == self._seen:
            return False
        from chromadb.api.shared_system_client import SharedSystemClient

        # Chroma shares one System per path in a process; drop ours so the new client loads the files afresh.
        # Clients still holding the old System keep working on it (they are not stopped).
        SharedSystemClient._identifier_to_system.pop(self.client._identifier, None)
        self.client = connect(self._log.directory)
        self._collections.clear()
        self._seen = position
        self.reopened += 1
        return True

    def version(self, tenant: str) -> tuple[Any, ...]:
        """Changes whenever the tenant's chunks may have changed (the log position, or the count on a server)."""
        return (self._seen, self.reopened) if self._log else (self.count(tenant),)

    def texts(self, tenant: str) -> list[str]:
        """Every chunk text of the tenant (for corpus statistics)."""
        found = self.collection(tenant)
        return list(found.get(include=["documents"])["documents"] or []) if found is not None else []

    def _wrote(self) -> None:
        if self._log is not None:
            self._seen = self._log.position()

    def collection(self, tenant: str, create: bool = False) -> Any | None:
        """The tenant's collection; None when it has none yet and ``create`` is false."""
        if tenant in self._collections:
            return self._collections[tenant]
        name = collection_name(tenant)
        if create:
            found = self.client.get_or_create_collection(
                name, embedding_function=None, configuration={"hnsw": {"space": "cosine"}}
            )
        else:
            from chromadb.errors import NotFoundError

            try:
                found = self.client.get_collection(name, embedding_function=None)
            except (NotFoundError, ValueError):
                return None
        self._collections[tenant] = found
        return found

    def count(self, tenant: str) -> int:
        found = self.collection(tenant)
        return found.count() if found is not None else 0

    def ids_for_source(self, tenant: str, source: str) -> set[str]:
        found = self.collection(tenant)
        if found is None:
            return set()
        return set(found.get(where={"source": source}, include=[])["ids"])

    def add(self, tenant: str, chunks: Sequence[Chunk], vectors: np.ndarray) -> None:
        """Store chunks with their vectors (an existing id is overwritten)."""
        found = self.collection(tenant, create=True)
        step = max(1, min(5000, int(self.client.get_max_batch_size())))
        for start in range(0, len(chunks), step):
            batch = chunks[start : start + step]
            found.upsert(
                ids=[c.chunk_id for c in batch],
                embeddings=vectors[start : start + step],
                documents=[c.text for c in batch],
                metadatas=[_metadata(c) for c in batch],
            )
        self._wrote()

    def delete_ids(self, tenant: str, ids: Sequence[str]) -> int:
        found = self.collection(tenant)
        if found is None or not ids:
            return 0
        found.delete(ids=list(ids))
        self._wrote()
        return len(ids)

    def delete_source(self, tenant: str, source: str) -> int:
        """Remove every chunk of one document; returns how many were removed."""
        return self.delete_ids(tenant, sorted(self.ids_for_source(tenant, source)))

    def sources(self, tenant: str) -> dict[str, int]:
        """Documents in the tenant's collection and their chunk counts."""
        found = self.collection(tenant)
        if found is None:
            return {}
        metadatas = found.get(include=["metadatas"])["metadatas"] or []
        return dict(sorted(Counter(str(m.get("source", "")) for m in metadatas).items()))

    def query(self, tenant: str, vector: np.ndarray, k: int) -> list[Chunk]:
        """The ``k`` nearest chunks, best first, scored by cosine similarity."""
        self.refresh()
        found = self.collection(tenant)
        if found is None or k <= 0:
            return []
        result = found.query(
            query_embeddings=[vector], n_results=k, include=["documents", "metadatas", "distances"]
        )
        ids, docs = result["ids"][0], (result["documents"] or [[]])[0]
        metas, distances = (result["metadatas"] or [[]])[0], (result["distances"] or [[]])[0]
        return [_chunk(i, d, m or {}, 1.0 - float(dist)) for i, d, m, dist in zip(ids, docs, metas, distances)]


class _WriteLog:
    """The embedded store's write-ahead log (SQLite), read-only: its last sequence number moves on every write."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self._db = directory / "chroma.sqlite3"
        self._connection: sqlite3.Connection | None = None

    @classmethod
    def of(cls, client: Any) -> _WriteLog | None:
        settings = client.get_settings()
        if not settings.is_persistent or not settings.persist_directory:
            return None
        return cls(Path(settings.persist_directory))

    def position(self) -> tuple[int | None, int | None] | None:
        try:
            if self._connection is None:
                self._connection = sqlite3.connect(f"file:{self._db}?mode=ro", uri=True, check_same_thread=False)
            last = self._connection.execute("SELECT max(seq_id) FROM embeddings_queue").fetchone()[0]
            count = self._connection.execute("SELECT count(*) FROM collections").fetchone()[0]
            return last, count
        except sqlite3.Error:
            self._connection = None
            return None


def _metadata(chunk: Chunk) -> dict[str, str | int]:
    meta: dict[str, str | int] = {
        "source_id": chunk.source_id,
        "source": chunk.source,
        "title": chunk.title,
        "uri": chunk.uri,
        "clause": chunk.clause,
    }
    for key, value in chunk.meta.items():
        if isinstance(value, (str, int)):
            meta[key] = value
    return meta


def _chunk(ident: str, text: str | None, meta: dict[str, Any], score: float) -> Chunk:
    known = {"source_id", "source", "title", "uri", "clause"}
    return Chunk(
        source_id=str(meta.get("source_id", ident)),
        text=text or "",
        score=score,
        title=str(meta.get("title", "")),
        uri=str(meta.get("uri", "")),
        clause=str(meta.get("clause", "")),
        source=str(meta.get("source", "")),
        chunk_id=ident,
        meta={k: v for k, v in meta.items() if k not in known},
    )
