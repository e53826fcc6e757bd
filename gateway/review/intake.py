"""The pipeline's review stage: escalated replies, and a sample of allowed ones, become review items.

An item is committed before the client is answered, so an acknowledged escalation is never lost; a
store failure on an escalation answers 503 instead. What an escalated client sees is configurable:
the holding message or the model's output. A streamed reply is watched as it passes: when the
escalation is known before its text is sent (input guards, a whole-reply review) the text is
replaced by the holding message; an escalation found after text was sent is queued with
``client_saw="output"``.
"""

from __future__ import annotations

import logging
import random
from collections.abc import AsyncIterator
from dataclasses import asdict
from typing import Any, Protocol

import anyio

from gateway.auth import Principal
from gateway.backends.base import Delta, GenerationRequest
from gateway.errors import BackendUnavailable
from gateway.protocol import ChatCompletion
from gateway.review.config import ReviewSettings
from gateway.review.store import NewItem, ReviewStore
from telemetry.logging import request_id

log = logging.getLogger(__name__)
ESCALATION_PRIORITY = 10


class ReviewSink(Protocol):
    """What the pipeline calls after the output guards: one method per reply shape."""

    async def completion(self, principal: Principal, generation: GenerationRequest, result: ChatCompletion,
                         timing: Any, model: str) -> None: ...

    def watch_stream(self, principal: Principal, generation: GenerationRequest, deltas: AsyncIterator[Delta],
                     timing: Any, model: str) -> AsyncIterator[Delta]: ...


class ReviewIntake:
    """Decides which replies go to review and submits them; the ``pipeline.review`` seam."""

    def __init__(self, store: ReviewStore, settings: ReviewSettings, rng: random.Random | None = None) -> None:
        self.store = store
        self.settings = settings
        self.rng = rng or random.Random()

    async def completion(self, principal: Principal, generation: GenerationRequest, result: ChatCompletion,
                         timing: Any, model: str) -> None:
        """Queue the reply when escalated or sampled; on escalation, give the client the configured answer."""
        decisions = escalations_and_flags(timing)
        escalated = any(d["action"] == "escalate" for d in decisions)
        if not escalated and not self._sampled(timing):
            return
        outputs = [choice.message.content or "" for choice in result.choices]
        holding = escalated and self.settings.escalation_response == "holding"
        await self._submit(principal, generation, timing, model, outputs, decisions, escalated,
                           "holding" if holding else "output")
        if holding:
            for choice in result.choices:
                choice.message.content, choice.message.tool_calls = self.settings.holding_message, None
                choice.finish_reason = "stop"

    async def watch_stream(self, principal: Principal, generation: GenerationRequest, deltas: AsyncIterator[Delta],
                           timing: Any, model: str) -> AsyncIterator[Delta]:
        """Pass a stream through; when it ends, queue it (before the client's ``[DONE]``) if escalated or sampled."""
        texts: dict[int, str] = {}
        held: set[int] = set()
        hold = self.settings.escalation_response == "holding"
        async for delta in deltas:
            texts[delta.index] = texts.get(delta.index, "") + delta.text
            if hold and (delta.index in held or _escalated(timing)) and delta.index not in _sent(texts, held, delta):
                first = delta.index not in held
                held.add(delta.index)
                delta = Delta(delta.index, self.settings.holding_message if first else "",
                              delta.finish_reason if delta.finish_reason != "tool_calls" else "stop",
                              delta.prompt_tokens, delta.completion_tokens)
            yield delta
        decisions = escalations_and_flags(timing)
        escalated = any(d["action"] == "escalate" for d in decisions)
        if escalated or self._sampled(timing):
            saw = "holding" if held and len(held) == len(texts) else "output"
            await self._submit(principal, generation, timing, model, [texts[i] for i in sorted(texts)], decisions,
                               escalated, saw)

    def _sampled(self, timing: Any) -> bool:
        guard = getattr(timing, "guard", None)
        if guard is not None and getattr(guard, "refused", None) is not None:
            return False  # a refused request never reached the model: nothing to audit
        rate = self.settings.audit_sample_rate
        return rate > 0 and self.rng.random() < rate

    async def _submit(self, principal: Principal, generation: GenerationRequest, timing: Any, model: str,
                      outputs: list[str], decisions: list[dict[str, Any]], escalated: bool, client_saw: str) -> None:
        flagged = [d for d in decisions if d["action"] == "escalate"]
        item = NewItem(
            request_key=request_id.get() or _fresh_key(),
            tenant=principal.tenant,
            source="escalation" if escalated else "audit",
            conversation=client_conversation(generation, timing),
            candidates=outputs,
            guard_decisions=decisions,
            reason="; ".join(f"{d['guard']}/{d['category']}: {d['reason']}".strip() for d in flagged) or "audit sample",
            priority=ESCALATION_PRIORITY if escalated else 0,
            model=model,
            client_saw=client_saw,
        )
        try:
            item_id, created = await anyio.to_thread.run_sync(self.store.submit, item)
        except Exception as exc:
            if not escalated:  # an audit is best effort; an escalation must not be answered unrecorded
                log.exception("could not queue an audit sample")
                return
            log.exception("could not queue an escalated reply")
            raise BackendUnavailable("the review queue is unavailable; retry shortly") from exc
        log.info("review item queued" if created else "review item already queued",
                 extra={"item": item_id, "source": item.source, "tenant": item.tenant})


def escalations_and_flags(timing: Any) -> list[dict[str, Any]]:
    """The request's non-allow guard decisions as JSON, a flagged grounding check included as an escalation."""
    guard = getattr(timing, "guard", None)
    found = [_decision_json(d) for d in (getattr(guard, "decisions", None) or [])]
    report = getattr(timing, "report", None)
    if report is not None and getattr(report, "flagged", False):
        found.append({"action": "escalate", "guard": "grounding", "category": ",".join(report.check),
                      "score": 1.0, "reason": "the answer cites no source or a source it was not given"})
    return found


def client_conversation(generation: GenerationRequest, timing: Any) -> list[dict[str, str]]:
    """The conversation as the client sent it (after input redaction), without the gateway's system layers."""
    messages = list(generation.messages)
    guard = getattr(timing, "guard", None)
    if guard is not None:
        messages = messages[len(guard.system_prompts()):]
    grounding = getattr(timing, "grounding", None)
    if grounding is not None and not grounding.not_found:
        context = grounding.context_message()
        messages = [m for m in messages if not (m.role == "system" and m.content == context)]
    return [{"role": m.role, "content": m.content} for m in messages]


def _escalated(timing: Any) -> bool:
    guard = getattr(timing, "guard", None)
    return any(getattr(d, "action", "") == "escalate" for d in (getattr(guard, "decisions", None) or []))


def _sent(texts: dict[int, str], held: set[int], delta: Delta) -> set[int]:
    """Choices whose text already reached the client before an escalation was known (never held then)."""
    already = len(texts[delta.index]) > len(delta.text) and delta.index not in held
    return {delta.index} if already else set()


def _decision_json(decision: Any) -> dict[str, Any]:
    data = asdict(decision) if hasattr(decision, "__dataclass_fields__") else dict(decision)
    return {k: data.get(k) for k in ("action", "guard", "category", "score", "reason")}


def _fresh_key() -> str:
    import uuid

    return uuid.uuid4().hex
