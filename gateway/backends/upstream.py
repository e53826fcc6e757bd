"""Upstream backend: any OpenAI-compatible server over HTTP (vLLM in production), one or several replicas.

Requests go to the least-busy available replica. Connect errors, dropped connections and 429/5xx answers
are retried with exponential backoff on another replica, but only before a response has started: once
tokens flow, a failure ends the stream. Each replica has a circuit breaker and a background health check.
Streams are parsed into ``Delta`` objects, so the gateway's guards see upstream text exactly as they see
the embedded model's.
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass, field
from typing import Any

import httpx

from gateway.backends.base import Completion, CompletionChoice, Delta, FinishReason, GenerationRequest
from gateway.backends.replicas import CircuitBreaker, Replica, ReplicaPool
from gateway.errors import (
    BackendOverloaded,
    BackendTimeout,
    BackendUnavailable,
    ContextLengthExceeded,
    InvalidRequest,
    KeelError,
)
from telemetry import metrics

log = logging.getLogger(__name__)

RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
_FINISH: dict[str, FinishReason] = {
    "stop": "stop", "length": "length", "content_filter": "content_filter", "tool_calls": "tool_calls",
    "function_call": "tool_calls", "eos": "stop",
}


@dataclass
class UpstreamOptions:
    """Where the upstream replicas are and how patiently to talk to them."""

    urls: list[str]  # base URLs of OpenAI-compatible servers, without /v1 (http://vllm-0:8000)
    model: str  # model id sent upstream (vLLM's --served-model-name)
    api_key: str | None = field(default=None, repr=False)  # sent as a bearer token, never logged
    timeout_s: float = 60.0  # longest wait for the next bytes: the first token, or a whole non-streamed answer
    connect_timeout_s: float = 2.0
    retries: int = 2  # extra attempts after a connect error, dropped connection, 429 or 5xx
    backoff_s: float = 0.1  # wait before the first retry, doubled for each later one
    breaker_failures: int = 3  # consecutive failures that open a replica's circuit
    breaker_reset_s: float = 10.0  # how long an open circuit refuses before one trial request
    health_path: str = "/v1/models"  # every OpenAI-compatible server has it; vLLM also has /health
    health_interval_s: float = 5.0  # 0 turns the background health checks off
    max_connections: int = 512


class ReplicasUnavailable(BackendUnavailable):
    """No upstream replica can take the request now (503, Retry-After until one may)."""

    code = "upstream_unavailable"

    def __init__(self, message: str, *, retry_after: float = 1.0) -> None:
        super().__init__(message)
        self.retry_after = retry_after

    def headers(self) -> dict[str, str]:
        return {"Retry-After": str(max(1, math.ceil(self.retry_after)))}


class _Retryable(Exception):
    """An attempt failed in a way another replica (or a later try) may not."""

    def __init__(self, outcome: str, status: int | None = None) -> None:
        super().__init__(outcome)
        self.outcome = outcome
        self.status = status


class UpstreamBackend:
    """A ``ModelBackend`` that forwards to OpenAI-compatible replicas over HTTP."""

    name = "upstream"

    def __init__(
        self,
        options: UpstreamOptions,
        transport: httpx.AsyncBaseTransport | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.options = options
        self.pool = ReplicaPool(
            [Replica(url, CircuitBreaker(options.breaker_failures, options.breaker_reset_s)) for url in options.urls]
        )
        self._sleep = sleep
        self._headers = {"Authorization": f"Bearer {options.api_key}"} if options.api_key else {}
        self._client = httpx.AsyncClient(
            transport=transport,
            timeout=httpx.Timeout(options.timeout_s, connect=options.connect_timeout_s),
            # Idle connections close before uvicorn's 5 s keep-alive (vLLM, llama.cpp, Keel) can close them
            # under a request just sent on one: that race shows up as a rare ReadError under load.
            limits=httpx.Limits(
                max_connections=options.max_connections, max_keepalive_connections=64, keepalive_expiry=4.0
            ),
        )
        self._health_task: asyncio.Task[None] | None = None

    # ------------------------------------------------------------------ lifecycle and health

    async def start(self) -> None:
        """Probe every replica once, then keep probing in the background."""
        await self.check_health()
        if self.options.health_interval_s > 0:
            self._health_task = asyncio.create_task(self._health_loop(), name="keel-upstream-health")
        log.info("upstream replicas", extra={"replicas": [r.label for r in self.pool.replicas],
                                            "healthy": sum(r.healthy for r in self.pool.replicas)})

    async def aclose(self) -> None:
        if self._health_task is not None:
            self._health_task.cancel()
            with suppress(asyncio.CancelledError):
                await self._health_task
        await self._client.aclose()

    @property
    def ready(self) -> bool:
        return self.pool.any_available

    async def check_health(self) -> None:
        await asyncio.gather(*(self._probe(replica) for replica in self.pool.replicas))

    async def _probe(self, replica: Replica) -> None:
        try:
            response = await self._client.get(
                replica.base_url + self.options.health_path, headers=self._headers,
                timeout=httpx.Timeout(5.0, connect=self.options.connect_timeout_s),
            )
            healthy = response.status_code == 200
        except httpx.HTTPError:
            healthy = False
        if healthy != replica.healthy:
            log.log(logging.INFO if healthy else logging.WARNING, "upstream replica %s",
                    "healthy" if healthy else "unhealthy", extra={"replica": replica.label})
        if healthy and not replica.healthy:
            # Seen down, now answering: a restarted server. Its breaker's failures belong to the process
            # that died, so it rejoins closed instead of waiting for a user request to be its trial. A
            # replica that answers health checks while failing requests never passes through "unhealthy",
            # so its breaker keeps protecting clients.
            replica.breaker.record_success()
        replica.healthy = healthy
        replica.publish()

    async def _health_loop(self) -> None:
        while True:
            await asyncio.sleep(self.options.health_interval_s)
            try:
                await self.check_health()
            except Exception:  # the loop must outlive any one bad probe
                log.exception("upstream health check failed")

    # ------------------------------------------------------------------ the ModelBackend protocol

    async def generate(self, request: GenerationRequest) -> Completion:
        async with self._exchange(self._body(request, stream=False)) as response:
            try:
                raw = await response.aread()
            except httpx.TimeoutException as exc:
                raise self._timeout() from exc
            except httpx.TransportError as exc:
                raise BackendUnavailable("the upstream connection broke before the answer was complete") from exc
            return _completion(_json(raw))

    async def stream(self, request: GenerationRequest) -> AsyncIterator[Delta]:
        async with self._exchange(self._body(request, stream=True)) as response:
            usage: dict[str, Any] = {}
            pieces = 0
            finished: set[int] = set()
            pending: Delta | None = None  # a choice's finishing delta waits: the last one carries usage
            async for payload in self._events(response):
                if payload.get("usage"):
                    usage = payload["usage"]
                for choice in payload.get("choices") or []:
                    text = (choice.get("delta") or {}).get("content") or ""
                    finish = _finish(choice.get("finish_reason"))
                    if not text and finish is None:
                        continue  # the role-only opening chunk
                    pieces += bool(text)
                    if pending is not None:
                        yield pending
                        pending = None
                    delta = Delta(index=int(choice.get("index", 0)), text=text, finish_reason=finish)
                    if finish is None:
                        yield delta
                    else:
                        finished.add(delta.index)
                        pending = delta
            if len(finished) < request.n or pending is None:
                # e.g. llama.cpp's server, which ends a stream with [DONE] when another request arrives.
                raise BackendUnavailable("the upstream ended the stream before the answer was finished")
            final = pending
            final.prompt_tokens = int(usage.get("prompt_tokens", 0))
            # A server that ignores stream_options sends no usage: count streamed pieces (one token each on
            # vLLM and llama.cpp) so keel_tokens_total stays close.
            final.completion_tokens = int(usage.get("completion_tokens", pieces))
            yield final

    # ------------------------------------------------------------------ one exchange, with retries

    @asynccontextmanager
    async def _exchange(self, body: dict[str, Any]) -> AsyncIterator[httpx.Response]:
        """Send ``body`` to a replica, retrying elsewhere until one answers 2xx; yield its streamed response."""
        tried: set[str] = set()
        last: _Retryable | None = None
        for attempt in range(self.options.retries + 1):
            if attempt:
                await self._sleep(self.options.backoff_s * 2 ** (attempt - 1))
            replica = self.pool.choose(exclude=tried)
            if replica is None:
                break
            tried.add(replica.base_url)
            with self.pool.using(replica):
                try:
                    response = await self._send(replica, body)
                except _Retryable as exc:
                    self._record(replica, exc.outcome, failed=True, attempt=attempt)
                    last = exc
                    continue
                except (BackendTimeout, BackendUnavailable) as exc:
                    self._record(replica, _outcome(exc), failed=True, attempt=attempt)
                    metrics.BACKEND_ERRORS.labels(backend=self.name, kind=_outcome(exc)).inc()
                    raise
                except KeelError:
                    self._record(replica, "http_4xx", failed=False, attempt=attempt)
                    raise
                try:
                    yield response
                except (BackendTimeout, BackendUnavailable) as exc:
                    self._record(replica, _outcome(exc), failed=True, attempt=attempt)
                    metrics.BACKEND_ERRORS.labels(backend=self.name, kind=_outcome(exc)).inc()
                    raise
                else:
                    self._record(replica, "ok", failed=False, attempt=attempt)
                finally:
                    await response.aclose()
                return
        raise self._exhausted(last)

    async def _send(self, replica: Replica, body: dict[str, Any]) -> httpx.Response:
        request = self._client.build_request(
            "POST", f"{replica.base_url}/v1/chat/completions", json=body, headers=self._headers
        )
        try:
            response = await self._client.send(request, stream=True)
        except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
            raise _Retryable("connect_error") from exc
        except (httpx.RemoteProtocolError, httpx.ReadError, httpx.WriteError) as exc:
            raise _Retryable("connection_lost") from exc  # closed before answering: nothing was streamed yet
        except httpx.TimeoutException as exc:
            raise self._timeout() from exc
        except httpx.TransportError as exc:
            raise BackendUnavailable(f"cannot reach the upstream: {type(exc).__name__}") from exc
        if response.status_code < 400:
            return response
        message = await _error_message(response)
        await response.aclose()
        if response.status_code in RETRY_STATUSES:
            raise _Retryable("http_429" if response.status_code == 429 else "http_5xx", response.status_code)
        if response.status_code in (400, 413, 422):
            if "context" in message.lower() and ("length" in message.lower() or "window" in message.lower()):
                raise ContextLengthExceeded(f"the upstream model refused the prompt: {message}")
            raise InvalidRequest(f"the upstream model refused the request: {message}")
        raise BackendUnavailable(f"the upstream answered HTTP {response.status_code}: {message}")

    async def _events(self, response: httpx.Response) -> AsyncIterator[dict[str, Any]]:
        """The JSON payloads of an SSE response, until ``data: [DONE]``."""
        try:
            async for line in response.aiter_lines():
                if not line.startswith("data:"):
                    continue  # blank separators, comments, event:/id: fields
                data = line[5:].strip()
                if data == "[DONE]":
                    return
                payload = _json(data.encode())
                if "error" in payload or payload.get("object") == "error":
                    error = payload.get("error", payload)
                    detail = error.get("message", "") if isinstance(error, dict) else str(error)
                    raise BackendUnavailable(f"the upstream ended the stream with an error: {_clip(detail)}")
                yield payload
        except httpx.TimeoutException as exc:
            raise self._timeout() from exc
        except httpx.TransportError as exc:
            raise BackendUnavailable("the upstream connection broke mid-stream") from exc
        raise BackendUnavailable("the upstream stream ended without [DONE]")

    # ------------------------------------------------------------------ helpers

    def _body(self, request: GenerationRequest, *, stream: bool) -> dict[str, Any]:
        body: dict[str, Any] = {
            "model": self.options.model,
            "messages": [{"role": m.role, "content": m.content} for m in request.messages],
            "max_tokens": request.max_tokens,
            "temperature": request.temperature,
            "top_p": request.top_p,
        }
        if request.n != 1:
            body["n"] = request.n
        if request.stop:
            body["stop"] = request.stop
        if request.seed is not None:
            body["seed"] = request.seed
        if stream:
            body["stream"] = True
            body["stream_options"] = {"include_usage": True}
        return body

    def _record(self, replica: Replica, outcome: str, *, failed: bool, attempt: int) -> None:
        metrics.UPSTREAM_ATTEMPTS.labels(replica=replica.label, outcome=outcome).inc()
        if failed:
            replica.breaker.record_failure()
            log.warning("upstream attempt failed", extra={"replica": replica.label, "outcome": outcome,
                                                          "attempt": attempt + 1, "breaker": replica.breaker.state})
        else:
            replica.breaker.record_success()
        replica.publish()

    def _timeout(self) -> BackendTimeout:
        return BackendTimeout(f"the upstream sent nothing for {self.options.timeout_s:g} s")

    def _exhausted(self, last: _Retryable | None) -> KeelError:
        retry_after = self.pool.retry_after(self.options.health_interval_s or self.options.breaker_reset_s)
        if last is None:
            metrics.BACKEND_ERRORS.labels(backend=self.name, kind="no_replica").inc()
            return ReplicasUnavailable("no upstream replica is available", retry_after=retry_after)
        metrics.BACKEND_ERRORS.labels(backend=self.name, kind=last.outcome).inc()
        if last.status in (429, 503):
            return BackendOverloaded(f"the upstream is overloaded (HTTP {last.status}); retry shortly")
        return ReplicasUnavailable(
            f"the upstream failed ({last.outcome}) after {self.options.retries + 1} attempts", retry_after=retry_after
        )


def _outcome(exc: KeelError) -> str:
    return "timeout" if isinstance(exc, BackendTimeout) else "stream_broken"


def _finish(value: object) -> FinishReason | None:
    if value is None:
        return None
    return _FINISH.get(str(value), "stop")


def _json(raw: bytes) -> dict[str, Any]:
    try:
        payload = json.loads(raw)
    except ValueError:
        payload = None
    if not isinstance(payload, dict):
        raise BackendUnavailable("the upstream sent something that is not a JSON object")
    return payload


def _completion(payload: dict[str, Any]) -> Completion:
    try:
        choices = [
            CompletionChoice(
                index=int(c.get("index", i)),
                text=(c.get("message") or {}).get("content") or "",
                finish_reason=_finish(c.get("finish_reason")) or "stop",
            )
            for i, c in enumerate(payload["choices"])
        ]
        usage = payload.get("usage") or {}
        return Completion(choices, int(usage.get("prompt_tokens", 0)), int(usage.get("completion_tokens", 0)))
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise BackendUnavailable("the upstream answer is not a chat completion") from exc


async def _error_message(response: httpx.Response) -> str:
    """The message of an upstream error body (OpenAI, vLLM or plain text), clipped."""
    try:
        raw = await response.aread()
    except httpx.HTTPError:
        return ""
    try:
        body = json.loads(raw)
    except ValueError:
        return _clip(raw.decode("utf-8", "replace"))
    if isinstance(body, dict):
        error = body.get("error", body)
        if isinstance(error, dict):
            return _clip(str(error.get("message") or error.get("detail") or ""))
        return _clip(str(error))
    return _clip(str(body))


def _clip(text: str, limit: int = 300) -> str:
    return text if len(text) <= limit else text[:limit] + "…"
