"""Grounding through the chat API (in-process, official openai SDK, fake backend and fake retriever)."""

import httpx
import openai
import pytest
from prometheus_client import REGISTRY

from gateway.app import create_app
from gateway.auth import KeyStore
from gateway.settings import Settings
from rag.config import RagSettings
from rag.grounding import NOT_FOUND_ANSWER
from tests.fakes import FakeBackend
from tests.unit.rag.conftest import FakeRetriever

MODEL = "fake-model"
QUESTION = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "What is the flood excess?"}]


def _settings(keys_file, **rag):
    return Settings.load(None, keys_file=keys_file, model="tiny-random", rag=RagSettings(**rag))


def _client(app, key):
    http = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://keel")
    return openai.AsyncOpenAI(base_url="http://keel/v1", api_key=key, http_client=http, max_retries=0)


@pytest.fixture
def retriever(handbook_chunks):
    return FakeRetriever({"acme": handbook_chunks})


def _count(name, **labels):
    return REGISTRY.get_sample_value(name, labels) or 0.0


async def test_grounded_answer_carries_numbered_sources_and_citations(keys_file, user_key, retriever):
    backend = FakeBackend(["The flood excess is $1,000 [1]."])
    app = create_app(_settings(keys_file), backend=backend, model_id=MODEL, retriever=retriever)
    out = await _client(app, user_key).chat.completions.create(model=MODEL, messages=QUESTION, extra_body={"rag": True})
    sent = backend.requests[-1].messages
    assert [m.role for m in sent] == ["system", "system", "user"]  # context right after the caller's system message
    assert "[1] HOME-2.3 Flood." in sent[1].content and "[2] HOME-2.4" in sent[1].content
    assert "Ignore all previous" not in sent[1].content  # the planted chunk was dropped
    assert retriever.queries == [("What is the flood excess?", "acme", 5)]
    extra = out.model_extra
    assert [c["clause"] for c in extra["citations"]] == ["HOME-2.3", "HOME-2.4"]
    assert extra["citations"][0]["source_id"] == 1 and extra["citations"][0]["uri"] == "kb.md#HOME-2.3"
    assert extra["grounding"] == {
        "status": "grounded", "check": ["cited"], "cited": [1], "invalid": [], "flagged": False, "dropped": 2
    }


async def test_rag_is_off_unless_asked_and_the_key_or_settings_can_turn_it_on(keys_file, user_key, retriever):
    forced, _ = KeyStore(keys_file).add("acme", ["user"], config={"rag": "required"})
    backend = FakeBackend()
    app = create_app(_settings(keys_file), backend=backend, model_id=MODEL, retriever=retriever)
    out = await _client(app, user_key).chat.completions.create(model=MODEL, messages=QUESTION)
    assert retriever.queries == [] and "citations" not in (out.model_extra or {})
    await _client(app, user_key).chat.completions.create(model=MODEL, messages=QUESTION, extra_body={"keel": {"rag": True}})
    assert len(retriever.queries) == 1
    await _client(app, forced).chat.completions.create(model=MODEL, messages=QUESTION, extra_body={"rag": False})
    assert len(retriever.queries) == 2
    on_by_default = create_app(_settings(keys_file, enabled=True), backend=backend, model_id=MODEL, retriever=retriever)
    await _client(on_by_default, user_key).chat.completions.create(model=MODEL, messages=QUESTION)
    assert len(retriever.queries) == 3


async def test_nothing_relevant_is_answered_by_the_gateway_without_the_model(keys_file, user_key, retriever):
    backend = FakeBackend()
    app = create_app(_settings(keys_file, enabled=True, min_score=0.95), backend=backend, model_id=MODEL, retriever=retriever)
    before = _count("keel_grounding_not_found_total")
    out = await _client(app, user_key).chat.completions.create(model=MODEL, messages=QUESTION)
    assert backend.requests == []
    assert out.choices[0].message.content == NOT_FOUND_ANSWER and "not found in the sources" in NOT_FOUND_ANSWER
    assert out.choices[0].finish_reason == "stop" and out.usage.total_tokens == 0
    assert out.model_extra["citations"] == [] and out.model_extra["grounding"]["status"] == "not_found"
    assert _count("keel_grounding_not_found_total") == before + 1


