"""The retrieval stage with real parts: Chroma, ONNX MiniLM, Presidio, the shipped answerability model."""

import subprocess
import sys
from pathlib import Path

from rag.chunking import Document
from rag.config import RagSettings
from rag.grounding import Grounder
from rag.ingest import ingest_documents
from rag.retriever import ChromaRetriever
from rag.store import ChunkStore, connect
from tests.integration.rag.conftest import planted_document

RECORDS = Document(
    "### PAY-9.1 Refund records\n\nRefunds for this case were paid to card 4111 1111 1111 1111 and the customer's "
    "SSN 536-22-8726 is on file. Refunds are paid within ten business days of being agreed.\n",
    source="records.md",
)


async def test_retrieved_chunks_are_screened_injection_dropped_and_pii_masked(tmp_path, embedder):
    store = ChunkStore(connect(tmp_path / "db"))
    ingest_documents([planted_document(), RECORDS], "acme", store, embedder, progress=False)
    seen = []
    grounder = Grounder(RagSettings(min_score=0.05, top_k=3), tmp_path, ChromaRetriever(store, embedder),
                        on_decision=lambda d, stage, s: seen.append((d.guard, d.action)))
    assert [g.name for g in grounder.guards] == ["injection_rules", "pii"]
    grounding = await grounder.ground("How long do refunds take after the flood excess is agreed?", "acme")
    assert grounding.retrieved == 3
    assert ("HOME-9.9", "guard:injection_rules") in [(c.source_id, why) for c, why in grounding.dropped]
    refund = next(c for c in grounding.sources if c.source_id == "PAY-9.1")
    assert "<CREDIT_CARD>" in refund.text and "<US_SSN>" in refund.text
    context = grounding.context_message()
    assert "4111 1111 1111 1111" not in context and "536-22-8726" not in context and "system prompt" not in context
    assert ("pii", "redact") in seen and ("injection_rules", "block") in seen
    again = await grounder.ground("How long do refunds take after the flood excess is agreed?", "acme")
    assert [c.text for c in again.sources] == [c.text for c in grounding.sources] and grounder.verdicts.hits >= 3


def test_an_embedded_store_sees_chunks_another_process_ingested(tmp_path, embedder):
    store = ChunkStore(connect(tmp_path / "db"))
    ingest_documents([planted_document()], "acme", store, embedder, progress=False)
    retriever = ChromaRetriever(store, embedder)
    question = "How much is the excess for a burst pipe under the kitchen floor?"
    assert "HOME-7.7" not in [c.source_id for c in retriever.search(question, "acme", 5)]
    before = retriever.vocabulary("acme")
    script = (
        "from pathlib import Path; from alignment.registry import keel_home; from rag.chunking import Document; "
        "from rag.embeddings import load_embedder; from rag.ingest import ingest_documents; "
        "from rag.store import ChunkStore, connect; "
        f"store = ChunkStore(connect(Path({str(tmp_path / 'db')!r}))); "
        "doc = Document('### HOME-7.7 Burst pipes\\n\\nA burst pipe under a floor carries an excess of $450.\\n', source='pipes.md'); "
        "print(ingest_documents([doc], 'acme', store, load_embedder(keel_home(), threads=1), progress=False).added)"
    )
    other = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert other.returncode == 0 and other.stdout.strip().endswith("1"), other.stderr
    found = retriever.search(question, "acme", 5)
    assert found[0].source_id == "HOME-7.7" and store.reopened == 1
    assert "burst" in retriever.vocabulary("acme") and "burst" not in before
    assert retriever.search(question, "acme", 5)[0].source_id == "HOME-7.7" and store.reopened == 1  # no change, no reopen


async def test_the_shipped_answerability_model_refuses_with_real_retrieval(handbook_store, embedder):
    grounder = Grounder(RagSettings(answerability=True, min_score=0.0), Path("/x"),
                        ChromaRetriever(handbook_store, embedder))
    answerable = await grounder.ground("What excess will I pay if the river floods my house?", "acme")
    assert not answerable.not_found and answerable.sources[0].clause == "HOME-2.3"
    assert answerable.unanswerable is not None and answerable.unanswerable < grounder.answerability.threshold
    off_topic = await grounder.ground("How much does the yacht insurance cost per month?", "acme")
    assert off_topic.not_found and off_topic.unanswerable >= grounder.answerability.threshold
    assert {why for _, why in off_topic.dropped} == {"unanswerable"}
