"""The guard stack: runs a tenant's input or output guards concurrently and combines their decisions.

Precedence: block > escalate > redact > allow. All guards of a stage run at the same time on the original
text; redactions (PII spans) are then masked on it together. Every decision and
every guard's latency is counted; a guard that raises is logged, counted and — unless the tenant's
config says ``fail_closed: false`` — treated as a block.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from guardrails.base import Decision, Guard, GuardContext, Stage
from guardrails.config import StackConfig
from guardrails.policy import Policy, PolicyStore
from guardrails.registry import Resources, build_guard
from guardrails.streaming import HoldBackFilter, mask_spans
from telemetry import metrics

log = logging.getLogger(__name__)
_RANK = {"allow": 0, "redact": 1, "escalate": 2, "block": 3}


@dataclass
class Verdict:
    """The outcome of one stage: the (possibly redacted) texts and every decision that was not a plain allow."""

    texts: list[str]
    decisions: list[Decision] = field(default_factory=list)

    @property
    def blocked(self) -> Decision | None:
        return next((d for d in self.decisions if d.action == "block"), None)

    @property
    def escalated(self) -> list[Decision]:
        return [d for d in self.decisions if d.action == "escalate"]

    @property
    def redacted(self) -> bool:
        return any(d.action == "redact" for d in self.decisions)

    @property
    def text(self) -> str:
        return self.texts[0] if self.texts else ""


class GuardStack:
    """Policy layers and guards for every tenant, built from the policy files and shared resources."""

    def __init__(self, policies: PolicyStore, resources: Resources) -> None:
        self.policies = policies
        self.resources = resources
        self._built: dict[tuple[str, str], list[Guard]] = {}

    def policy(self, tenant: str) -> Policy:
        return self.policies.for_tenant(tenant)

    def guards(self, config: StackConfig, stage: Stage) -> list[Guard]:
        specs = config.stage(stage)
        key = (stage, hashlib.sha256(json.dumps([s.model_dump() for s in specs], sort_keys=True).encode()).hexdigest())
        if key not in self._built:
            self._built[key] = [build_guard(spec, self.resources) for spec in specs]
        return self._built[key]

    async def check_input(self, messages: Sequence[tuple[str, str]], ctx: GuardContext, config: StackConfig) -> Verdict:
        """Input guards over the client's messages ``(role, content)``; ``texts`` are the contents after redaction."""
        texts = [content for _, content in messages]
        last_user = max((i for i, (role, _) in enumerate(messages) if role == "user"), default=len(texts) - 1)
        ctx.extra.setdefault("turns", len(messages))
        jobs: list[Any] = []
        for guard in self.guards(config, "input"):
            scope = getattr(guard, "scope", "last_user")
            if scope == "request":
                jobs.append(self._run(guard, "\n".join(texts), ctx, config))
            elif scope == "each":
                jobs.extend(self._run(guard, text, ctx, config, index=i) for i, text in enumerate(texts) if text)
            elif texts and texts[last_user]:
                jobs.append(self._run(guard, texts[last_user], ctx, config, index=last_user))
        return self._combine(texts, await asyncio.gather(*jobs))

    async def check_output(self, text: str, ctx: GuardContext, config: StackConfig) -> Verdict:
        """Output guards over one reply (or one streamed segment when ``ctx.extra["partial"]``)."""
        jobs = [self._run(guard, text, ctx, config, index=0) for guard in self.guards(config, "output")]
        return self._combine([text], await asyncio.gather(*jobs))

    def hold_back(self, ctx: GuardContext, config: StackConfig) -> HoldBackFilter:
        """A streaming filter for one choice: output guards over a hold-back buffer."""

        async def check(segment: str) -> Verdict:
            return await self.check_output(segment, GuardContext("output", ctx.tenant, ctx.sources, ctx.extra | {"partial": True}), config)

        return HoldBackFilter(check, config.streaming)

    async def warm(self, config: StackConfig) -> None:
        """Load models and train missing classifiers now rather than on the first request."""
        probe = GuardContext("input", extra={"turns": 1})
        await self.check_input([("user", "warm-up: is this fine? call 212-555-0100")], probe, config)
        await self.check_output("warm-up.", GuardContext("output"), config)
        embeddings = self.resources.embeddings
        for task, model in self.resources.classifiers.loaded():
            if model.deep is not None:
                # The classifiers' last stage (SmolLM2) only runs on borderline text: load it now, not then.
                await asyncio.get_running_loop().run_in_executor(self.resources.executor, embeddings.lm(task).warm)

    async def _run(self, guard: Guard, text: str, ctx: GuardContext, config: StackConfig,
                   index: int | None = None) -> tuple[int | None, Decision]:
        started = time.perf_counter()
        try:
            decision = await guard.check(text, ctx)
        except Exception as exc:  # noqa: BLE001 (any guard failure is a decision, never a 500)
            action = "block" if config.fail_closed else "allow"
            log.exception("guard %s failed; %s", guard.name, "blocking (fail closed)" if action == "block" else "allowing")
            metrics.GUARD_ERRORS.labels(guard=guard.name, stage=ctx.stage).inc()
            decision = Decision(action, guard.name, category="guard_error", reason=f"the {guard.name} guard failed: {type(exc).__name__}")
        seconds = time.perf_counter() - started
        metrics.GUARD_DECISIONS.labels(guard=decision.guard, stage=ctx.stage, action=decision.action).inc()
        metrics.GUARD_DURATION.labels(guard=decision.guard, stage=ctx.stage).observe(seconds)
        if decision.action in ("block", "escalate"):
            log.info("guard decision", extra={"guard": decision.guard, "stage": ctx.stage, "action": decision.action,
                                                "category": decision.category, "score": round(decision.score, 3)})
        return index, decision

    def _combine(self, texts: list[str], results: Sequence[tuple[int | None, Decision]]) -> Verdict:
        out = list(texts)
        for index in {i for i, d in results if d.action == "redact" and i is not None}:
            redactions = [d for i, d in results if i == index and d.action == "redact"]
            spans = [span for d in redactions for span in d.spans]
            # Every redactor saw the original text: their spans are masked on it together.
            out[index] = mask_spans(texts[index], spans) if spans else (redactions[-1].replacement or texts[index])
        decisions = sorted((d for _, d in results if d.action != "allow"), key=lambda d: -_RANK[d.action])
        return Verdict(out, decisions)

