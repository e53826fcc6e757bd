"""The same store against a real `chroma run` server through HttpClient."""

from rag.chunking import Document
from rag.ingest import ingest_documents
from rag.retriever import ChromaRetriever
from rag.store import ChunkStore, connect

POLICY = Document(
    "### TRV-9.1 Lost luggage\n\nWe pay up to $2,000 for baggage lost by an airline, after the airline's own "
    "compensation.\n\n### TRV-9.2 Ski equipment\n\nHired ski equipment is covered up to $500 per trip.\n",
    source="travel.md",
)
OTHER = Document("### OPS-1.1 Parking\n\nStaff parking is on level two of the car park.\n", source="ops.md")


def test_server_store_retrieves_isolates_and_reingests_idempotently(chroma_server, embedder):
    store = ChunkStore(connect(path=None, url=chroma_server))
    assert ingest_documents([POLICY], "acme", store, embedder, progress=False).added == 2
    assert ingest_documents([OTHER], "globex", store, embedder, progress=False).added == 1
    again = ingest_documents([POLICY], "acme", store, embedder, progress=False)
    assert (again.added, again.unchanged) == (0, 2)
    retriever = ChromaRetriever(store, embedder)
    found = retriever.search("The airline lost my suitcase. How much will you pay?", "acme", 2)
    assert found[0].source_id == "TRV-9.1" and found[0].score > 0.42
    assert {c.source for c in retriever.search("lost suitcase", "globex", 5)} == {"ops.md"}
    # A second client (another gateway process) sees the same data.
    assert ChunkStore(connect(path=None, url=chroma_server)).count("acme") == 2
    assert store.delete_source("acme", "travel.md") == 2 and store.count("acme") == 0
