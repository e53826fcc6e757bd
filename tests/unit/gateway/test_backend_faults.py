"""Backend faults through the HTTP app: exceptions, hangs and crashes become clean OpenAI errors (502/504, or a
final SSE error event then [DONE]) and the gateway goes on serving the next request."""

import asyncio
import json
import logging

import httpx
import openai
import pytest
from prometheus_client import REGISTRY

from gateway.app import create_app
from gateway.backends.base import Completion, CompletionChoice, Delta, GenerationRequest, Message
from gateway.backends.supervised import SupervisedBackend
from gateway.errors import BackendTimeout, BackendUnavailable

MODEL = "fake-model"
WORDS = ["Hello", " from", " the", " fake", " model."]


class ScriptedBackend:
    """A ``ModelBackend`` whose behaviour the last user message picks: ``hang``, ``hang-mid``, ``boom``,
    ``boom-mid``, ``drop-mid`` (the connection broke), anything else answers normally."""

    name = "scripted"

    def __init__(self) -> None:
        self.ready = True
        self.cancelled: list[str] = []  # scripts whose call was cancelled (the deadline or the client)
        self.hang = asyncio.Event()  # never set: a hang lasts until cancelled

    async def generate(self, request: GenerationRequest) -> Completion:
        script = request.messages[-1].content
        try:
            if script.startswith("hang"):
                await self.hang.wait()
            if script.startswith("boom"):
                raise RuntimeError("CUDA error: device-side assert triggered")
        except asyncio.CancelledError:
            self.cancelled.append(script)
            raise
        return Completion([CompletionChoice(0, "".join(WORDS), "stop")], prompt_tokens=3, completion_tokens=5)

    async def stream(self, request: GenerationRequest):
        script = request.messages[-1].content
        try:
            if script == "hang":
                await self.hang.wait()
            if script == "boom":
                raise RuntimeError("CUDA error: device-side assert triggered")
            for i, word in enumerate(WORDS):
                if i == 2 and script == "hang-mid":
                    await self.hang.wait()
                if i == 2 and script == "boom-mid":
                    raise ZeroDivisionError("division by zero")
                if i == 2 and script == "drop-mid":
                    raise BackendUnavailable("the upstream connection broke mid-stream")
                last = i == len(WORDS) - 1
                yield Delta(0, word, "stop" if last else None, 3 if last else None, 5 if last else None)
        except (asyncio.CancelledError, GeneratorExit):
            self.cancelled.append(script)
            raise


@pytest.fixture
def backend():
    return ScriptedBackend()


@pytest.fixture
def http(settings, backend):
    app = create_app(settings.model_copy(update={"request_timeout_s": 0.2}), backend=backend, model_id=MODEL)
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://keel", timeout=30)


async def _chat(http, key, script: str, stream: bool = False) -> httpx.Response:
    # In-process transports have no timeouts: without the gateway's deadline a hang would hang the test run.
    async with asyncio.timeout(30):
        return await http.post("/v1/chat/completions", headers={"Authorization": f"Bearer {key}"},
                               json={"model": MODEL, "messages": [{"role": "user", "content": script}], "stream": stream})


def _events(response: httpx.Response) -> list[str]:
    return [line.removeprefix("data: ") for line in response.text.splitlines() if line.startswith("data: ")]


def _errors(kind: str) -> float:
    return REGISTRY.get_sample_value("keel_backend_errors_total", {"backend": "scripted", "kind": kind}) or 0.0


async def test_a_hanging_backend_is_a_504_timeout_and_others_are_served_meanwhile(http, user_key, backend):
    before = _errors("deadline")
    hanging = asyncio.create_task(_chat(http, user_key, "hang"))
    served = await _chat(http, user_key, "hello")  # answered while the other request hangs
    assert served.status_code == 200 and served.json()["choices"][0]["message"]["content"] == "".join(WORDS)
    response = await hanging
    assert response.status_code == 504
    error = response.json()["error"]
    assert (error["type"], error["code"]) == ("timeout", "backend_timeout") and "0.2 s" in error["message"]
    assert backend.cancelled == ["hang"]  # the deadline cancelled the backend call: nothing keeps running
    assert _errors("deadline") == before + 1
    assert (await _chat(http, user_key, "again")).status_code == 200