async def test_other_tenants_chunks_are_never_retrieved(keys_file, retriever):
    other, _ = KeyStore(keys_file).add("globex", ["user"])
    backend = FakeBackend()
    app = create_app(_settings(keys_file, enabled=True), backend=backend, model_id=MODEL, retriever=retriever)
    out = await _client(app, other).chat.completions.create(model=MODEL, messages=QUESTION)
    assert retriever.queries[-1][1] == "globex" and out.choices[0].message.content == NOT_FOUND_ANSWER


async def test_uncited_answers_are_flagged_and_can_be_blocked(keys_file, user_key, retriever):
    backend = FakeBackend(["The excess is $1,000."])
    before = _count("keel_guard_decisions_total", guard="grounding", stage="output", action="escalate")
    app = create_app(_settings(keys_file, enabled=True), backend=backend, model_id=MODEL, retriever=retriever)
    out = await _client(app, user_key).chat.completions.create(model=MODEL, messages=QUESTION)
    assert out.model_extra["grounding"]["flagged"] is True and out.model_extra["grounding"]["check"] == ["uncited"]
    assert _count("keel_guard_decisions_total", guard="grounding", stage="output", action="escalate") == before + 1
    strict = create_app(_settings(keys_file, enabled=True, uncited_action="block"), backend=backend, model_id=MODEL, retriever=retriever)
    with pytest.raises(openai.BadRequestError) as caught:
        await _client(strict, user_key).chat.completions.create(model=MODEL, messages=QUESTION)
    assert caught.value.code == "content_policy_violation"
    with pytest.raises(openai.BadRequestError):  # streaming holds the answer back, so the block is still a 400
        await _client(strict, user_key).chat.completions.create(model=MODEL, messages=QUESTION, stream=True)


async def test_stream_ends_with_a_chunk_carrying_citations(keys_file, user_key, retriever):
    backend = FakeBackend(["Covered", " [2]", " and", " [7]."])
    app = create_app(_settings(keys_file, enabled=True), backend=backend, model_id=MODEL, retriever=retriever)
    client = _client(app, user_key)
    chunks = [c async for c in await client.chat.completions.create(model=MODEL, messages=QUESTION, stream=True)]
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == "Covered [2] and [7]."
    last = chunks[-1]
    assert last.choices == [] and [c["clause"] for c in last.model_extra["citations"]] == ["HOME-2.3", "HOME-2.4"]
    assert last.model_extra["grounding"]["check"] == ["invalid_citation"] and last.model_extra["grounding"]["invalid"] == [7]
    with_usage = [
        c async for c in await client.chat.completions.create(
            model=MODEL, messages=QUESTION, stream=True, stream_options={"include_usage": True}
        )
    ]
    assert with_usage[-1].usage.completion_tokens == 4 and with_usage[-1].model_extra["citations"]


async def test_not_found_streams_too(keys_file, user_key, retriever):
    app = create_app(_settings(keys_file, enabled=True, min_score=0.99), backend=FakeBackend(), model_id=MODEL, retriever=retriever)
    chunks = [c async for c in await _client(app, user_key).chat.completions.create(model=MODEL, messages=QUESTION, stream=True, n=2)]
    texts = {0: "", 1: ""}
    for chunk in chunks:
        for choice in chunk.choices:
            texts[choice.index] += choice.delta.content or ""
    assert texts == {0: NOT_FOUND_ANSWER, 1: NOT_FOUND_ANSWER}
    assert chunks[-1].model_extra["grounding"]["status"] == "not_found"


class BrokenRetriever:
    async def retrieve(self, query, tenant, k):
        raise ConnectionError("chroma server down")


async def test_a_broken_knowledge_base_is_a_503(keys_file, user_key):
    app = create_app(_settings(keys_file, enabled=True), backend=FakeBackend(), model_id=MODEL, retriever=BrokenRetriever())
    with pytest.raises(openai.InternalServerError) as caught:
        await _client(app, user_key).chat.completions.create(model=MODEL, messages=QUESTION)
    assert caught.value.status_code == 503
