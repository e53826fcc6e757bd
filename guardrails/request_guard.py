"""One request's guard state: its policy layers, tool plan and response format, and what each stage decided.

The gateway opens a ``RequestGuard`` per chat request and calls it at three points: ``check_input``
on the client's messages, ``review`` on a whole reply (tool calls, ``response_format``, output guards;
one re-ask through a callback when the reply's structure is wrong), and ``hold_back`` for a
streamed reply. It knows nothing about HTTP or backends.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from guardrails.base import Decision, GuardContext
from guardrails.config import StackConfig
from guardrails.schema import response_format_error
from guardrails.stack import GuardStack
from guardrails.streaming import HoldBackFilter
from guardrails.tools import ToolPlan, check_call, parse_calls, plan, tools_prompt
from telemetry import metrics

log = logging.getLogger(__name__)
Reask = Callable[[str, str], Awaitable[str]]  # (rejected reply, why) -> a new reply


@dataclass
class Reply:
    """A reviewed reply: what the client gets, and the finish reason the review imposes (if any)."""

    content: str | None
    tool_calls: list[dict[str, Any]] | None = None
    finish_reason: str | None = None  # "tool_calls" or "content_filter"; None keeps the model's
    blocked: Decision | None = None


@dataclass
class RequestGuard:
    stack: GuardStack | None
    tenant: str
    config: StackConfig
    layers: list[tuple[str, str]] = field(default_factory=list)
    tool_plan: ToolPlan = field(default_factory=lambda: ToolPlan(()))
    response_format: dict[str, Any] | None = None
    refused: Decision | None = None
    decisions: list[Decision] = field(default_factory=list)

    @classmethod
    def open(cls, stack: GuardStack | None, tenant: str, key_config: dict[str, Any], tools: Sequence[dict[str, Any]] | None,
             tool_choice: Any, response_format: dict[str, Any] | None) -> RequestGuard:
        """The request's policy and tool plan; raises ``ToolNotPermitted`` or ``InvalidToolChoice``."""
        policy = stack.policy(tenant) if stack else None
        config = policy.config if policy else StackConfig()
        layers = policy.prompts(key_config.get("app_prompt")) if policy else []
        allowlist = key_config.get("tools")
        tool_plan = plan(tools, tool_choice, list(allowlist) if allowlist is not None else None, config.tools)
        return cls(stack, tenant, config, layers, tool_plan, response_format)

    # ---------------------------------------------------------------- what the gateway asks

    def system_prompts(self) -> list[str]:
        """The system messages that go before the client's: platform, tenant, app, then the tools offer."""
        prompts = [text for _, text in self.layers]
        return prompts + [tools_prompt(self.tool_plan)] if self.tool_plan.active else prompts

    @property
    def holds_whole_reply(self) -> bool:
        """Tool calls and JSON replies are judged whole: nothing streams before the reply is complete."""
        return self.tool_plan.active or self._checks_format

    @property
    def filters_output(self) -> bool:
        return self.stack is not None and bool(self.config.stage("output"))

    @property
    def refusal(self) -> str:
        return self.config.refusal.message

    async def check_input(self, messages: Sequence[tuple[str, str]]) -> list[str]:
        """Input guards over the client messages; returns their contents after redaction (sets ``refused``)."""
        if self.stack is None or not messages:
            return [content for _, content in messages]
        verdict = await self.stack.check_input(messages, GuardContext("input", self.tenant), self.config)
        self.decisions += verdict.decisions
        self.refused = verdict.blocked
        return verdict.texts

    async def review(self, text: str, reask: Reask | None = None) -> Reply:
        """Check a whole reply: structure (tool calls, response_format; one re-ask), then the output guards."""
        content, calls, problem = self._structure(text)
        if problem and reask is not None:
            log.info("re-asking once: %s", problem)
            content, calls, problem = self._structure(await reask(text, problem))
        if problem:
            self._decide(Decision("escalate", "tools" if self.tool_plan.active else "response_format",
                                  category="invalid_reply", score=1.0, reason=problem))
        if self.filters_output and content:
            assert self.stack is not None
            verdict = await self.stack.check_output(content, GuardContext("output", self.tenant), self.config)
            self.decisions += verdict.decisions
            if verdict.blocked is not None:
                return Reply(self.refusal, None, "content_filter", verdict.blocked)
            content = verdict.text
        wire = [call.wire() for call in calls]
        return Reply(content, wire or None, "tool_calls" if wire else None)

    def hold_back(self) -> HoldBackFilter:
        assert self.stack is not None
        return self.stack.hold_back(GuardContext("output", self.tenant), self.config)

    # ---------------------------------------------------------------- helpers

    @property
    def _checks_format(self) -> bool:
        wants_json = (self.response_format or {}).get("type") in ("json_object", "json_schema")
        return wants_json and self.stack is not None and any(s.name == "response_format" for s in self.config.stage("output"))

    def _structure(self, text: str) -> tuple[str | None, list[Any], str | None]:
        """(content, permitted calls, what is wrong with the reply's structure or None)."""
        content: str | None = text
        calls: list[Any] = []
        problem: str | None = None
        if self.tool_plan.active:
            content, parsed, errors = parse_calls(text)
            problem = errors[0] if errors else None
            for call in parsed:
                decision = self._decide(check_call(call, self.tool_plan))
                if decision.action == "allow":
                    calls.append(call)
                else:
                    problem = problem or decision.reason
            if self.tool_plan.required and not calls and problem is None:
                problem = f"you must call {self.tool_plan.forced or 'one of the functions'} with a <tool_call> block"
        if self._checks_format and not calls and problem is None:
            problem = response_format_error(content or "", self.response_format)
        return content, calls, problem

    def _decide(self, decision: Decision) -> Decision:
        metrics.GUARD_DECISIONS.labels(guard=decision.guard, stage="output", action=decision.action).inc()
        if decision.action != "allow":
            self.decisions.append(decision)
            log.info("guard decision", extra={"guard": decision.guard, "stage": "output", "action": decision.action,
                                                "category": decision.category})
        return decision