async def test_a_stream_that_hangs_before_its_first_token_is_a_504(http, user_key, backend):
    response = await _chat(http, user_key, "hang", stream=True)
    assert response.status_code == 504 and response.json()["error"]["type"] == "timeout"
    assert backend.cancelled == ["hang"]


async def test_a_stream_that_hangs_midway_ends_with_an_error_event_then_done(http, user_key, backend):
    response = await _chat(http, user_key, "hang-mid", stream=True)
    assert response.status_code == 200
    events = _events(response)
    assert events[-1] == "[DONE]"
    error = json.loads(events[-2])["error"]
    assert (error["type"], error["code"]) == ("timeout", "backend_timeout") and "next token" in error["message"]
    text = "".join(json.loads(e)["choices"][0]["delta"].get("content") or "" for e in events[:-2])
    assert text == "Hello from"  # what was sent before the hang, nothing after
    assert backend.cancelled == ["hang-mid"]
    assert (await _chat(http, user_key, "again", stream=True)).status_code == 200


@pytest.mark.parametrize("stream", [False, True])
async def test_a_backend_exception_is_a_502_and_the_next_request_is_served(http, user_key, stream, caplog):
    before = _errors("exception")
    with caplog.at_level(logging.ERROR):
        response = await _chat(http, user_key, "boom", stream=stream)
    assert response.status_code == 502
    error = response.json()["error"]
    assert (error["type"], error["code"]) == ("server_error", "backend_error")
    assert "CUDA" not in error["message"]  # the client gets no internals; the log has them
    assert any(r.exc_info and "CUDA" in str(r.exc_info[1]) for r in caplog.records)
    assert _errors("exception") == before + 1
    assert (await _chat(http, user_key, "hello", stream=stream)).status_code == 200


@pytest.mark.parametrize(("script", "code"), [("boom-mid", "backend_error"), ("drop-mid", "backend_unavailable")])
async def test_a_failure_mid_stream_is_a_clean_final_error_event(http, user_key, script, code):
    response = await _chat(http, user_key, script, stream=True)
    assert response.status_code == 200
    events = _events(response)
    assert events[-1] == "[DONE]" and json.loads(events[-2])["error"]["code"] == code
    assert (await _chat(http, user_key, "hello", stream=True)).status_code == 200


async def test_the_sdk_raises_typed_errors(http, user_key):
    client = openai.AsyncOpenAI(base_url="http://keel/v1", api_key=user_key, http_client=http, max_retries=0)
    with pytest.raises(openai.InternalServerError) as timeout:
        async with asyncio.timeout(30):
            await client.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": "hang"}])
    assert timeout.value.status_code == 504
    stream = await client.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": "boom-mid"}],
                                                  stream=True)
    with pytest.raises(openai.APIError, match="backend failed"):
        async for _ in stream:
            pass


async def test_the_review_candidate_call_is_supervised_too(settings, backend):
    # Every path to the backend goes through the supervisor (the pipeline's backend is the wrapper).
    app = create_app(settings.model_copy(update={"request_timeout_s": 0.2}), backend=backend, model_id=MODEL)
    supervised = app.state.pipeline.backend
    assert supervised.backend is backend and supervised.ready is True
    with pytest.raises(BackendTimeout):
        async with asyncio.timeout(30):
            await supervised.generate(GenerationRequest(messages=[Message("user", "hang")]))


# --------------------------------------------------------------------------- the upstream backend's own faults


class _BreaksMidway(httpx.AsyncByteStream):
    """An SSE body that sends two words, then the connection drops (the upstream process died)."""

    async def __aiter__(self):
        for word in ("Hel", "lo"):
            chunk = {"object": "chat.completion.chunk", "choices": [{"index": 0, "delta": {"content": word}}]}
            yield f"data: {json.dumps(chunk)}\n\n".encode()
        raise httpx.RemoteProtocolError("peer closed connection without sending complete message body")


