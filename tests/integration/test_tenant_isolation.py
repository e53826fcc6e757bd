"""Tenant isolation with the real parts: chat (policy layers), RAG (ONNX MiniLM + embedded Chroma), review
(SQLite store through the API) and export (`keel feedback export --tenant`). A tenant comes from the key
only; nothing in a request body can name another tenant."""

from __future__ import annotations

import io
import json
from pathlib import Path

import httpx
import openai
import pytest
import yaml

from alignment.registry import keel_home
from gateway.app import create_app
from gateway.auth import KeyStore
from gateway.review.export import export
from gateway.review.store import NewItem, ReviewStore, Verdict
from gateway.settings import Settings
from rag.chunking import Document
from rag.config import RagSettings
from rag.embeddings import load_embedder
from rag.ingest import ingest_documents
from rag.retriever import ChromaRetriever
from rag.store import ChunkStore, connect
from tests.fakes import FakeBackend

MODEL = "fake-model"
ACME_DOC = "### ACME-1 Refunds\n\nAcme pays refunds within 14 days, back to the card used for the purchase.\n"
GLOBEX_DOC = "### GLX-1 Refunds\n\nGlobex pays refunds within 30 days, as store credit only.\n"
REFUNDS = [{"role": "user", "content": "How long do refunds take, and how are they paid?"}]
# Everything a client might try in order to read another tenant's data: none of it may change the tenant.
SPOOF = {"user": "globex", "metadata": {"tenant": "globex"}, "tenant": "globex", "keel": {"tenant": "globex"}}


@pytest.fixture(scope="module")
def knowledge(tmp_path_factory: pytest.TempPathFactory) -> ChromaRetriever:
    """Two tenants whose knowledge bases answer the same question differently."""
    embedder = load_embedder(keel_home(), threads=1)
    store = ChunkStore(connect(tmp_path_factory.mktemp("chroma")))
    ingest_documents([Document(ACME_DOC, source="acme-refunds.md")], "acme", store, embedder)
    ingest_documents([Document(GLOBEX_DOC, source="globex-refunds.md")], "globex", store, embedder)
    return ChromaRetriever(store, embedder)


@pytest.fixture
def keys(tmp_path: Path) -> dict[str, str]:
    store = KeyStore(tmp_path / "keys.yaml")
    return {"acme": store.add("acme", ["user"])[0], "globex": store.add("globex", ["user"])[0]}


def _client(app, key: str) -> openai.AsyncOpenAI:
    http = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://keel")
    return openai.AsyncOpenAI(base_url="http://keel/v1", api_key=key, http_client=http, max_retries=0)


def _prompt(backend: FakeBackend) -> str:
    return "\n".join(m.content for m in backend.requests[-1].messages)


async def test_rag_gives_each_tenant_only_its_own_chunks(tmp_path, keys, knowledge):
    settings = Settings.load(None, keys_file=tmp_path / "keys.yaml", model="tiny-random", home=tmp_path,
                             rag=RagSettings(enabled=True))
    backend = FakeBackend(["Refunds take a while [1]."])
    app = create_app(settings, backend=backend, model_id=MODEL, retriever=knowledge)

    acme = await _client(app, keys["acme"]).chat.completions.create(model=MODEL, messages=REFUNDS, extra_body=SPOOF)
    prompt = _prompt(backend)
    assert "14 days" in prompt and "30 days" not in prompt and "Globex" not in prompt and "GLX" not in prompt
    assert [c["clause"] for c in acme.model_extra["citations"]] == ["ACME-1"]

    globex = await _client(app, keys["globex"]).chat.completions.create(model=MODEL, messages=REFUNDS)
    prompt = _prompt(backend)
    assert "30 days" in prompt and "14 days" not in prompt and "Acme" not in prompt and "ACME" not in prompt
    assert [c["clause"] for c in globex.model_extra["citations"]] == ["GLX-1"]

    # A question only the other tenant's knowledge base answers finds nothing at all.
    calls = len(backend.requests)
    stray = await _client(app, keys["acme"]).chat.completions.create(
        model=MODEL, messages=[{"role": "user", "content": "Does Globex pay refunds as store credit?"}])
    assert all((c["clause"] or "").startswith("ACME") for c in stray.model_extra["citations"])
    if len(backend.requests) > calls:
        assert "Globex pays" not in _prompt(backend)


