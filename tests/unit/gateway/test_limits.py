"""Per-key rate limits through the HTTP app (in-memory counters)."""

import asyncio

import httpx
import pytest

from gateway.app import create_app
from gateway.auth import KeyStore
from tests.fakes import FakeBackend

MODEL = "fake-model"
BODY = {"model": MODEL, "messages": [{"role": "user", "content": "hi"}]}


def _app(settings, backend=None, **limits):
    return create_app(settings.model_copy(update=limits), backend=backend or FakeBackend(), model_id=MODEL)


def _client(app):
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://keel")


def _auth(key):
    return {"Authorization": f"Bearer {key}"}


async def test_requests_per_minute(settings, user_key, keys_file):
    other, _ = KeyStore(keys_file).add("acme", ["user"])
    async with _client(_app(settings, rate_limit_rpm=2)) as http:
        codes = [(await http.post("/v1/chat/completions", json=BODY, headers=_auth(user_key))).status_code for _ in range(3)]
        assert codes == [200, 200, 429]
        refused = await http.post("/v1/chat/completions", json=BODY, headers=_auth(user_key))
        assert refused.json()["error"]["type"] == "rate_limit_error"
        assert 1 <= int(refused.headers["retry-after"]) <= 60
        # Limits are per key.
        assert (await http.post("/v1/chat/completions", json=BODY, headers=_auth(other))).status_code == 200


async def test_a_keys_own_limits_override_the_default(settings, keys_file):
    key, _ = KeyStore(keys_file).add("acme", ["user"], config={"limits": {"rpm": 1}})
    async with _client(_app(settings, rate_limit_rpm=100)) as http:
        assert (await http.post("/v1/chat/completions", json=BODY, headers=_auth(key))).status_code == 200
        assert (await http.post("/v1/chat/completions", json=BODY, headers=_auth(key))).status_code == 429


async def test_tokens_per_minute(settings, user_key):
    # The fake reports 7 prompt + 5 completion tokens per request: the second request crosses 20.
    async with _client(_app(settings, rate_limit_tpm=20)) as http:
        codes = [(await http.post("/v1/chat/completions", json=BODY, headers=_auth(user_key))).status_code for _ in range(3)]
        assert codes == [200, 200, 429]


async def test_concurrency_is_held_for_the_whole_stream(settings, user_key):
    slow = FakeBackend(delay=0.05)
    async with _client(_app(settings, backend=slow, rate_limit_concurrency=1)) as http:
        stream_body = BODY | {"stream": True}

        async def consume():
            async with http.stream("POST", "/v1/chat/completions", json=stream_body, headers=_auth(user_key)) as r:
                assert r.status_code == 200
                return [line async for line in r.aiter_lines()]

        first = asyncio.create_task(consume())
        await asyncio.sleep(0.08)  # the first stream is mid-way
        second = await http.post("/v1/chat/completions", json=BODY, headers=_auth(user_key))
        assert second.status_code == 429
        assert "concurrent" in second.json()["error"]["message"]
        lines = await first
        assert "data: [DONE]" in lines
        # The slot is free again once the stream has ended.
        assert (await http.post("/v1/chat/completions", json=BODY, headers=_auth(user_key))).status_code == 200


async def test_refusals_are_counted_by_tenant(settings, user_key):
    from prometheus_client import REGISTRY

    before = REGISTRY.get_sample_value("keel_rate_limited_total", {"tenant": "acme"}) or 0
    async with _client(_app(settings, rate_limit_rpm=1)) as http:
        for _ in range(3):
            await http.post("/v1/chat/completions", json=BODY, headers=_auth(user_key))
    assert REGISTRY.get_sample_value("keel_rate_limited_total", {"tenant": "acme"}) == before + 2


@pytest.mark.parametrize("limit", ["rate_limit_rpm", "rate_limit_tpm", "rate_limit_concurrency"])
async def test_zero_means_unlimited(settings, user_key, limit):
    async with _client(_app(settings, **{limit: 0})) as http:
        for _ in range(5):
            assert (await http.post("/v1/chat/completions", json=BODY, headers=_auth(user_key))).status_code == 200


async def test_a_burst_cannot_double_up_across_a_bucket_boundary(settings, user_key, monkeypatch):
    import gateway.limits as limits_mod

    clock = {"now": 60 * 1000 + 59.9}  # 0.1 s before a bucket ends
    monkeypatch.setattr(limits_mod.time, "time", lambda: clock["now"])
    async with _client(_app(settings, rate_limit_rpm=2)) as http:
        post = lambda: http.post("/v1/chat/completions", json=BODY, headers=_auth(user_key))  # noqa: E731
        assert [(await post()).status_code for _ in range(2)] == [200, 200]
        clock["now"] += 0.2  # the next bucket has started: the previous one still weighs ~100 %
        assert (await post()).status_code == 429
        clock["now"] += 59.5  # most of the previous bucket has slid out of the window
        assert (await post()).status_code == 200
