"""Deadlines on the real embedded backend (tiny random model): a hung forward pass gives 504 / a final timeout
event, the cancelled request leaves the engine, and the engine serves the next request once the forward returns."""

import asyncio
import json
import threading

import httpx
import pytest

from gateway.app import create_app
from gateway.backends.base import GenerationRequest, Message
from gateway.backends.supervised import SupervisedBackend
from gateway.backends.transformers import EngineOptions, TransformersBackend
from gateway.errors import BackendTimeout

MODEL = "tiny-random"


class Stall:
    """Wraps the model's forward: from forward number ``after`` on, it blocks until released."""

    def __init__(self, model, after: int) -> None:
        self.model, self.original, self.after = model, model.forward, after
        self.calls = 0
        self.released = threading.Event()
        model.forward = self

    def __call__(self, *args, **kwargs):
        self.calls += 1
        if self.calls >= self.after:
            self.released.wait(60)
        return self.original(*args, **kwargs)

    def release(self) -> None:
        self.released.set()
        self.model.forward = self.original


@pytest.fixture
async def backend(tiny_model_dir):
    b = TransformersBackend(tiny_model_dir, EngineOptions(max_batch_size=4, batch_window_ms=0))
    await b.start()
    yield b
    await b.aclose()


def _req(**kw) -> GenerationRequest:
    return GenerationRequest(messages=[Message("user", "hello")], **({"max_tokens": 6, "temperature": 0} | kw))


async def _engine_idle(backend) -> None:
    while backend.engine._seqs or backend.engine.waiting:  # the cancelled rows leave at the next step
        await asyncio.sleep(0.01)


async def test_a_hung_forward_times_out_and_the_engine_recovers(backend):
    supervised = SupervisedBackend(backend, timeout_s=0.3)
    stall = Stall(backend.engine.model, after=1)  # the prefill itself hangs
    try:
        with pytest.raises(BackendTimeout, match="an answer"):
            await supervised.generate(_req())
    finally:
        stall.release()
    async with asyncio.timeout(60):
        await _engine_idle(backend)
    out = await SupervisedBackend(backend, timeout_s=60).generate(_req())  # a loaded CI machine is slow
    assert out.completion_tokens == 6 and out.choices[0].finish_reason == "length"


async def test_a_stream_stalled_midway_times_out_after_its_first_tokens(backend):
    # The deadline must outlast a normal step on a busy machine: only the stall (unbounded) may trip it.
    supervised = SupervisedBackend(backend, timeout_s=5)
    stall = Stall(backend.engine.model, after=3)  # prefill and one decode step run: two tokens, then a hang
    received = []
    try:
        with pytest.raises(BackendTimeout, match="next token"):
            async for delta in supervised.stream(_req(max_tokens=50)):
                received.append(delta)
    finally:
        stall.release()
    assert len(received) == 2 and all(d.finish_reason is None for d in received)
    async with asyncio.timeout(60):
        await _engine_idle(backend)
    assert (await SupervisedBackend(backend, timeout_s=60).generate(_req())).completion_tokens == 6


async def test_through_the_app_a_hung_model_is_a_504_and_then_serves_again(backend, settings, user_key):
    app = create_app(settings.model_copy(update={"request_timeout_s": 3}), backend=backend, model_id=MODEL)
    http = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://keel")
    body = {"model": MODEL, "messages": [{"role": "user", "content": "hello"}], "max_tokens": 6}
    headers = {"Authorization": f"Bearer {user_key}"}
    stall = Stall(backend.engine.model, after=1)
    try:
        async with asyncio.timeout(60):
            hung = await http.post("/v1/chat/completions", json=body, headers=headers)
            hung_stream = await http.post("/v1/chat/completions", json=body | {"stream": True}, headers=headers)
    finally:
        stall.release()
    for response in (hung, hung_stream):
        assert response.status_code == 504 and response.json()["error"]["type"] == "timeout"
    async with asyncio.timeout(60):
        await _engine_idle(backend)
        ok = await http.post("/v1/chat/completions", json=body | {"stream": True}, headers=headers)
    events = [line[6:] for line in ok.text.splitlines() if line.startswith("data: ")]
    assert events[-1] == "[DONE]" and "error" not in events[-2]
    assert json.loads(events[-2])["choices"][0]["finish_reason"] == "length"
