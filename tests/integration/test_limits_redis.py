"""Rate limits shared through the real Redis server every machine of this project runs."""

import os
import socket

import httpx
import pytest

from gateway.app import create_app
from tests.fakes import FakeBackend

REDIS_URL = os.environ.get("KEEL_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
BODY = {"model": "fake-model", "messages": [{"role": "user", "content": "hi"}]}


def _redis_up() -> bool:
    try:
        with socket.create_connection(("127.0.0.1", 6379), timeout=1):
            return True
    except OSError:
        return False


@pytest.fixture(autouse=True)
def need_redis():
    if not _redis_up():
        if os.environ.get("CI") == "true":
            pytest.fail("Redis is not reachable on 127.0.0.1:6379 and CI=true: it must run in CI")
        pytest.skip("Redis is not reachable on 127.0.0.1:6379")


async def test_two_gateways_share_one_limit(settings, user_key):
    # Two gateways with nothing in common but the Redis server, as two processes would be.
    shared = settings.model_copy(update={"rate_limit_rpm": 3, "redis_url": REDIS_URL})
    apps = [create_app(shared, backend=FakeBackend(), model_id="fake-model") for _ in range(2)]
    clients = [httpx.AsyncClient(transport=httpx.ASGITransport(app=a), base_url="http://keel") for a in apps]
    headers = {"Authorization": f"Bearer {user_key}"}
    codes = []
    for i in range(5):
        codes.append((await clients[i % 2].post("/v1/chat/completions", json=BODY, headers=headers)).status_code)
    assert codes == [200, 200, 200, 429, 429]
    for a in apps:
        await a.state.limiter.store.aclose()


async def test_concurrency_slots_are_shared_and_released(settings, user_key):
    import asyncio

    shared = settings.model_copy(update={"rate_limit_concurrency": 1, "redis_url": REDIS_URL})
    a = create_app(shared, backend=FakeBackend(delay=0.05), model_id="fake-model")
    b = create_app(shared, backend=FakeBackend(), model_id="fake-model")
    ca = httpx.AsyncClient(transport=httpx.ASGITransport(app=a), base_url="http://keel")
    cb = httpx.AsyncClient(transport=httpx.ASGITransport(app=b), base_url="http://keel")
    headers = {"Authorization": f"Bearer {user_key}"}
    first = asyncio.create_task(ca.post("/v1/chat/completions", json=BODY | {"stream": True}, headers=headers))
    await asyncio.sleep(0.08)
    assert (await cb.post("/v1/chat/completions", json=BODY, headers=headers)).status_code == 429
    assert (await first).status_code == 200
    assert (await cb.post("/v1/chat/completions", json=BODY, headers=headers)).status_code == 200
    for app in (a, b):
        await app.state.limiter.store.aclose()
