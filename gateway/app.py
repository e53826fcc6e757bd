"""The app factory: ``create_app(settings)`` builds everything; nothing happens at import time."""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from alignment import registry
from gateway.auth import KeyStore
from gateway.backends.base import ModelBackend
from gateway.errors import InvalidRequest, KeelError, NotFound, invalid_request
from gateway.limits import Limits, MemoryCounters, RateLimiter, RedisCounters
from gateway.middleware import BodyLimit, RequestContext
from gateway.pipeline import Pipeline
from gateway.routes import chat, models, ops
from gateway.settings import Settings

log = logging.getLogger(__name__)


def create_app(settings: Settings, backend: ModelBackend | None = None, model_id: str | None = None) -> FastAPI:
    """Build the gateway. Without ``backend``, the embedded transformers backend loads ``settings.model``."""
    served = model_id or settings.served_model_name or registry.served_name(settings.model)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        owned = backend is None
        active: Any = backend if backend is not None else _embedded_backend(settings)
        app.state.pipeline = Pipeline(active, served, settings.default_max_tokens)
        if owned:
            await active.start()
            log.info("model ready", extra={"model": served})
        try:
            yield
        finally:
            if owned:
                await active.aclose()

    app = FastAPI(
        title="Keel gateway",
        version="0.1.0",
        summary="OpenAI-compatible chat completions with guards, grounding and review.",
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.keys = KeyStore(settings.keys_path)
    app.state.limiter = build_limiter(settings)
    app.state.started_at = time.time()
    if backend is not None:
        app.state.pipeline = Pipeline(backend, served, settings.default_max_tokens)
    for router in (chat.router, models.router, ops.router):
        app.include_router(router)
    _install_error_handlers(app)
    # Outermost first: request context sees every response, including 413s.
    app.add_middleware(BodyLimit, max_bytes=settings.max_body_bytes)
    app.add_middleware(RequestContext)
    return app


def build_limiter(settings: Settings) -> RateLimiter:
    """Rate limits in this process, or in Redis when ``redis_url`` is set."""
    default = Limits(settings.rate_limit_rpm, settings.rate_limit_tpm, settings.rate_limit_concurrency)
    store = RedisCounters(settings.redis_url) if settings.redis_url else MemoryCounters()
    return RateLimiter(store, default)


def _embedded_backend(settings: Settings) -> Any:
    from gateway.backends.transformers import EngineOptions, TransformersBackend

    options = EngineOptions(
        max_batch_size=settings.max_batch_size,
        batch_window_ms=settings.batch_window_ms,
        max_waiting=settings.max_waiting,
        threads=settings.threads,
        device=settings.device,
    )
    return TransformersBackend(registry.resolve(settings.model), options)


def _install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(KeelError)
    async def keel_error(_: Request, exc: KeelError) -> JSONResponse:
        return JSONResponse(exc.body(), status_code=exc.status, headers=exc.headers())

    @app.exception_handler(RequestValidationError)
    async def invalid_body(_: Request, exc: RequestValidationError) -> JSONResponse:
        return await keel_error(_, invalid_request(exc.errors()))

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        if exc.status_code == 404:
            error: KeelError = NotFound(f"no route {_.method} {_.url.path}")
        else:
            error = InvalidRequest(str(exc.detail))
            error.status = exc.status_code
        return JSONResponse(error.body(), status_code=error.status, headers=dict(exc.headers or {}))

    @app.exception_handler(Exception)
    async def unexpected(_: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error")
        error = KeelError("internal error; the request id is in the X-Request-Id header")
        return JSONResponse(error.body(), status_code=500)
