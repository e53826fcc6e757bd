"""The upstream backend against httpx.MockTransport: wire format, SSE parsing, retries, timeouts, breakers."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable

import httpx
import openai
import pytest

from gateway.app import create_app
from gateway.backends.base import Delta, GenerationRequest, Message
from gateway.backends.upstream import ReplicasUnavailable, UpstreamBackend, UpstreamOptions
from gateway.errors import (
    BackendOverloaded,
    BackendTimeout,
    BackendUnavailable,
    ContextLengthExceeded,
    InvalidRequest,
)
from telemetry import metrics

A, B = "http://replica-a:8000", "http://replica-b:8000"
MODEL = "served-upstream"


def _request(**kw) -> GenerationRequest:
    return GenerationRequest(messages=[Message("user", "hi")], **kw)


def _sse(*payloads: dict | str) -> bytes:
    lines = [f"data: {p if isinstance(p, str) else json.dumps(p)}\n\n" for p in payloads]
    return "".join(lines).encode()


def _chunk(index: int, content: str | None = None, finish: str | None = None, role: bool = False) -> dict:
    delta = {"role": "assistant", "content": ""} if role else ({"content": content} if content is not None else {})
    return {"object": "chat.completion.chunk", "choices": [{"index": index, "delta": delta, "finish_reason": finish}]}


STREAM = _sse(
    _chunk(0, role=True), _chunk(0, "Hel"), _chunk(0, "lo"), _chunk(0, finish="stop"),
    {"object": "chat.completion.chunk", "choices": [], "usage": {"prompt_tokens": 9, "completion_tokens": 2}},
    "[DONE]",
)
COMPLETION = {
    "object": "chat.completion",
    "choices": [{"index": 0, "message": {"role": "assistant", "content": "Hello"}, "finish_reason": "length"}],
    "usage": {"prompt_tokens": 9, "completion_tokens": 1},
}


class Upstreams:
    """Routes MockTransport requests to per-replica handlers and records every request."""

    def __init__(self) -> None:
        self.handlers: dict[str, Callable[[httpx.Request], httpx.Response]] = {}
        self.seen: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.seen.append(request)
        base = f"{request.url.scheme}://{request.url.host}:{request.url.port}"
        return self.handlers[base](request)

    def chat_calls(self, base: str | None = None) -> int:
        return sum(1 for r in self.seen if r.url.path == "/v1/chat/completions"
                   and (base is None or str(r.url).startswith(base)))


def ok(request: httpx.Request) -> httpx.Response:
    if request.url.path == "/v1/models":
        return httpx.Response(200, json={"object": "list", "data": [{"id": MODEL}]})
    body = json.loads(request.content)
    if body.get("stream"):
        return httpx.Response(200, content=STREAM, headers={"content-type": "text/event-stream"})
    return httpx.Response(200, json=COMPLETION)


def refuse_connection(request: httpx.Request) -> httpx.Response:
    raise httpx.ConnectError("connection refused", request=request)


def status(code: int, message: str = "boom") -> Callable[[httpx.Request], httpx.Response]:
    return lambda request: httpx.Response(code, json={"error": {"message": message}})


@pytest.fixture
def upstreams() -> Upstreams:
    return Upstreams()


@pytest.fixture
def sleeps() -> list[float]:
    return []


@pytest.fixture
def make(upstreams, sleeps):
    async def fake_sleep(seconds: float) -> None:
        sleeps.append(seconds)

    def build(urls=(A,), **options) -> UpstreamBackend:
        opts = UpstreamOptions(urls=list(urls), model=MODEL, health_interval_s=0, **options)
        return UpstreamBackend(opts, transport=httpx.MockTransport(upstreams), sleep=fake_sleep)

    return build


async def _collect(stream: AsyncIterator[Delta]) -> list[Delta]:
    return [d async for d in stream]


async def test_generate_sends_openai_body_and_parses_the_completion(make, upstreams):
    upstreams.handlers[A] = ok
    backend = make(api_key="sk-upstream-secret")
    out = await backend.generate(_request(max_tokens=5, stop=["\n"], seed=3, temperature=0.5, n=2))
    sent = upstreams.seen[-1]
    body = json.loads(sent.content)
    assert body == {"model": MODEL, "messages": [{"role": "user", "content": "hi"}], "max_tokens": 5,
                    "temperature": 0.5, "top_p": 1.0, "n": 2, "stop": ["\n"], "seed": 3}
    assert sent.headers["authorization"] == "Bearer sk-upstream-secret"
    assert [(c.text, c.finish_reason) for c in out.choices] == [("Hello", "length")]
    assert (out.prompt_tokens, out.completion_tokens) == (9, 1)
    assert "sk-upstream-secret" not in repr(backend.options)


async def test_stream_parses_sse_and_puts_usage_on_the_last_delta(make, upstreams):
    upstreams.handlers[A] = ok
    deltas = await _collect(make().stream(_request()))
    assert [(d.text, d.finish_reason) for d in deltas] == [("Hel", None), ("lo", None), ("", "stop")]
    assert (deltas[-1].prompt_tokens, deltas[-1].completion_tokens) == (9, 2)
    assert all(d.prompt_tokens is None for d in deltas[:-1])
    body = json.loads(upstreams.seen[-1].content)
    assert body["stream"] is True and body["stream_options"] == {"include_usage": True}


async def test_stream_without_usage_counts_pieces(make, upstreams):
    upstreams.handlers[A] = lambda r: httpx.Response(
        200, content=_sse(_chunk(0, "a"), _chunk(0, "b"), _chunk(0, "c", finish="length"), "[DONE]")
    )
    deltas = await _collect(make().stream(_request()))
    assert "".join(d.text for d in deltas) == "abc"
    assert deltas[-1].finish_reason == "length" and deltas[-1].completion_tokens == 3


async def test_n_choices_keep_their_indexes(make, upstreams):
    upstreams.handlers[A] = lambda r: httpx.Response(200, content=_sse(
        _chunk(0, "x"), _chunk(1, "y"), _chunk(0, finish="stop"), _chunk(1, "z"), _chunk(1, finish="stop"), "[DONE]"))
    deltas = await _collect(make().stream(_request(n=2)))
    texts = {0: "", 1: ""}
    for d in deltas:
        texts[d.index] += d.text
    assert texts == {0: "x", 1: "yz"}
    assert [d.index for d in deltas if d.finish_reason] == [0, 1]


async def test_connect_error_is_retried_on_the_other_replica_with_backoff(make, upstreams, sleeps):
    upstreams.handlers[A] = refuse_connection
    upstreams.handlers[B] = ok
    backend = make(urls=(A, B))
    for _ in range(3):
        assert (await backend.generate(_request())).choices[0].text == "Hello"
    assert upstreams.chat_calls(B) == 3
    assert upstreams.chat_calls(A) >= 1 and sleeps and sleeps[0] == pytest.approx(0.1)


async def test_backoff_doubles_and_a_5xx_is_retried(make, upstreams, sleeps):
    answers = iter([status(502), status(503), ok])
    upstreams.handlers[A] = lambda r: next(answers)(r)
    backend = make(retries=2, backoff_s=0.2)
    assert (await backend.generate(_request())).choices[0].text == "Hello"
    assert sleeps == [pytest.approx(0.2), pytest.approx(0.4)]


async def test_client_errors_are_not_retried(make, upstreams):
    upstreams.handlers[A] = status(400, "temperature is invalid")
    backend = make()
    with pytest.raises(InvalidRequest) as info:
        await backend.generate(_request())
    assert "temperature is invalid" in info.value.message and upstreams.chat_calls() == 1
    upstreams.handlers[A] = status(400, "This model's maximum context length is 2048 tokens")
    with pytest.raises(ContextLengthExceeded):
        await backend.generate(_request())


async def test_read_timeout_is_504_and_not_retried(make, upstreams):
    def slow(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("no bytes", request=request)

    upstreams.handlers[A] = slow
    upstreams.handlers[B] = ok
    backend = make(urls=(A, B), timeout_s=3)
    backend.pool.replicas[1].in_flight = 5  # A is least busy, so it is chosen first
    with pytest.raises(BackendTimeout) as info:
        await backend.generate(_request())
    assert info.value.status == 504 and upstreams.chat_calls() == 1


async def test_retries_exhausted_is_503_with_retry_after(make, upstreams):
    upstreams.handlers[A] = status(500)
    backend = make(retries=1)
    with pytest.raises(ReplicasUnavailable) as info:
        await backend.generate(_request())
    assert info.value.status == 503 and int(info.value.headers()["Retry-After"]) >= 1
    assert upstreams.chat_calls() == 2


async def test_overloaded_upstream_becomes_backend_overloaded(make, upstreams):
    upstreams.handlers[A] = status(429)
    with pytest.raises(BackendOverloaded):
        await make(retries=0).generate(_request())


async def test_open_circuit_stops_traffic_until_a_trial_succeeds(make, upstreams):
    now = [1000.0]
    upstreams.handlers[A] = refuse_connection
    backend = make(retries=0, breaker_failures=2, breaker_reset_s=30)
    replica = backend.pool.replicas[0]
    replica.breaker.clock = lambda: now[0]
    for _ in range(2):
        with pytest.raises(ReplicasUnavailable):
            await backend.generate(_request())
    assert replica.breaker.state == "open"
    with pytest.raises(ReplicasUnavailable) as info:
        await backend.generate(_request())
    assert upstreams.chat_calls() == 2  # refused without touching the network
    assert info.value.message == "no upstream replica is available"
    assert int(info.value.headers()["Retry-After"]) == 30
    assert not backend.ready
    now[0] += 31
    assert replica.breaker.state == "half-open" and backend.ready
    upstreams.handlers[A] = ok
    await backend.generate(_request())
    assert replica.breaker.state == "closed"


async def test_failed_trial_reopens_the_circuit(make, upstreams):
    now = [0.0]
    upstreams.handlers[A] = refuse_connection
    backend = make(retries=0, breaker_failures=1, breaker_reset_s=5)
    breaker = backend.pool.replicas[0].breaker
    breaker.clock = lambda: now[0]
    with pytest.raises(ReplicasUnavailable):
        await backend.generate(_request())
    now[0] = 6
    with pytest.raises(ReplicasUnavailable):
        await backend.generate(_request())
    assert breaker.state == "open" and breaker.seconds_until_trial() == 5


async def test_least_busy_replica_is_chosen_and_ties_alternate(make, upstreams):
    upstreams.handlers[A] = upstreams.handlers[B] = ok
    backend = make(urls=(A, B))
    for _ in range(4):
        await backend.generate(_request())
    assert upstreams.chat_calls(A) == 2 and upstreams.chat_calls(B) == 2
    backend.pool.replicas[0].in_flight = 3
    for _ in range(3):
        await backend.generate(_request())
    assert upstreams.chat_calls(B) == 5


async def test_failure_after_tokens_ends_the_stream_without_retry(make, upstreams):
    class Broken(httpx.AsyncByteStream):
        async def __aiter__(self):
            yield _sse(_chunk(0, "partial"))
            raise httpx.ReadError("connection reset")

    upstreams.handlers[A] = lambda r: httpx.Response(200, stream=Broken())
    upstreams.handlers[B] = ok
    backend = make(urls=(A, B))
    backend.pool.replicas[1].in_flight = 1
    got: list[str] = []
    with pytest.raises(BackendUnavailable):
        async for delta in backend.stream(_request()):
            got.append(delta.text)
    assert got == ["partial"] and upstreams.chat_calls() == 1


async def test_stream_error_event_missing_done_or_missing_finish_are_errors(make, upstreams):
    upstreams.handlers[A] = lambda r: httpx.Response(200, content=_sse(_chunk(0, "a"), {"error": {"message": "oom"}}))
    with pytest.raises(BackendUnavailable, match="oom"):
        await _collect(make().stream(_request()))
    upstreams.handlers[A] = lambda r: httpx.Response(200, content=_sse(_chunk(0, "a")))
    with pytest.raises(BackendUnavailable, match="DONE"):
        await _collect(make().stream(_request()))
    upstreams.handlers[A] = lambda r: httpx.Response(200, content=_sse(_chunk(0, "a"), "[DONE]"))
    with pytest.raises(BackendUnavailable, match="before the answer was finished"):
        await _collect(make().stream(_request()))  # [DONE] with no finish_reason: an interrupted answer


async def test_health_checks_take_replicas_out_and_back(make, upstreams):
    upstreams.handlers[A] = ok
    upstreams.handlers[B] = status(500)
    backend = make(urls=(A, B))
    await backend.check_health()
    assert [r.healthy for r in backend.pool.replicas] == [True, False]
    for _ in range(3):
        await backend.generate(_request())
    assert upstreams.chat_calls(B) == 0
    upstreams.handlers[A] = refuse_connection
    await backend.check_health()
    assert not backend.ready
    with pytest.raises(ReplicasUnavailable):
        await backend.generate(_request())
    upstreams.handlers[B] = ok
    await backend.check_health()
    assert backend.ready
    await backend.generate(_request())
    assert upstreams.chat_calls(B) == 1


async def _open_the_breaker(make, error: type[Exception]) -> UpstreamBackend:
    """One replica, its circuit opened by two failed requests (breaker reset far away), then a health check."""
    backend = make(retries=0, breaker_failures=2, breaker_reset_s=600)
    for _ in range(2):
        with pytest.raises(error):
            await backend.generate(_request())
    await backend.check_health()
    return backend


async def test_a_restarted_replica_rejoins_with_a_closed_breaker(make, upstreams):
    upstreams.handlers[A] = refuse_connection
    backend = await _open_the_breaker(make, ReplicasUnavailable)
    replica = backend.pool.replicas[0]
    assert replica.breaker.state == "open" and not replica.healthy
    upstreams.handlers[A] = ok  # the process came back on its port
    await backend.check_health()
    assert replica.breaker.state == "closed" and backend.ready
    assert metrics.UPSTREAM_REPLICA_UP.labels(replica=replica.label)._value.get() == 1
    await backend.generate(_request())


async def test_passing_health_checks_do_not_close_a_breaker_opened_by_failing_requests(make, upstreams):
    upstreams.handlers[A] = lambda r: ok(r) if r.url.path == "/v1/models" else status(500)(r)
    backend = await _open_the_breaker(make, BackendUnavailable)
    replica = backend.pool.replicas[0]
    assert replica.healthy and replica.breaker.state == "open" and not backend.ready
    assert metrics.UPSTREAM_REPLICA_UP.labels(replica=replica.label)._value.get() == 0


async def test_start_probes_and_aclose_stops(upstreams):
    upstreams.handlers[A] = status(503)
    backend = UpstreamBackend(UpstreamOptions(urls=[A], model=MODEL, health_interval_s=60),
                              transport=httpx.MockTransport(upstreams))
    await backend.start()
    assert not backend.ready and backend._health_task is not None
    await backend.aclose()
    assert backend._health_task.cancelled() or backend._health_task.done()


# --------------------------------------------------------------------------- through the gateway


@pytest.fixture
def gateway(settings, make, upstreams):
    backend = make(urls=(A, B), retries=1)
    app = create_app(settings, backend=backend, model_id=MODEL)
    return backend, httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://keel")


async def test_sdk_streams_through_an_upstream(gateway, upstreams, user_key):
    upstreams.handlers[A] = upstreams.handlers[B] = ok
    _, http = gateway
    client = openai.AsyncOpenAI(base_url="http://keel/v1", api_key=user_key, http_client=http, max_retries=0)
    stream = await client.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": "hi"}],
                                                  stream=True, stream_options={"include_usage": True})
    chunks = [c async for c in stream]
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == "Hello"
    assert chunks[-1].usage.completion_tokens == 2
    out = await client.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": "hi"}])
    assert out.choices[0].message.content == "Hello"
    assert json.loads(upstreams.seen[-1].content)["model"] == MODEL


async def test_all_replicas_down_is_an_openai_503_with_retry_after(gateway, upstreams, user_key):
    upstreams.handlers[A] = upstreams.handlers[B] = refuse_connection
    backend, http = gateway
    for stream in (False, True):
        r = await http.post("/v1/chat/completions", headers={"Authorization": f"Bearer {user_key}"},
                            json={"model": MODEL, "messages": [{"role": "user", "content": "hi"}], "stream": stream})
        assert r.status_code == 503, r.text
        assert r.json()["error"]["type"] == "server_error" and r.json()["error"]["code"] == "upstream_unavailable"
        assert int(r.headers["retry-after"]) >= 1
    await backend.check_health()
    assert (await http.get("/ready")).status_code == 503
