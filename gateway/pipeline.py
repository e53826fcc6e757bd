"""The request path, in one place: permission → retrieval (RAG) → backend → output check → telemetry."""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

from gateway.auth import Principal
from gateway.backends.base import Completion, CompletionChoice, Delta, GenerationRequest, Message, ModelBackend
from gateway.errors import BackendUnavailable, GuardBlocked, ModelNotServed, NotPermitted
from gateway.protocol import ChatCompletion, ChatCompletionRequest, Citation, GroundingReport
from guardrails.base import Decision, GuardContext
from guardrails.grounding import GroundingGuard, check_citations
from rag.config import wanted
from rag.grounding import NOT_FOUND_ANSWER, Grounder, Grounding
from telemetry import metrics

log = logging.getLogger(__name__)
ROUTE = "/v1/chat/completions"


@dataclass
class Timing:
    """What a request reports back for usage and the gateway-overhead metric."""

    backend_s: float = 0.0
    backend_started: float | None = None  # perf_counter() when the backend was first called
    prompt_tokens: int = 0
    completion_tokens: int = 0
    grounding: Grounding | None = None  # the retrieval stage's result when the request is grounded
    report: GroundingReport | None = None  # the output check of a grounded answer
    texts: dict[int, str] = field(default_factory=dict)  # streamed text per choice, kept only when grounded