def _upstream_app(settings, handler):
    from gateway.backends.upstream import UpstreamBackend, UpstreamOptions

    async def no_sleep(seconds: float) -> None:
        return None

    options = UpstreamOptions(urls=["http://replica:8000"], model=MODEL, retries=1, health_interval_s=0)
    backend = UpstreamBackend(options, transport=httpx.MockTransport(handler), sleep=no_sleep)
    app = create_app(settings, backend=backend, model_id=MODEL)
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://keel")


async def test_an_upstream_read_timeout_is_a_504_timeout(settings, user_key):
    calls = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        if len(calls) == 1:
            raise httpx.ReadTimeout("timed out", request=request)
        return httpx.Response(200, json={"choices": [{"index": 0, "message": {"content": "ok"}, "finish_reason": "stop"}]})

    http = _upstream_app(settings, handler)
    response = await _chat(http, user_key, "hi")
    assert response.status_code == 504 and response.json()["error"]["type"] == "timeout"
    assert len(calls) == 1  # a timeout is not retried: the request may have run upstream
    assert (await _chat(http, user_key, "hi")).json()["choices"][0]["message"]["content"] == "ok"


async def test_an_upstream_that_dies_mid_stream_ends_the_stream_cleanly(settings, user_key):
    calls = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        if len(calls) == 1:
            return httpx.Response(200, stream=_BreaksMidway(), headers={"content-type": "text/event-stream"})
        raise httpx.ConnectError("connection refused", request=request)  # the process is gone

    http = _upstream_app(settings, handler)
    response = await _chat(http, user_key, "hi", stream=True)
    events = _events(response)
    assert response.status_code == 200 and events[-1] == "[DONE]"
    assert json.loads(events[-2])["error"]["code"] == "backend_unavailable"
    assert "".join(json.loads(e)["choices"][0]["delta"].get("content") or "" for e in events[:-2]) == "Hello"
    refused = await _chat(http, user_key, "hi", stream=True)  # the next request: a clean 503, not a hang or a 500
    assert refused.status_code == 503 and refused.json()["error"]["code"] == "upstream_unavailable"
    assert int(refused.headers["retry-after"]) >= 1


# --------------------------------------------------------------------------- the stream deadline itself


class _Steady:
    """Pieces every ``gap`` seconds: each wait is short even though the whole stream is long."""

    name = "steady"

    def __init__(self, pieces: int, gap: float) -> None:
        self.pieces, self.gap = pieces, gap

    async def stream(self, request):
        for i in range(self.pieces):
            await asyncio.sleep(self.gap)
            yield Delta(0, f"w{i} ")


async def test_the_stream_deadline_is_per_piece_not_per_stream():
    supervised = SupervisedBackend(_Steady(pieces=30, gap=0.05), timeout_s=1.0)  # 1.5 s in all, 0.05 s per wait
    received = [d async for d in supervised.stream(GenerationRequest(messages=[Message("user", "x")]))]
    assert len(received) == 30


async def test_time_the_consumer_spends_between_pieces_does_not_count():
    supervised = SupervisedBackend(_Steady(pieces=3, gap=0), timeout_s=0.2)
    received = []
    async for delta in supervised.stream(GenerationRequest(messages=[Message("user", "x")])):
        received.append(delta)
        await asyncio.sleep(0.5)  # a slow client or a guard holding text back: not the backend's time
    assert len(received) == 3


async def test_a_cancellation_from_outside_stays_a_cancellation(backend):
    supervised = SupervisedBackend(backend, timeout_s=30)

    async def consume():
        async for _ in supervised.stream(GenerationRequest(messages=[Message("user", "hang")])):
            pass

    task = asyncio.create_task(consume())
    await asyncio.sleep(0.05)
    task.cancel()  # the client went away: no 504, no error count, the backend call is cancelled
    with pytest.raises(asyncio.CancelledError):
        await task
    assert backend.cancelled == ["hang"]
