"""The request path, in one place: permission → backend → telemetry (guards, RAG and review hook in here)."""

from __future__ import annotations

import contextlib
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass

from gateway.auth import Principal
from gateway.backends.base import Delta, GenerationRequest, ModelBackend
from gateway.errors import ModelNotServed, NotPermitted
from gateway.protocol import ChatCompletion, ChatCompletionRequest
from telemetry import metrics

ROUTE = "/v1/chat/completions"


@dataclass
class Timing:
    """What a request reports back for usage and the gateway-overhead metric."""

    backend_s: float = 0.0
    backend_started: float | None = None  # perf_counter() when the backend was first called
    prompt_tokens: int = 0
    completion_tokens: int = 0


class Pipeline:
    """Runs a chat request through Keel's stages against one backend serving one model id."""

    def __init__(self, backend: ModelBackend, model_id: str, default_max_tokens: int = 256) -> None:
        self.backend = backend
        self.model_id = model_id
        self.default_max_tokens = default_max_tokens

    def prepare(self, request: ChatCompletionRequest, principal: Principal) -> GenerationRequest:
        """Checks that must pass before any work starts; returns the backend request."""
        if request.model != self.model_id:
            raise ModelNotServed(f"the model {request.model!r} does not exist or is not served here", param="model")
        if not principal.may_use_model(request.model):
            raise NotPermitted(f"this key may not use the model {request.model!r}", param="model")
        return request.to_generation(self.default_max_tokens)

    async def complete(self, generation: GenerationRequest, timing: Timing) -> ChatCompletion:
        started = time.perf_counter()
        completion = await self.backend.generate(generation)
        timing.backend_s += time.perf_counter() - started
        timing.prompt_tokens, timing.completion_tokens = completion.prompt_tokens, completion.completion_tokens
        self._count_tokens(completion.prompt_tokens, completion.completion_tokens)
        return ChatCompletion.from_completion(completion, self.model_id)

    async def stream(self, generation: GenerationRequest, timing: Timing) -> AsyncIterator[Delta]:
        """Yield backend deltas, timing first token and token gaps; ``timing`` receives usage at the end."""
        started = last = timing.backend_started = time.perf_counter()
        first = True
        async with contextlib.aclosing(self.backend.stream(generation)) as deltas:  # type: ignore[type-var]
            async for delta in deltas:
                now = time.perf_counter()
                if delta.text:
                    if first:
                        metrics.TTFT.labels(model=self.model_id).observe(now - started)
                        first = False
                    else:
                        metrics.INTER_TOKEN.labels(model=self.model_id).observe(now - last)
                    last = now
                if delta.prompt_tokens is not None:
                    timing.prompt_tokens = delta.prompt_tokens
                    timing.completion_tokens = delta.completion_tokens or 0
                    self._count_tokens(timing.prompt_tokens, timing.completion_tokens)
                yield delta
        timing.backend_s += time.perf_counter() - started

    def _count_tokens(self, prompt: int, completion: int) -> None:
        metrics.TOKENS.labels(model=self.model_id, kind="prompt").inc(prompt)
        metrics.TOKENS.labels(model=self.model_id, kind="completion").inc(completion)
