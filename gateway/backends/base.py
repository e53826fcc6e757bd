"""The model-backend seam: Keel's own small request/result types and the ``ModelBackend`` protocol."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol, runtime_checkable

FinishReason = Literal["stop", "length", "content_filter", "tool_calls"]


@dataclass(frozen=True)
class Message:
    role: str
    content: str


@dataclass
class GenerationRequest:
    """What a backend needs to generate: the final prompt messages and sampling parameters."""

    messages: list[Message]
    n: int = 1
    temperature: float = 1.0
    top_p: float = 1.0
    max_tokens: int = 256
    stop: list[str] = field(default_factory=list)
    seed: int | None = None


@dataclass
class CompletionChoice:
    index: int
    text: str
    finish_reason: FinishReason


@dataclass
class Completion:
    choices: list[CompletionChoice]
    prompt_tokens: int
    completion_tokens: int


@dataclass
class Delta:
    """One streamed piece of choice ``index``; the last one of a choice carries ``finish_reason``."""

    index: int
    text: str
    finish_reason: FinishReason | None = None
    # Set on the final delta of the whole stream (all choices finished) for usage reporting.
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    tool_calls: list[dict[str, Any]] | None = None  # OpenAI tool calls parsed from a held-back reply (gateway-side)


@runtime_checkable
class ModelBackend(Protocol):
    """Generates completions for chat messages; ``stream`` yields token-level deltas."""

    async def generate(self, request: GenerationRequest) -> Completion: ...

    def stream(self, request: GenerationRequest) -> AsyncIterator[Delta]: ...