class Pipeline:
    """Runs a chat request through Keel's stages against one backend serving one model id."""

    def __init__(
        self, backend: ModelBackend, model_id: str, default_max_tokens: int = 256, grounder: Grounder | None = None
    ) -> None:
        self.backend = backend
        self.model_id = model_id
        self.default_max_tokens = default_max_tokens
        self.grounder = grounder
        self.grounding_guard = GroundingGuard(action=grounder.settings.uncited_action) if grounder else None
        if grounder is not None and grounder.on_decision is None:
            grounder.on_decision = record_decision

    def prepare(self, request: ChatCompletionRequest, principal: Principal) -> GenerationRequest:
        """Checks that must pass before any work starts; returns the backend request."""
        if request.model != self.model_id:
            raise ModelNotServed(f"the model {request.model!r} does not exist or is not served here", param="model")
        if not principal.may_use_model(request.model):
            raise NotPermitted(f"this key may not use the model {request.model!r}", param="model")
        return request.to_generation(self.default_max_tokens)

    async def ground(
        self, request: ChatCompletionRequest, principal: Principal, generation: GenerationRequest, timing: Timing
    ) -> None:
        """Retrieval stage: when RAG is on for this request, put the tenant's relevant sources in the prompt."""
        if self.grounder is None:
            return
        if not wanted(self.grounder.settings.enabled, principal.config.get("rag"), request.rag_requested()):
            return
        query = next((m.content for m in reversed(generation.messages) if m.role == "user"), "")
        try:
            grounding = timing.grounding = await self.grounder.ground(query, principal.tenant)
        except Exception as exc:  # a store or embedder failure is the knowledge base being down, not a bug in the request
            log.exception("retrieval failed")
            raise BackendUnavailable("the knowledge base is unavailable; retry shortly") from exc
        metrics.RETRIEVAL_DURATION.observe(grounding.seconds)
        if grounding.not_found:
            metrics.GROUNDING_NOT_FOUND.inc()
            return
        # The context goes after the caller's own system messages, right before the conversation.
        at = next((i for i, m in enumerate(generation.messages) if m.role != "system"), len(generation.messages))
        generation.messages.insert(at, Message(role="system", content=grounding.context_message()))

    async def complete(self, generation: GenerationRequest, timing: Timing) -> ChatCompletion:
        started = time.perf_counter()
        if timing.grounding and timing.grounding.not_found:
            completion = _not_found(generation.n)
        else:
            completion = await self.backend.generate(generation)
        timing.backend_s += time.perf_counter() - started
        timing.prompt_tokens, timing.completion_tokens = completion.prompt_tokens, completion.completion_tokens
        self._count_tokens(completion.prompt_tokens, completion.completion_tokens)
        result = ChatCompletion.from_completion(completion, self.model_id)
        if timing.grounding is not None:
            await self._check_output(timing, [c.text for c in completion.choices])
            result.citations, result.grounding = self.grounding_fields(timing)
        return result

    def grounding_fields(self, timing: Timing) -> tuple[list[Citation] | None, GroundingReport | None]:
        """The ``citations`` and ``grounding`` a grounded response carries (None, None otherwise)."""
        if timing.grounding is None:
            return None, None
        return [Citation(**c) for c in timing.grounding.citations()], timing.report

    async def _check_output(self, timing: Timing, texts: list[str]) -> None:
        """The grounding output guard over each choice; blocks, or flags the answer, as configured."""
        grounding = timing.grounding
        assert grounding is not None and self.grounding_guard is not None
        sources = len(grounding.sources)
        report = GroundingReport(status="not_found" if grounding.not_found else "grounded", dropped=len(grounding.dropped))
        for text in texts:
            started = time.perf_counter()
            decision = await self.grounding_guard.check(text, GuardContext("output", grounding.tenant, sources=sources))
            record_decision(decision, "output", time.perf_counter() - started)
            found = check_citations(text, sources)
            report.check.append(decision.category)
            report.cited = sorted(set(report.cited) | set(found.cited))
            report.invalid = sorted(set(report.invalid) | set(found.invalid))
            if decision.action == "block":
                raise GuardBlocked(f"the answer was withheld: {decision.reason}")
            if decision.action == "escalate":
                report.flagged = True
                log.warning("grounding check flagged an answer", extra={"category": decision.category, "reason": decision.reason})
        timing.report = report

    async def stream(self, generation: GenerationRequest, timing: Timing) -> AsyncIterator[Delta]:
        """Yield backend deltas, timing first token and token gaps; ``timing`` receives usage at the end."""
        if timing.grounding is None:
            async for delta in self._stream(generation, timing):
                yield delta
            return
        if timing.grounding.not_found:
            for choice in _not_found(generation.n).choices:
                timing.texts[choice.index] = choice.text
                last = choice.index == generation.n - 1
                yield Delta(choice.index, choice.text, "stop", 0 if last else None, 0 if last else None)
        elif self.grounding_guard is not None and self.grounding_guard.action == "block":
            # Blocking needs the whole answer before any of it is sent: hold the stream back.
            held = [delta async for delta in self._stream(generation, timing)]
            await self._check_output(timing, [timing.texts.get(i, "") for i in range(generation.n)])
            for delta in held:
                yield delta
            return
        else:
            async for delta in self._stream(generation, timing):
                yield delta
        await self._check_output(timing, [timing.texts.get(i, "") for i in range(generation.n)])

    async def _stream(self, generation: GenerationRequest, timing: Timing) -> AsyncIterator[Delta]:
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
                if timing.grounding is not None:
                    timing.texts[delta.index] = timing.texts.get(delta.index, "") + delta.text
                yield delta
        timing.backend_s += time.perf_counter() - started

    def _count_tokens(self, prompt: int, completion: int) -> None:
        metrics.TOKENS.labels(model=self.model_id, kind="prompt").inc(prompt)
        metrics.TOKENS.labels(model=self.model_id, kind="completion").inc(completion)


def record_decision(decision: Decision, stage: str, seconds: float) -> None:
    """Count a guard decision and its latency (labels: guard, stage, action; never the text)."""
    metrics.GUARD_DECISIONS.labels(guard=decision.guard, stage=stage, action=decision.action).inc()
    metrics.GUARD_DURATION.labels(guard=decision.guard, stage=stage).observe(seconds)


def _not_found(n: int) -> Completion:
    """The gateway's own answer when no source is relevant: the model is not called."""
    return Completion([CompletionChoice(i, NOT_FOUND_ANSWER, "stop") for i in range(n)], prompt_tokens=0, completion_tokens=0)
