"""The benchmark client: one timed chat request (streamed or not), and closed-loop load from N clients.

Every target (direct upstream, Keel, LiteLLM) is driven by this same code with the same payload.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx

REFUSED = "content_filter"  # a guard's refusal arrives as an assistant message with this finish_reason


@dataclass(frozen=True)
class Result:
    """One request: ok only for HTTP 200 with content, not refused by a guard, and no stream error event."""

    ok: bool
    latency: float  # seconds until the response (or the stream) is complete
    ttft: float | None  # seconds until the first content delta (streamed requests)
    tokens: int  # completion tokens: usage when reported, else content deltas
    error: str = ""  # "HTTP 429", "ReadTimeout", "stream error event", "refused (content_filter)", ...


def chat_body(model: str, content: str, max_tokens: int, stream: bool) -> dict[str, Any]:
    body: dict[str, Any] = {"model": model, "max_tokens": max_tokens, "temperature": 0,
                            "messages": [{"role": "user", "content": content}]}
    if stream:
        body |= {"stream": True, "stream_options": {"include_usage": True}}
    return body


async def timed_request(http: httpx.AsyncClient, url: str, body: dict[str, Any], headers: dict[str, str],
                        expect: str | None = None) -> Result:
    """Send one chat request and time it; never raises for HTTP or transport errors (they are results).

    With ``expect``, any other answer (a review-queue holding message, say) is an error too.
    """
    started = time.perf_counter()
    try:
        if not body.get("stream"):
            r = await http.post(url, json=body, headers=headers)
            latency = time.perf_counter() - started
            if r.status_code != 200:
                return Result(False, latency, None, 0, f"HTTP {r.status_code}")
            data = r.json()
            choice = (data.get("choices") or [{}])[0]
            content = (choice.get("message") or {}).get("content")
            tokens = int((data.get("usage") or {}).get("completion_tokens") or 0)
            if choice.get("finish_reason") == REFUSED:
                return Result(False, latency, None, tokens, f"refused ({REFUSED})")
            return _checked(Result(bool(content), latency, None, tokens, "" if content else "no content"),
                            content, expect)
        result, content = await _streamed(http, url, body, headers, started)
        return _checked(result, content, expect)
    except httpx.HTTPError as exc:
        return Result(False, time.perf_counter() - started, None, 0, type(exc).__name__)


def _checked(result: Result, content: str | None, expect: str | None) -> Result:
    if result.ok and expect is not None and content != expect:
        return Result(False, result.latency, result.ttft, result.tokens, "other answer (held for review?)")
    return result


async def _streamed(http: httpx.AsyncClient, url: str, body: dict[str, Any], headers: dict[str, str],
                    started: float) -> tuple[Result, str]:
    ttft: float | None = None
    deltas = usage = 0
    text: list[str] = []
    async with http.stream("POST", url, json=body, headers=headers) as r:
        if r.status_code != 200:
            await r.aread()
            return Result(False, time.perf_counter() - started, None, 0, f"HTTP {r.status_code}"), ""
        async for line in r.aiter_lines():
            if not line.startswith("data: ") or line == "data: [DONE]":
                continue
            chunk = json.loads(line[6:])
            if "error" in chunk:
                return Result(False, time.perf_counter() - started, ttft, deltas, "stream error event"), ""
            choices = chunk.get("choices") or []
            if choices and choices[0].get("finish_reason") == REFUSED:
                return Result(False, time.perf_counter() - started, ttft, deltas, f"refused ({REFUSED})"), ""
            if choices and (content := (choices[0].get("delta") or {}).get("content")):
                text.append(content)
                deltas += 1
                if ttft is None:
                    ttft = time.perf_counter() - started
            usage = int((chunk.get("usage") or {}).get("completion_tokens") or usage)
    latency = time.perf_counter() - started
    if ttft is None:
        return Result(False, latency, None, 0, "stream carried no content"), ""
    return Result(True, latency, ttft, usage or deltas), "".join(text)


def client(concurrency: int, timeout: float = 120.0) -> httpx.AsyncClient:
    """An HTTP client with a connection per concurrent stream (httpx's default pool holds 100, 20 kept).

    Idle connections are dropped after 2 s: httpx's default (5 s) equals uvicorn's keep-alive timeout, and
    a request sent on a connection the server is closing at that moment fails with a ReadError.
    """
    limits = httpx.Limits(max_connections=concurrency + 4, max_keepalive_connections=concurrency + 4,
                          keepalive_expiry=2.0)
    return httpx.AsyncClient(timeout=timeout, limits=limits)


@dataclass(frozen=True)
class LoadRun:
    results: list[Result]
    wall_s: float  # from the first request to the last answer


async def closed_loop(url: str, bodies: Callable[[], dict[str, Any]], headers: dict[str, str], concurrency: int,
                      duration_s: float, http: httpx.AsyncClient | None = None, expect: str | None = None) -> LoadRun:
    """``concurrency`` clients each send requests (``bodies()`` each) back to back until ``duration_s`` has passed.

    Requests started before the deadline are awaited and counted, so the wall time can run a little over.
    """
    own = http is None
    http = http or client(concurrency)
    results: list[Result] = []

    async def one_client() -> None:
        while time.perf_counter() < deadline:
            results.append(await timed_request(http, url, bodies(), headers, expect))

    try:
        started = time.perf_counter()
        deadline = started + duration_s
        await asyncio.gather(*(one_client() for _ in range(concurrency)))
        return LoadRun(results, time.perf_counter() - started)
    finally:
        if own:
            await http.aclose()
