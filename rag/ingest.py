"""Ingestion: load documents, chunk them, embed only new chunks, drop chunks a document no longer has."""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from tqdm import tqdm

from rag.base import Chunk
from rag.chunking import ChunkingConfig, Document, chunk_document
from rag.embeddings import OnnxEmbedder
from rag.loaders import load_documents
from rag.store import ChunkStore


@dataclass
class IngestReport:
    """What an ingest did: chunks added, kept unchanged and removed as stale, and how long it took."""

    documents: int = 0
    chunks: int = 0
    added: int = 0
    unchanged: int = 0
    removed: int = 0
    seconds: float = 0.0

    def summary(self) -> str:
        rate = self.added / self.seconds if self.seconds else 0.0
        return (
            f"{self.documents} documents, {self.chunks} chunks: {self.added} added, {self.unchanged} unchanged, "
            f"{self.removed} removed in {self.seconds:.1f} s ({rate:.0f} chunks/s embedded)"
        )


def ingest_path(
    path: Path,
    tenant: str,
    store: ChunkStore,
    embedder: OnnxEmbedder,
    *,
    base_uri: str = "",
    config: ChunkingConfig | None = None,
    progress: bool = True,
) -> IngestReport:
    """Ingest every supported file under ``path`` into ``tenant``'s collection (idempotent)."""
    return ingest_documents(load_documents(Path(path), base_uri), tenant, store, embedder, config=config, progress=progress)


def ingest_documents(
    documents: Iterable[Document],
    tenant: str,
    store: ChunkStore,
    embedder: OnnxEmbedder,
    *,
    config: ChunkingConfig | None = None,
    progress: bool = True,
    batch_size: int = 64,
) -> IngestReport:
    started = time.perf_counter()
    report = IngestReport()
    pending: list[Chunk] = []
    for doc in documents:
        chunks = chunk_document(doc, config)
        report.documents += 1
        report.chunks += len(chunks)
        existing = store.ids_for_source(tenant, doc.source)
        wanted = {c.chunk_id for c in chunks}
        report.removed += store.delete_ids(tenant, sorted(existing - wanted))
        fresh = [c for c in chunks if c.chunk_id not in existing]
        report.unchanged += len(chunks) - len(fresh)
        pending.extend(fresh)
    with tqdm(total=len(pending), unit="chunk", desc=f"ingest {tenant}", disable=not progress) as bar:
        for start in range(0, len(pending), batch_size):
            batch = pending[start : start + batch_size]
            store.add(tenant, batch, embedder.embed([c.text for c in batch]))
            report.added += len(batch)
            bar.update(len(batch))
    report.seconds = time.perf_counter() - started
    return report
