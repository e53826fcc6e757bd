"""The HTTP contract, driven in-process with the official openai SDK against a fake backend."""

import json
import logging

import httpx
import openai
import pytest

from gateway.app import create_app
from gateway.auth import KeyStore
from gateway.errors import BackendOverloaded
from tests.fakes import FakeBackend

MODEL = "fake-model"


@pytest.fixture
def backend():
    return FakeBackend()


@pytest.fixture
def app(settings, backend):
    return create_app(settings, backend=backend, model_id=MODEL)


@pytest.fixture
def http(app):
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://keel")


@pytest.fixture
def client(http, user_key):
    return openai.AsyncOpenAI(base_url="http://keel/v1", api_key=user_key, http_client=http, max_retries=0)


def _msg(text="hi"):
    return [{"role": "user", "content": text}]


async def test_completion_round_trip(client, backend):
    out = await client.chat.completions.create(model=MODEL, messages=_msg(), max_tokens=3, seed=5, temperature=0.2)
    assert out.choices[0].message.content == "Hello from the"
    assert out.choices[0].finish_reason == "length"
    assert out.usage.prompt_tokens == 7 and out.usage.completion_tokens == 3 and out.usage.total_tokens == 10
    sent = backend.requests[-1]
    assert (sent.max_tokens, sent.seed, sent.temperature) == (3, 5, 0.2)


async def test_stream_reassembles_with_role_first_and_usage_last(client):
    stream = await client.chat.completions.create(
        model=MODEL, messages=_msg(), stream=True, stream_options={"include_usage": True}
    )
    chunks = [c async for c in stream]
    assert chunks[0].choices[0].delta.role == "assistant"
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "Hello from the fake model."
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "stop"
    assert chunks[-1].choices == [] and chunks[-1].usage.completion_tokens == 5
    assert len({c.id for c in chunks}) == 1


async def test_n_choices_streamed_by_index(client):
    stream = await client.chat.completions.create(model=MODEL, messages=_msg(), stream=True, n=2)
    texts = {0: "", 1: ""}
    async for chunk in stream:
        for choice in chunk.choices:
            texts[choice.index] += choice.delta.content or ""
    assert texts == {0: "Hello from the fake model.", 1: "Hello from the fake model."}


async def test_models_lists_the_served_model(client):
    models = await client.models.list()
    assert [m.id for m in models.data] == [MODEL]
    assert (await client.models.retrieve(MODEL)).id == MODEL
    with pytest.raises(openai.NotFoundError):
        await client.models.retrieve("other")


async def test_bad_key_is_authentication_error(http):
    bad = openai.AsyncOpenAI(base_url="http://keel/v1", api_key="sk-keel-nope", http_client=http, max_retries=0)
    with pytest.raises(openai.AuthenticationError) as info:
        await bad.chat.completions.create(model=MODEL, messages=_msg())
    assert info.value.body["code"] == "invalid_api_key"


async def test_missing_key_is_401_even_with_a_bad_body(http):
    r = await http.post("/v1/chat/completions", content=b"{oops")
    assert r.status_code == 401
    assert r.json()["error"]["type"] == "authentication_error"


async def test_unknown_model_is_not_found(client):
    with pytest.raises(openai.NotFoundError) as info:
        await client.chat.completions.create(model="gpt-9", messages=_msg())
    assert info.value.body["code"] == "model_not_found"


async def test_model_outside_the_keys_allowlist_is_403(http, keys_file):
    key, _ = KeyStore(keys_file).add("acme", ["user"], models=["something-else"])
    limited = openai.AsyncOpenAI(base_url="http://keel/v1", api_key=key, http_client=http, max_retries=0)
    with pytest.raises(openai.PermissionDeniedError):
        await limited.chat.completions.create(model=MODEL, messages=_msg())
    assert (await limited.models.list()).data == []


