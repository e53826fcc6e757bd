"""The size guard: request and turn limits, checked before any model or classifier runs."""

from __future__ import annotations

from dataclasses import dataclass

from guardrails.base import Decision, GuardContext


@dataclass
class SizeGuard:
    """Blocks requests whose client text is longer than ``max_chars`` or that carry more than ``max_turns``."""

    max_chars: int = 32_000
    max_turns: int = 64
    name: str = "size"
    scope: str = "request"  # sees all client messages joined, with ``ctx.extra["turns"]``

    async def check(self, subject: str, ctx: GuardContext) -> Decision:
        turns = int(ctx.extra.get("turns", 1))
        if len(subject) > self.max_chars:
            return Decision("block", self.name, category="too_large", score=1.0,
                            reason=f"the messages hold {len(subject)} characters; the limit is {self.max_chars}")
        if turns > self.max_turns:
            return Decision("block", self.name, category="too_many_turns", score=1.0,
                            reason=f"the request has {turns} messages; the limit is {self.max_turns}")
        return Decision("allow", self.name)
