"""A tiny OpenAI-compatible server for upstream tests: fixed words (or an echo), fast, with failure switches.

Run as a process: ``python tests/fake_upstream.py --port P [--model M] [--echo] [--delay S]``.
``POST /admin/fail {"status": 500, "count": 3}`` makes the next 3 chat requests answer 500 (count -1: all);
``GET /admin/stats`` says how many chat requests it has seen.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, StreamingResponse

WORDS = ["Hello", " from", " the", " upstream", " replica."]


def build_app(model: str = "fake-upstream", echo: bool = False, delay: float = 0.0) -> FastAPI:
    app = FastAPI()
    state: dict[str, Any] = {"chat_requests": 0, "fail_status": 0, "fail_count": 0}

    @app.get("/health")
    async def health() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/v1/models")
    async def models() -> dict[str, Any]:
        return {"object": "list", "data": [{"id": model, "object": "model", "created": 0, "owned_by": "fake"}]}

    @app.post("/admin/fail")
    async def fail(request: Request) -> dict[str, int]:
        body = await request.json()
        state["fail_status"], state["fail_count"] = int(body.get("status", 500)), int(body.get("count", -1))
        return {"ok": 1}

    @app.get("/admin/stats")
    async def stats() -> dict[str, int]:
        return {"chat_requests": state["chat_requests"]}

    @app.post("/v1/chat/completions")
    async def chat(request: Request) -> Any:
        state["chat_requests"] += 1
        if state["fail_count"]:
            state["fail_count"] -= 1 if state["fail_count"] > 0 else 0
            return JSONResponse({"error": {"message": "injected failure", "type": "server_error"}},
                                status_code=state["fail_status"])
        body = await request.json()
        if body.get("model") != model:
            return JSONResponse({"error": {"message": f"model {body.get('model')!r} not found"}}, status_code=404)
        words = _answer(body, echo)
        limit = int(body.get("max_tokens") or 10_000)
        finish = "stop" if len(words) <= limit else "length"
        words = words[:limit]
        n = int(body.get("n", 1))
        usage = {"prompt_tokens": 11, "completion_tokens": len(words) * n, "total_tokens": 11 + len(words) * n}
        ident = {"id": f"chatcmpl-{uuid.uuid4().hex}", "created": int(time.time()), "model": model}
        if not body.get("stream"):
            choices = [{"index": i, "message": {"role": "assistant", "content": "".join(words)},
                        "finish_reason": finish} for i in range(n)]
            return {"object": "chat.completion", **ident, "choices": choices, "usage": usage}
        include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
        return StreamingResponse(_sse(ident, words, finish, n, usage if include_usage else None, delay),
                                 media_type="text/event-stream")

    return app


def _answer(body: dict[str, Any], echo: bool) -> list[str]:
    if not echo:
        return list(WORDS)
    last = [m for m in body.get("messages", []) if m.get("role") == "user"][-1]
    return [w + " " for w in str(last.get("content", "")).split()]


async def _sse(ident: dict[str, Any], words: list[str], finish: str, n: int, usage: dict[str, int] | None,
               delay: float) -> AsyncIterator[str]:
    def chunk(choices: list[dict[str, Any]], **extra: Any) -> str:
        return "data: " + json.dumps({"object": "chat.completion.chunk", **ident, "choices": choices, **extra}) + "\n\n"

    for i in range(n):
        yield chunk([{"index": i, "delta": {"role": "assistant", "content": ""}, "finish_reason": None}])
        for word in words:
            if delay:
                await asyncio.sleep(delay)
            yield chunk([{"index": i, "delta": {"content": word}, "finish_reason": None}])
        yield chunk([{"index": i, "delta": {}, "finish_reason": finish}])
    if usage is not None:
        yield chunk([], usage=usage)
    yield "data: [DONE]\n\n"


# --------------------------------------------------------------------------- running it as a process


@dataclass
class FakeUpstream:
    url: str
    process: subprocess.Popen[bytes]

    def stats(self) -> dict[str, int]:
        return httpx.get(f"{self.url}/admin/stats", timeout=5).json()

    def fail(self, status: int = 500, count: int = -1) -> None:
        httpx.post(f"{self.url}/admin/fail", json={"status": status, "count": count}, timeout=5)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_fake_upstream(log_dir: Path, *args: str, port: int | None = None) -> FakeUpstream:
    """Start the fake upstream as a process on a free loopback port and wait until it answers."""
    port = port or free_port()
    log = (log_dir / f"fake-upstream-{port}.log").open("w")
    process = subprocess.Popen(
        [sys.executable, str(Path(__file__)), "--port", str(port), *args],
        stdout=log, stderr=subprocess.STDOUT, env=os.environ | {"PYTHONUNBUFFERED": "1"},
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"fake upstream exited: {(log_dir / f'fake-upstream-{port}.log').read_text()}")
        try:
            if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                return FakeUpstream(url, process)
        except httpx.HTTPError:
            time.sleep(0.1)
    process.kill()
    raise RuntimeError("fake upstream did not start in 30 s")


def main() -> None:
    import uvicorn

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--model", default="fake-upstream")
    parser.add_argument("--echo", action="store_true", help="answer with the last user message's words")
    parser.add_argument("--delay", type=float, default=0.0, help="seconds between streamed words")
    args = parser.parse_args()
    app = build_app(args.model, args.echo, args.delay)
    uvicorn.run(app, host="127.0.0.1", port=args.port, log_level="warning")


if __name__ == "__main__":
    main()