async def test_chat_policy_layers_stay_with_their_tenant(tmp_path, keys):
    policies = tmp_path / "policies"
    (policies / "tenants").mkdir(parents=True)
    (policies / "platform.yaml").write_text(yaml.safe_dump({"prompt": "You are Keel.", "guards": {}}))
    (policies / "tenants" / "globex.yaml").write_text(yaml.safe_dump({"prompt": "GLOBEX-INTERNAL: staff codes 7731."}))
    settings = Settings.load(None, keys_file=tmp_path / "keys.yaml", model="tiny-random", home=tmp_path,
                             guards={"enabled": True, "policies": str(policies), "warm": False})
    backend = FakeBackend()
    app = create_app(settings, backend=backend, model_id=MODEL)

    await _client(app, keys["acme"]).chat.completions.create(model=MODEL, messages=REFUNDS, extra_body=SPOOF)
    assert "You are Keel." in _prompt(backend) and "GLOBEX" not in _prompt(backend) and "7731" not in _prompt(backend)
    await _client(app, keys["globex"]).chat.completions.create(model=MODEL, messages=REFUNDS)
    assert "GLOBEX-INTERNAL" in _prompt(backend)


def _decided(store: ReviewStore, key: str, tenant: str, answer: str) -> str:
    item, _ = store.submit(NewItem(key, tenant, "escalation", [{"role": "user", "content": f"{tenant} question"}],
                                   [f"{tenant} flagged answer"], reason="test"))
    store.claim(item, tenant, "reviewer")
    store.decide(item, tenant, "reviewer", Verdict("edit", answer=answer))
    return item


def test_a_tenants_export_holds_only_its_own_items(tmp_path):
    store = ReviewStore(f"sqlite:///{tmp_path / 'review.db'}")
    store.migrate()
    _decided(store, "a1", "acme", "Acme's corrected answer.")
    _decided(store, "g1", "globex", "Globex's corrected answer.")
    _decided(store, "g2", "globex", "Another Globex answer.")

    acme = io.StringIO()
    assert export(store, acme, tenant="acme") == (1, 1)
    records = [json.loads(line) for line in acme.getvalue().splitlines()]
    assert [r["meta"]["tenant"] for r in records] == ["acme"]
    assert "globex" not in acme.getvalue().lower()

    # acme's export took nothing of globex's: globex's own export still has both of its items.
    globex = io.StringIO()
    assert export(store, globex, tenant="globex") == (2, 2)
    assert {json.loads(line)["meta"]["tenant"] for line in globex.getvalue().splitlines()} == {"globex"}
    assert "acme" not in globex.getvalue().lower()
    assert export(store, io.StringIO()) == (0, 0)  # the operator's unscoped export: all taken already
    store.close()


def test_the_export_cli_takes_a_tenant(tmp_path, capsys, monkeypatch):
    from gateway.cli import main

    store = ReviewStore(f"sqlite:///{tmp_path / 'review.db'}")
    store.migrate()
    _decided(store, "a1", "acme", "Acme's corrected answer.")
    _decided(store, "g1", "globex", "Globex's corrected answer.")
    store.close()
    monkeypatch.setenv("KEEL_HOME", str(tmp_path))
    assert main(["feedback", "export", "--tenant", "globex"]) == 0
    out = capsys.readouterr().out
    assert [json.loads(line)["meta"]["tenant"] for line in out.splitlines()] == ["globex"]
    assert "Acme" not in out
