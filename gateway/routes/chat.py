"""POST /v1/chat/completions: parse, run the pipeline, render JSON or SSE."""

from __future__ import annotations

import contextlib
import json
import logging
import uuid
import time
from collections.abc import AsyncIterator

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse, StreamingResponse
from pydantic import ValidationError

from gateway.backends.base import Delta
from gateway.deps import AdmittedDep, PipelineDep
from gateway.errors import KeelError, invalid_request
from gateway.pipeline import Pipeline, Timing
from gateway.protocol import ERROR_RESPONSES, ChatCompletion, ChatCompletionChunk, ChatCompletionRequest, ChunkChoice, DeltaMessage, Usage
from telemetry import metrics

log = logging.getLogger(__name__)
router = APIRouter(prefix="/v1", tags=["chat"], responses=ERROR_RESPONSES)
ROUTE = "/v1/chat/completions"


@router.post(
    "/chat/completions",
    response_model=ChatCompletion,
    responses={200: {"content": {"text/event-stream": {}}, "description": "JSON, or SSE chunks when stream=true"}},
    # The body is parsed by hand (below); this documents it for OpenAPI clients and fuzzers.
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ChatCompletionRequest"}}},
        }
    },
)
async def create_chat_completion(request: Request, principal: AdmittedDep, pipeline: PipelineDep) -> Response:
    started = time.perf_counter()
    # Parsed here rather than by FastAPI: the key is checked first, and a body sent without a JSON
    # content type (curl -d) is still read as JSON.
    body = parse_body(await request.body())
    if ignored := body.ignored_fields():
        log.debug("ignoring unsupported request fields", extra={"fields": ignored})
    generation = pipeline.prepare(body, principal)
    request.scope.setdefault("state", {})["keel_model"] = pipeline.model_id
    timing = request.state.keel_timing = Timing()
    await pipeline.guard_input(body, principal, generation, timing)
    await pipeline.ground(body, principal, generation, timing)
    if not body.stream:
        result = await pipeline.complete(generation, timing)
        if pipeline.review is not None:  # queued (committed) before the client is answered
            await pipeline.review.completion(principal, generation, result, timing, pipeline.model_id)
        metrics.GATEWAY_OVERHEAD.labels(route=ROUTE).observe(max(0.0, time.perf_counter() - started - timing.backend_s))
        return JSONResponse(result.model_dump())

    deltas = pipeline.stream(generation, timing)
    if pipeline.review is not None:  # queued, when it must be, before the stream's [DONE]
        deltas = pipeline.review.watch_stream(principal, generation, deltas, timing, pipeline.model_id)
    # Wait for the first delta before answering, so errors that happen before any text (queue full,
    # backend down) are still real HTTP statuses rather than events inside a 200 stream.
    try:
        first = await anext(deltas)
    except StopAsyncIteration:
        first = None
    except BaseException:
        await deltas.aclose()
        raise
    # For a stream, the gateway's share is what happened before the backend was called.
    metrics.GATEWAY_OVERHEAD.labels(route=ROUTE).observe(max(0.0, (timing.backend_started or started) - started))
    include_usage = bool(body.stream_options and body.stream_options.include_usage)
    return StreamingResponse(
        _events(pipeline, body.n, first, deltas, timing, include_usage),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


async def _events(
    pipeline: Pipeline,
    n: int,
    first: Delta | None,
    deltas: AsyncIterator[Delta],
    timing: Timing,
    include_usage: bool,
) -> AsyncIterator[str]:
    head = ChatCompletionChunk(id=f"chatcmpl-{uuid.uuid4().hex}", created=int(time.time()), model=pipeline.model_id, choices=[])
    ident = {"id": head.id, "created": head.created, "model": head.model}
    async with contextlib.aclosing(deltas):  # type: ignore[type-var]
        try:
            for index in range(n):
                role = ChunkChoice(index=index, delta=DeltaMessage(role="assistant", content=""))
                yield _sse(head.model_copy(update={"choices": [role]}))
            if first is not None:
                yield _sse(ChatCompletionChunk.from_delta(first, **ident))
            async for delta in deltas:
                yield _sse(ChatCompletionChunk.from_delta(delta, **ident))
            # A grounded stream ends with a chunk carrying the citations (the usage chunk, when asked for).
            citations, grounding = pipeline.grounding_fields(timing)
            final = {"citations": citations, "grounding": grounding} if citations is not None else {}
            if include_usage:
                usage = Usage(
                    prompt_tokens=timing.prompt_tokens,
                    completion_tokens=timing.completion_tokens,
                    total_tokens=timing.prompt_tokens + timing.completion_tokens,
                )
                yield _sse(head.model_copy(update={"usage": usage} | final))
            elif final:
                yield _sse(head.model_copy(update=final))
        except KeelError as exc:
            # Streaming has started: the error becomes a final event, as OpenAI does.
            log.warning("stream ended by error: %s", exc.message)
            yield f"data: {_json(exc.body())}\n\n"
        except Exception:  # a bug past the backend's supervision: still a clean end, never a cut connection
            log.exception("stream ended by an unexpected error")
            yield f"data: {_json(KeelError('internal error; the request id is in the X-Request-Id header').body())}\n\n"
    yield "data: [DONE]\n\n"


def document_request_schema(openapi: dict) -> dict:
    """Add ChatCompletionRequest and its nested models to the OpenAPI components."""
    schema = ChatCompletionRequest.model_json_schema(ref_template="#/components/schemas/{model}")
    components = openapi.setdefault("components", {}).setdefault("schemas", {})
    components.update(schema.pop("$defs", {}))
    components["ChatCompletionRequest"] = schema
    return openapi


def parse_body(raw: bytes) -> ChatCompletionRequest:
    try:
        return ChatCompletionRequest.model_validate_json(raw or b"null")
    except ValidationError as exc:
        raise invalid_request(exc.errors()) from None


def _sse(chunk: ChatCompletionChunk) -> str:
    return f"data: {chunk.model_dump_json()}\n\n"


def _json(obj: object) -> str:
    return json.dumps(obj, separators=(",", ":"))
