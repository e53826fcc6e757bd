"""Embedded Chroma with real embeddings: retrieval, idempotent re-ingest, deletion, planted injection, no network."""

import socket

from rag.config import RagSettings
from rag.embeddings import OnnxEmbedder
from rag.grounding import Grounder
from rag.ingest import ingest_documents, ingest_path
from rag.retriever import ChromaRetriever
from rag.store import ChunkStore, connect
from tests.integration.rag.conftest import HOME_PART, planted_document


def test_a_handbook_question_finds_its_clause(handbook_store, embedder):
    chunks = ChromaRetriever(handbook_store, embedder).search("What excess will I pay if the river floods my house?", "acme", 5)
    assert chunks[0].source_id == "HOME-2.3" and chunks[0].clause == "HOME-2.3" and chunks[0].title == "Flood"
    assert chunks[0].uri == "02-home.md#HOME-2.3" and chunks[0].source == "02-home.md"
    assert 0.42 < chunks[0].score <= 1.0 and [c.score for c in chunks] == sorted((c.score for c in chunks), reverse=True)


def test_tenants_only_see_their_own_collection(handbook_store, embedder):
    retriever = ChromaRetriever(handbook_store, embedder)
    assert {c.source for c in retriever.search("flood excess", "globex", 5)} == {"globex-note.md"}
    assert retriever.search("front desk office hours", "acme", 3)[0].source == "02-home.md"
    assert retriever.search("anything", "nobody", 5) == []


def test_reingest_is_idempotent_and_changed_text_replaces_stale_chunks(tmp_path, embedder):
    store = ChunkStore(connect(tmp_path / "db"))
    doc = tmp_path / "kb" / "02-home.md"
    doc.parent.mkdir()
    doc.write_text(HOME_PART.read_text())
    first = ingest_path(doc.parent, "acme", store, embedder, progress=False)
    assert first.added == first.chunks == store.count("acme") == 37
    again = ingest_path(doc.parent, "acme", store, embedder, progress=False)
    assert (again.added, again.unchanged, again.removed) == (0, 37, 0)
    doc.write_text(HOME_PART.read_text().replace("$1,000", "$1,250"))
    changed = ingest_path(doc.parent, "acme", store, embedder, progress=False)
    assert (changed.added, changed.removed) == (changed.chunks - changed.unchanged, changed.added) and changed.added >= 1
    assert store.count("acme") == 37
    assert store.sources("acme") == {"02-home.md": 37}
    assert store.delete_source("acme", "02-home.md") == 37 and store.count("acme") == 0


async def test_a_planted_injection_is_retrieved_but_never_given_to_the_model(tmp_path, embedder):
    store = ChunkStore(connect(tmp_path / "db"))
    ingest_documents([planted_document()], "acme", store, embedder, progress=False)
    grounder = Grounder(RagSettings(min_score=0.2), tmp_path, ChromaRetriever(store, embedder))
    grounding = await grounder.ground("What is the flood excess?", "acme")
    assert grounding.retrieved == 2
    assert [c.source_id for c in grounding.sources] == ["HOME-9.8"]
    assert [(c.source_id, why) for c, why in grounding.dropped] == [("HOME-9.9", "guard:injection_rules")]
    assert "system prompt" not in grounding.context_message()


def test_nothing_touches_the_network(tmp_path, monkeypatch, embedder):
    calls = []

    def refuse(self, address):
        calls.append(address)
        raise OSError(f"network disabled in this test: {address}")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)
    reloaded = OnnxEmbedder(embedder.path, threads=1)  # the cached export, loaded again from disk
    store = ChunkStore(connect(tmp_path / "db"))
    ingest_path(HOME_PART, "acme", store, reloaded, progress=False)
    assert ChromaRetriever(store, reloaded).search("burst pipe", "acme", 3)
    assert calls == []
