"""Operational routes: liveness, readiness and the Prometheus exposition."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from telemetry import metrics as keel_metrics

router = APIRouter(tags=["ops"])


@router.get("/health", summary="Liveness: the process answers.")
async def health() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/ready", summary="Readiness: the model is loaded and the engine runs.")
async def ready(request: Request, response: Response) -> dict[str, str]:
    backend = request.app.state.pipeline.backend
    if getattr(backend, "ready", True):
        return {"status": "ready", "model": request.app.state.pipeline.model_id}
    response.status_code = 503
    return {"status": "loading", "model": request.app.state.pipeline.model_id}


@router.get("/metrics", summary="Prometheus text exposition.", include_in_schema=False)
async def metrics() -> Response:
    # With several workers this merges every worker's samples (Prometheus multiprocess mode).
    body, content_type = keel_metrics.exposition()
    return Response(body, media_type=content_type)
