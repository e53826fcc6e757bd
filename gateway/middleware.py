"""Cross-cutting ASGI middleware: request ids, request metrics and logs, and the body-size limit."""

from __future__ import annotations

import json
import logging
import re
import time
import uuid
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gateway.errors import PayloadTooLarge
from telemetry import metrics
from telemetry.logging import request_id

log = logging.getLogger("keel.access")

# Route labels are a fixed set: a path outside it is "other", so labels stay bounded.
KNOWN_ROUTES = ("/v1/chat/completions", "/v1/models", "/health", "/ready", "/metrics")
_SAFE_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")


def route_label(path: str) -> str:
    if path in KNOWN_ROUTES:
        return path
    if path.startswith("/v1/models/"):
        return "/v1/models/{id}"
    return "other"


class RequestContext:
    """Assigns (or accepts) ``X-Request-Id``, echoes it, and records request count, duration and in-flight."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        incoming = _header(scope, b"x-request-id")
        rid = incoming if incoming and _SAFE_ID.match(incoming) else uuid.uuid4().hex
        token = request_id.set(rid)
        route = route_label(scope["path"])
        status = 500
        started = time.perf_counter()
        metrics.IN_FLIGHT.labels(route=route).inc()

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message.setdefault("headers", [])
                message["headers"] = list(message["headers"]) + [(b"x-request-id", rid.encode())]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            elapsed = time.perf_counter() - started
            model = scope.get("state", {}).get("keel_model", "")
            metrics.IN_FLIGHT.labels(route=route).dec()
            metrics.REQUESTS.labels(route=route, model=model, status=str(status)).inc()
            metrics.REQUEST_DURATION.labels(route=route, model=model).observe(elapsed)
            if route != "/metrics":
                log.info(
                    "request",
                    extra={"method": scope["method"], "route": route, "status": status, "duration_ms": round(elapsed * 1000, 1)},
                )
            request_id.reset(token)


class BodyLimit:
    """Refuses request bodies over ``max_bytes`` with 413, by Content-Length or while reading."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = _header(scope, b"content-length")
        if declared and declared.isdigit() and int(declared) > self.max_bytes:
            await _reject(send, self.max_bytes)
            return
        seen = 0

        async def limited() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_bytes:
                    raise PayloadTooLarge(f"request body is larger than {self.max_bytes} bytes")
            return message

        await self.app(scope, limited, send)


async def _reject(send: Send, max_bytes: int) -> None:
    body = json.dumps(PayloadTooLarge(f"request body is larger than {max_bytes} bytes").body()).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 413,
            "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": body})


def _header(scope: Scope, name: bytes) -> Any:
    for key, value in scope.get("headers", []):
        if key == name:
            return value.decode("latin-1")
    return None
