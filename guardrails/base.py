"""The guard seam: ``Guard.check(subject, ctx) -> Decision`` at the input, retrieval or output stage."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal, Protocol, runtime_checkable

Action = Literal["allow", "redact", "block", "escalate"]
Stage = Literal["input", "retrieval", "output"]


@dataclass(frozen=True)
class Decision:
    """What a guard decided about one piece of text; ``replacement`` is the redacted text when redacting."""

    action: Action
    guard: str
    category: str = ""
    score: float = 0.0
    reason: str = ""
    replacement: str | None = None
    # Character spans (start, end, label) of what the guard found in the subject; the streaming
    # hold-back filter uses them to never cut a stream inside a finding.
    spans: tuple[tuple[int, int, str], ...] = ()

    @property
    def allowed(self) -> bool:
        return self.action == "allow"


@dataclass
class GuardContext:
    """What a guard may know besides the text: the stage, the tenant, and stage-specific facts."""

    stage: Stage
    tenant: str = ""
    sources: int = 0  # output stage: how many numbered sources the model was given
    extra: dict[str, Any] = field(default_factory=dict)


@runtime_checkable
class Guard(Protocol):
    """Checks one text; cheap guards answer inline, heavy ones run their model in an executor."""

    name: str

    async def check(self, subject: str, ctx: GuardContext) -> Decision: ...
