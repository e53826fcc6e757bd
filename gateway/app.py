"""The app factory: ``create_app(settings)`` builds everything; nothing happens at import time."""

from __future__ import annotations

import logging
import os
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from alignment import registry
from gateway.auth import KeyStore
from gateway.backends.base import ModelBackend
from gateway.backends.supervised import SupervisedBackend
from gateway.errors import InvalidRequest, KeelError, NotFound, invalid_request
from gateway.limits import Limits, MemoryCounters, RateLimiter, RedisCounters
from gateway.middleware import BodyLimit, RequestContext, SecurityHeaders
from gateway.pipeline import Pipeline
from gateway.request_limits import RequestLimits
from gateway.review.service import ReviewService
from gateway.routes import chat, models, ops
from gateway.settings import Settings
from guardrails.stack import GuardStack
from rag.base import Retriever
from rag.grounding import Grounder
from telemetry import metrics

log = logging.getLogger(__name__)


def create_app(
    settings: Settings, backend: ModelBackend | None = None, model_id: str | None = None, retriever: Retriever | None = None
) -> FastAPI:
    """Build the gateway. Without ``backend``, the embedded transformers backend loads ``settings.model``."""
    # An upstream serves its model under the name Keel sends it; a local model is named by the registry.
    local_name = settings.model if settings.backend == "upstream" else registry.served_name(settings.model)
    served = model_id or settings.served_model_name or local_name
    # Cheap to build: the embedder and the Chroma client open on first use, or at start-up when RAG is on.
    grounder = Grounder(settings.rag, settings.home, retriever)
    guards = build_guards(settings)  # cheap too: Presidio and the classifiers load on first use or at start-up
    review = ReviewService.build(settings)  # cheap: the store migrates at start-up (or on first use)
    limits = RequestLimits.from_settings(settings)

    def pipeline(active: Any) -> Pipeline:
        # The pipeline reaches the backend only through the supervisor: deadlines (504), failures as 502.
        supervised = SupervisedBackend(active, settings.request_timeout_s)
        return Pipeline(supervised, served, settings.default_max_tokens, grounder=grounder, guards=guards, limits=limits)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        owned = backend is None
        active: Any = backend if backend is not None else build_backend(settings)
        app.state.pipeline = pipeline(active)
        if review is not None:
            review.attach(app.state.pipeline)
            await review.start()
        if settings.rag.enabled:
            await grounder.retriever()
        if guards is not None and settings.guards.warm:
            await guards.warm(guards.policy("").config)
        if owned:
            await active.start()
            log.info("model ready", extra={"model": served})
        try:
            yield
        finally:
            if owned:
                await active.aclose()
            if review is not None:
                await review.stop()
            metrics.process_exiting()

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
        app.state.pipeline = pipeline(backend)
        if review is not None:
            review.attach(app.state.pipeline)
    for router in (chat.router, models.router, ops.router):
        app.include_router(router)
    if review is not None:
        review.install(app)  # /v1/review (API) and /review (reviewer UI)
    _install_error_handlers(app)
    _document_chat_body(app)
    # Added innermost first: request context sees every response, including 413s and CORS preflights.
    app.add_middleware(BodyLimit, max_bytes=settings.max_body_bytes)
    if settings.cors_allow_origins:  # off by default: no Access-Control-* headers at all
        app.add_middleware(
            CORSMiddleware, allow_origins=settings.cors_allow_origins, allow_methods=["GET", "POST"],
            allow_headers=["*"], expose_headers=["X-Request-Id", "Retry-After"], allow_credentials=False, max_age=600,
        )
    app.add_middleware(SecurityHeaders)
    app.add_middleware(RequestContext)
    return app


def build_guards(settings: Settings) -> GuardStack | None:
    """The guard stack when ``guards.enabled``: policy files plus the resources guards share."""
    if not settings.guards.enabled:
        return None
    from concurrent.futures import ThreadPoolExecutor

    from guardrails.policy import DEFAULT_POLICIES, PolicyStore
    from guardrails.registry import Resources

    g = settings.guards
    executor = ThreadPoolExecutor(g.executor_threads, thread_name_prefix="keel-guard")
    resources = Resources(settings.home, executor, g.embedding_threads, g.embedding_max_tokens)
    return GuardStack(PolicyStore(g.policies or DEFAULT_POLICIES), resources)


def build_limiter(settings: Settings) -> RateLimiter:
    """Rate limits in this process, or in Redis when ``redis_url`` is set."""
    default = Limits(settings.rate_limit_rpm, settings.rate_limit_tpm, settings.rate_limit_concurrency)
    store = RedisCounters(settings.redis_url) if settings.redis_url else MemoryCounters()
    return RateLimiter(store, default)


def app_from_env() -> FastAPI:
    """App factory for uvicorn workers (``gateway.app:app_from_env``, factory=True): settings from ``KEEL_*``."""
    from telemetry.logging import configure

    # `keel serve --workers N` exports its flags as KEEL_* and the config path as KEEL_CONFIG_FILE.
    settings = Settings.load(os.environ.get("KEEL_CONFIG_FILE") or None)
    configure(settings.log_level)
    return create_app(settings)


def build_backend(settings: Settings) -> Any:
    """The backend ``settings.backend`` names."""
    return BACKENDS[settings.backend](settings)


def _upstream_backend(settings: Settings) -> Any:
    from gateway.backends.upstream import UpstreamBackend, UpstreamOptions

    key = settings.upstream_api_key
    return UpstreamBackend(
        UpstreamOptions(
            urls=list(settings.upstream_urls),
            model=settings.model,
            api_key=key.get_secret_value() if key else None,
            timeout_s=settings.upstream_timeout_s,
            connect_timeout_s=settings.upstream_connect_timeout_s,
            retries=settings.upstream_retries,
            breaker_failures=settings.upstream_breaker_failures,
            breaker_reset_s=settings.upstream_breaker_reset_s,
            health_path=settings.upstream_health_path,
            health_interval_s=settings.upstream_health_interval_s,
        )
    )


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


BACKENDS = {"transformers": _embedded_backend, "upstream": _upstream_backend}


def _document_chat_body(app: FastAPI) -> None:
    default_openapi = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = chat.document_request_schema(default_openapi())
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


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
