"""The guard stack: concurrency, precedence, redaction, fail-closed, metrics (fake guards, no models)."""

import asyncio
from dataclasses import dataclass

import pytest

from guardrails import registry
from guardrails.base import Decision, GuardContext
from guardrails.config import StackConfig
from guardrails.policy import PolicyStore
from guardrails.registry import Resources
from guardrails.stack import GuardStack
from telemetry import metrics


@dataclass
class Rendezvous:
    """Two of these only finish if they run at the same time (each waits for the other)."""

    name: str
    events: dict
    scope: str = "last_user"

    async def check(self, subject, ctx):
        self.events[self.name].set()
        other = "b" if self.name == "a" else "a"
        await asyncio.wait_for(self.events[other].wait(), timeout=5)
        return Decision("allow", self.name)


@dataclass
class Crashes:
    name: str = "crashes"
    scope: str = "last_user"

    async def check(self, subject, ctx):
        raise RuntimeError("boom")


@dataclass
class Fixed:
    decision: Decision
    scope: str = "each"

    @property
    def name(self):
        return self.decision.guard

    async def check(self, subject, ctx):
        return self.decision


@pytest.fixture
def stack(tmp_path, monkeypatch):
    events = {"a": asyncio.Event(), "b": asyncio.Event()}
    monkeypatch.setitem(registry.GUARDS, "a", lambda o, r: Rendezvous("a", events))
    monkeypatch.setitem(registry.GUARDS, "b", lambda o, r: Rendezvous("b", events))
    monkeypatch.setitem(registry.GUARDS, "crashes", lambda o, r: Crashes())
    monkeypatch.setitem(registry.GUARDS, "masks", lambda o, r: Fixed(Decision("redact", "masks", spans=((0, 2, "X"),))))
    monkeypatch.setitem(registry.GUARDS, "escalates", lambda o, r: Fixed(Decision("escalate", "escalates", category="c")))
    (tmp_path / "platform.yaml").write_text("prompt: P\n")
    return GuardStack(PolicyStore(tmp_path), Resources(tmp_path))


def _config(*names, **kw):
    return StackConfig(input=[{"name": n} for n in names], **kw)


async def test_guards_of_a_stage_run_concurrently(stack):
    verdict = await stack.check_input([("user", "hi")], GuardContext("input"), _config("a", "b"))
    assert verdict.blocked is None and verdict.decisions == []


async def test_a_crashing_guard_fails_closed_and_is_counted(stack):
    before = metrics.GUARD_ERRORS.labels(guard="crashes", stage="input")._value.get()
    verdict = await stack.check_input([("user", "hi")], GuardContext("input"), _config("crashes"))
    assert verdict.blocked is not None and verdict.blocked.category == "guard_error"
    assert metrics.GUARD_ERRORS.labels(guard="crashes", stage="input")._value.get() == before + 1


async def test_fail_open_is_configurable(stack):
    verdict = await stack.check_input([("user", "hi")], GuardContext("input"), _config("crashes", fail_closed=False))
    assert verdict.blocked is None


async def test_redactions_apply_per_message_and_escalations_are_kept(stack):
    counted = metrics.GUARD_DECISIONS.labels(guard="masks", stage="input", action="redact")._value.get()
    verdict = await stack.check_input([("system", "abcd"), ("user", "xyz")], GuardContext("input"),
                                      _config("masks", "escalates"))
    assert verdict.texts == ["<X>cd", "<X>z"]
    assert [d.guard for d in verdict.escalated] == ["escalates", "escalates"]
    assert verdict.decisions[0].action == "escalate"  # precedence: escalate before redact
    assert metrics.GUARD_DECISIONS.labels(guard="masks", stage="input", action="redact")._value.get() == counted + 2


async def test_unknown_guard_names_are_an_error(stack):
    with pytest.raises(ValueError, match="unknown guard"):
        await stack.check_input([("user", "hi")], GuardContext("input"), _config("nope"))
