"""The request path, in one place: permission → retrieval (RAG) → backend → output check → telemetry."""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

from gateway.auth import Principal
from gateway.backends.base import Completion, CompletionChoice, Delta, GenerationRequest, Message, ModelBackend
from gateway.errors import BackendUnavailable, GuardBlocked, InvalidRequest, ModelNotServed, NotPermitted, PayloadTooLarge
from gateway.protocol import ChatCompletion, ChatCompletionRequest, Citation, GroundingReport
from gateway.request_limits import RequestLimits
from gateway.review.intake import ReviewSink
from guardrails.base import Decision, GuardContext
from guardrails.grounding import GroundingGuard, check_citations
from guardrails.request_guard import RequestGuard
from guardrails.stack import GuardStack
from guardrails.tools import InvalidToolChoice, ToolNotPermitted
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
    guard: RequestGuard | None = None  # policy layers, tool plan and guard decisions (None: nothing to guard)


class Pipeline:
    """Runs a chat request through Keel's stages against one backend serving one model id."""

    def __init__(
        self, backend: ModelBackend, model_id: str, default_max_tokens: int = 256, grounder: Grounder | None = None,
        guards: GuardStack | None = None, limits: RequestLimits | None = None,
    ) -> None:
        self.backend = backend
        self.limits = limits or RequestLimits()
        self.guards = guards
        self.model_id = model_id
        self.default_max_tokens = default_max_tokens
        self.grounder = grounder
        self.grounding_guard = GroundingGuard(action=grounder.settings.uncited_action) if grounder else None
        # The review stage (gateway/review/intake.py), set by the app: escalated and sampled replies are queued.
        self.review: ReviewSink | None = None
        if grounder is not None and grounder.on_decision is None:
            grounder.on_decision = record_decision

    def prepare(self, request: ChatCompletionRequest, principal: Principal) -> GenerationRequest:
        """Checks that must pass before any work starts; returns the backend request."""
        if request.model != self.model_id:
            raise ModelNotServed(f"the model {request.model!r} does not exist or is not served here", param="model")
        if not principal.may_use_model(request.model):
            raise NotPermitted(f"this key may not use the model {request.model!r}", param="model")
        # Message count and length, and the key's max_tokens cap (gateway/request_limits.py): 400 when over.
        return request.to_generation(self.limits.check(request, principal, self.default_max_tokens))

    async def guard_input(
        self, request: ChatCompletionRequest, principal: Principal, generation: GenerationRequest, timing: Timing
    ) -> None:
        """Policy layers, tool permissions and input guards; a block refuses here, before the backend runs."""
        if self.guards is None and not request.tools:
            return
        try:
            guard = RequestGuard.open(self.guards, principal.tenant, principal.config, request.tool_specs(), request.tool_choice_spec(),
                                      request.response_format.model_dump() if request.response_format else None)
        except ToolNotPermitted as exc:
            raise NotPermitted(str(exc), param="tools") from None
        except InvalidToolChoice as exc:
            raise InvalidRequest(str(exc), param="tool_choice") from None
        timing.guard = guard
        client = generation.messages
        contents = await guard.check_input([(m.role, m.content) for m in client])
        if guard.refused is not None:
            if guard.refused.guard == "size":
                raise PayloadTooLarge(f"the request is over a limit: {guard.refused.reason}")
            if guard.config.refusal.mode == "error":
                raise GuardBlocked(f"the request was refused by the {guard.refused.guard} guard ({guard.refused.category})")
        # The policy layers come first; the client's own messages (system included) follow, redacted.
        layers = [Message(role="system", content=text) for text in guard.system_prompts()]
        generation.messages = layers + [Message(m.role, text) for m, text in zip(client, contents, strict=True)]

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
        if timing.guard is not None and timing.guard.refused is not None:
            refused = ChatCompletion.from_completion(_refusal(timing.guard, generation.n), self.model_id)
            for choice in refused.choices:
                choice.message.refusal = timing.guard.refusal
            return refused
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
        if timing.guard is not None:
            for choice in result.choices:
                reply = await timing.guard.review(choice.message.content or "", self._reask(generation, timing))
                _raise_if_error_mode(timing.guard, reply.blocked)
                choice.message.content, choice.message.tool_calls = reply.content, reply.tool_calls
                choice.message.refusal = reply.content if reply.blocked else None
                choice.finish_reason = reply.finish_reason or choice.finish_reason  # type: ignore[assignment]
        return result

    def _reask(self, generation: GenerationRequest, timing: Timing):  # type: ignore[no-untyped-def]
        """One more generation after a malformed reply (bad JSON, bad tool call), told what was wrong."""

        async def reask(rejected: str, problem: str) -> str:
            note = f"Your previous reply was rejected: {problem}. Reply again, correctly, with nothing else."
            messages = [*generation.messages, Message("assistant", rejected), Message("user", note)]
            started = time.perf_counter()
            completion = await self.backend.generate(dataclasses.replace(generation, messages=messages, n=1))
            timing.backend_s += time.perf_counter() - started
            timing.prompt_tokens += completion.prompt_tokens
            timing.completion_tokens += completion.completion_tokens
            self._count_tokens(completion.prompt_tokens, completion.completion_tokens)
            return completion.choices[0].text

        return reask

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
        """Yield deltas; with guards on, the output guards see every piece of text before the client does."""
        guard = timing.guard
        if guard is not None and guard.refused is not None:
            for choice in _refusal(guard, generation.n).choices:
                last = choice.index == generation.n - 1
                yield Delta(choice.index, choice.text, choice.finish_reason, 0 if last else None, 0 if last else None)
            return
        if guard is None or not (guard.holds_whole_reply or guard.filters_output):
            async for delta in self._answer_stream(generation, timing):
                yield delta
            return
        if guard.holds_whole_reply:
            # Tool calls and JSON are judged whole: hold the reply, review it, then send it.
            held: dict[int, list[Delta]] = {}
            async for delta in self._answer_stream(generation, timing):
                held.setdefault(delta.index, []).append(delta)
            for index in sorted(held):
                reply = await guard.review("".join(d.text for d in held[index]), self._reask(generation, timing))
                _raise_if_error_mode(guard, reply.blocked)
                end = held[index][-1]
                yield Delta(index, reply.content or "", reply.finish_reason or end.finish_reason,  # type: ignore[arg-type]
                            end.prompt_tokens, end.completion_tokens, tool_calls=reply.tool_calls)
            return
        filters = {i: guard.hold_back() for i in range(generation.n)}
        async for delta in self._answer_stream(generation, timing):
            release = await filters[delta.index].feed(delta.text)
            if release.blocked is None and delta.finish_reason is not None:
                tail = await filters[delta.index].finish()
                release.text, release.blocked = release.text + tail.text, tail.blocked
            if release.blocked is not None:
                # Nothing of the blocked text was sent: end this choice, then the stream, with an error event.
                yield Delta(delta.index, "", "content_filter")
                raise GuardBlocked(f"the reply was withheld by the {release.blocked.guard} guard ({release.blocked.category})")
            if release.text or delta.finish_reason is not None or delta.prompt_tokens is not None:
                yield dataclasses.replace(delta, text=release.text)

    async def _answer_stream(self, generation: GenerationRequest, timing: Timing) -> AsyncIterator[Delta]:
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


def _refusal(guard: RequestGuard, n: int) -> Completion:
    """The consistent refusal a block gets in message mode: the model is not called."""
    return Completion([CompletionChoice(i, guard.refusal, "content_filter") for i in range(n)], prompt_tokens=0, completion_tokens=0)


def _raise_if_error_mode(guard: RequestGuard, blocked: Decision | None) -> None:
    if blocked is not None and guard.config.refusal.mode == "error":
        raise GuardBlocked(f"the reply was withheld by the {blocked.guard} guard ({blocked.category})")


def _not_found(n: int) -> Completion:
    """The gateway's own answer when no source is relevant: the model is not called."""
    return Completion([CompletionChoice(i, NOT_FOUND_ANSWER, "stop") for i in range(n)], prompt_tokens=0, completion_tokens=0)
