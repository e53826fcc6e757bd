"""Tenant isolation and citations through the chat API, with real retrieval (embedded Chroma, ONNX MiniLM)."""

import httpx
import openai

from gateway.app import create_app
from gateway.auth import KeyStore
from gateway.settings import Settings
from rag.config import RagSettings
from rag.grounding import NOT_FOUND_ANSWER
from rag.retriever import ChromaRetriever
from tests.fakes import FakeBackend

MODEL = "fake-model"
FLOOD = [{"role": "user", "content": "What excess will I pay if the river floods my house?"}]


def _client(app, key):
    http = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://keel")
    return openai.AsyncOpenAI(base_url="http://keel/v1", api_key=key, http_client=http, max_retries=0)


async def test_each_tenant_is_answered_from_its_own_knowledge_base(tmp_path, handbook_store, embedder):
    keys = KeyStore(tmp_path / "keys.yaml")
    acme, _ = keys.add("acme", ["user"])
    globex, _ = keys.add("globex", ["user"])
    settings = Settings.load(None, keys_file=tmp_path / "keys.yaml", model="tiny-random", rag=RagSettings(enabled=True))
    backend = FakeBackend(["A $1,000 flood excess applies [1]."])
    app = create_app(settings, backend=backend, model_id=MODEL, retriever=ChromaRetriever(handbook_store, embedder))

    out = await _client(app, acme).chat.completions.create(model=MODEL, messages=FLOOD)
    citations = out.model_extra["citations"]
    assert citations[0]["clause"] == "HOME-2.3" and citations[0]["source_id"] == 1
    assert "[1] HOME-2.3 Flood" in backend.requests[-1].messages[0].content

    calls = len(backend.requests)
    other = await _client(app, globex).chat.completions.create(model=MODEL, messages=FLOOD)
    assert other.choices[0].message.content == NOT_FOUND_ANSWER and len(backend.requests) == calls
    assert all("HOME" not in (c["clause"] or "") for c in other.model_extra["citations"])