@pytest.mark.parametrize(
    "body",
    [b"{not json", b"[]", b"null", b'{"model": "fake-model"}', b'{"model": "fake-model", "messages": "hi"}',
     b'{"model": "fake-model", "messages": [{"role": "user", "content": 5}]}',
     b'{"model": "fake-model", "messages": [{"role": "user", "content": "x"}], "temperature": "hot"}',
     b'{"model": "fake-model", "messages": [{"role": "user", "content": "x"}], "n": 1000}',
     "{\"model\": \"fake-model\", \"messages\": [{\"role\": \"user\", \"content\": \"\ud800\"}]}".encode("utf-8", "surrogatepass")],
)
async def test_malformed_bodies_are_400_never_500(http, user_key, body):
    r = await http.post("/v1/chat/completions", content=body, headers={"Authorization": f"Bearer {user_key}"})
    assert r.status_code == 400, r.text
    error = r.json()["error"]
    assert error["type"] == "invalid_request_error" and error["message"]


async def test_sdk_raises_bad_request_for_invalid_parameter(client):
    with pytest.raises(openai.BadRequestError) as info:
        await client.chat.completions.create(model=MODEL, messages=_msg(), temperature=3)
    assert info.value.body["param"] == "temperature"


async def test_unknown_extra_parameters_are_accepted(client):
    out = await client.chat.completions.create(
        model=MODEL, messages=_msg(), extra_body={"logprobs": False, "vendor_knob": 3}, response_format={"type": "json_object"}
    )
    assert out.choices[0].message.content


async def test_body_over_the_limit_is_413(http, user_key, settings):
    big = json.dumps({"model": MODEL, "messages": _msg("x" * (settings.max_body_bytes + 10))})
    r = await http.post("/v1/chat/completions", content=big, headers={"Authorization": f"Bearer {user_key}"})
    assert r.status_code == 413
    assert r.json()["error"]["code"] == "request_too_large"


async def test_backend_overload_is_503_with_retry_after(settings, user_key):
    app = create_app(settings, backend=FakeBackend(fail_with=BackendOverloaded("queue full")), model_id=MODEL)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://keel") as http:
        for stream in (False, True):
            r = await http.post(
                "/v1/chat/completions",
                json={"model": MODEL, "messages": _msg(), "stream": stream},
                headers={"Authorization": f"Bearer {user_key}"},
            )
            assert r.status_code == 503
            assert r.headers["retry-after"] == "1"
            assert r.json()["error"]["code"] == "backend_overloaded"


async def test_unknown_route_and_method_get_openai_errors(http):
    r = await http.get("/v1/nothing")
    assert r.status_code == 404 and r.json()["error"]["code"] == "not_found"
    r = await http.delete("/health")
    assert r.status_code == 405 and "error" in r.json()


async def test_request_id_is_echoed_or_assigned(http):
    r = await http.get("/health", headers={"X-Request-Id": "abc-123"})
    assert r.headers["x-request-id"] == "abc-123"
    r = await http.get("/health", headers={"X-Request-Id": "bad id\nwith newline"})
    assert r.headers["x-request-id"] != "bad id\nwith newline" and len(r.headers["x-request-id"]) == 32


async def test_health_ready_and_metrics(http, client, backend):
    assert (await http.get("/health")).json() == {"status": "ok"}
    assert (await http.get("/ready")).status_code == 200
    await client.chat.completions.create(model=MODEL, messages=_msg())
    r = await http.get("/metrics")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/plain")
    text = r.text
    assert f'keel_requests_total{{model="{MODEL}",route="/v1/chat/completions",status="200"}}' in text
    for name in ("keel_request_duration_seconds_bucket", "keel_tokens_total", "keel_in_flight_requests",
                 "keel_gateway_overhead_seconds_bucket"):
        assert name in text
    backend.ready = False
    assert (await http.get("/ready")).status_code == 503


async def test_stream_ttft_is_recorded(client):
    stream = await client.chat.completions.create(model=MODEL, messages=_msg(), stream=True)
    async for _ in stream:
        pass
    from prometheus_client import REGISTRY

    assert REGISTRY.get_sample_value("keel_time_to_first_token_seconds_count", {"model": MODEL}) >= 1


async def test_keys_never_appear_in_logs(client, user_key, http, caplog):
    caplog.set_level(logging.DEBUG)
    await client.chat.completions.create(model=MODEL, messages=_msg("my secret text"))
    await http.post("/v1/chat/completions", json={}, headers={"Authorization": "Bearer sk-keel-leaked-guess"})
    logged = "\n".join(str(vars(r)) for r in caplog.records)
    assert user_key not in logged and "sk-keel-leaked-guess" not in logged
    assert "my secret text" not in logged
