"""OpenAI wire protocol: pydantic models for /v1/chat/completions and /v1/models.

Ordered as in the official OpenAI API reference; Keel-specific fields are fenced under a comment.
Inbound models allow extra fields (an SDK client never gets an error for a parameter Keel ignores)
and report what they ignored. This module imports no torch or transformers: it converts to and from
Keel's own small types in ``gateway.backends.base``.
"""

from __future__ import annotations

import time
import uuid
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from gateway.backends.base import Completion, Delta, GenerationRequest, Message


class _Inbound(BaseModel):
    model_config = ConfigDict(extra="allow")

    def ignored_fields(self) -> list[str]:
        """Names of fields the client sent that Keel does not use."""
        return sorted((self.model_extra or {}).keys())


class _Outbound(BaseModel):
    model_config = ConfigDict(extra="forbid")


# --------------------------------------------------------------------------- requests


class TextPart(_Inbound):
    type: Literal["text"]
    text: str


class ChatMessage(_Inbound):
    role: Literal["system", "developer", "user", "assistant", "tool"]
    content: str | list[TextPart] | None = None
    name: str | None = None
    tool_calls: list[dict[str, Any]] | None = None
    tool_call_id: str | None = None

    def text(self) -> str:
        """The message content as one string (text parts joined by newlines)."""
        if self.content is None:
            return ""
        if isinstance(self.content, str):
            return self.content
        return "\n".join(part.text for part in self.content)

    def prompt_text(self) -> str:
        """The content as the model sees it: earlier tool calls and tool results in Hermes form."""
        from guardrails.tools import format_call, format_response

        if self.role == "tool":
            return format_response(self.text())
        calls = [c.get("function") or {} for c in self.tool_calls or [] if isinstance(c, dict)]
        return "\n".join([self.text(), *(format_call(str(f.get("name", "")), str(f.get("arguments", ""))) for f in calls)]).strip()


class StreamOptions(_Inbound):
    include_usage: bool = False


class ResponseFormat(_Inbound):
    type: Literal["text", "json_object", "json_schema"] = "text"
    json_schema: dict[str, Any] | None = None


class FunctionDefinition(_Inbound):
    name: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")  # OpenAI's rule for names
    description: str | None = None
    parameters: dict[str, Any] | None = None  # a JSON schema; tool-call arguments are validated against it
    strict: bool | None = None


class Tool(_Inbound):
    type: Literal["function"]
    function: FunctionDefinition


class FunctionName(_Inbound):
    name: str = Field(min_length=1)


class NamedToolChoice(_Inbound):
    type: Literal["function"]
    function: FunctionName


class KeelOptions(_Inbound):
    rag: bool | None = None


class ChatCompletionRequest(_Inbound):
    messages: list[ChatMessage] = Field(min_length=1)
    model: str = Field(min_length=1)
    frequency_penalty: float | None = Field(default=None, ge=-2.0, le=2.0)
    logit_bias: dict[str, float] | None = None
    max_completion_tokens: int | None = Field(default=None, ge=1)
    max_tokens: int | None = Field(default=None, ge=1)
    metadata: dict[str, str] | None = None
    n: int = Field(default=1, ge=1, le=16)
    presence_penalty: float | None = Field(default=None, ge=-2.0, le=2.0)
    response_format: ResponseFormat | None = None
    seed: int | None = Field(default=None, ge=-(2**63), le=2**63 - 1)  # int64, as OpenAI's
    stop: str | Annotated[list[Annotated[str, Field(min_length=1)]], Field(max_length=4)] | None = None
    stream: bool = False
    stream_options: StreamOptions | None = None
    temperature: float = Field(default=1.0, ge=0.0, le=2.0)
    tool_choice: Literal["none", "auto", "required"] | NamedToolChoice | None = None
    tools: list[Tool] | None = None
    top_p: float = Field(default=1.0, gt=0.0, le=1.0)
    user: str | None = None
    # --- Keel extensions (not in OpenAI's API; SDK clients send them with extra_body) ---
    rag: bool | None = None  # ground this request in the tenant's knowledge base (or not)
    keel: KeelOptions | None = None  # {"rag": true}, the namespaced form of the same switches

    def rag_requested(self) -> bool | None:
        """The request's own RAG switch: top-level ``rag`` or ``keel.rag``; None when it says nothing."""
        if self.rag is not None:
            return self.rag
        return self.keel.rag if self.keel else None

    def tool_specs(self) -> list[dict[str, Any]] | None:
        """The offered tools as plain dicts (what the tool plan and the prompt read)."""
        return [t.model_dump(exclude_none=True) for t in self.tools] if self.tools is not None else None

    def tool_choice_spec(self) -> str | dict[str, Any] | None:
        if isinstance(self.tool_choice, NamedToolChoice):
            return self.tool_choice.model_dump(exclude_none=True)
        return self.tool_choice

    def stop_list(self) -> list[str]:
        if self.stop is None:
            return []
        return [self.stop] if isinstance(self.stop, str) else list(self.stop)

    def to_generation(self, default_max_tokens: int) -> GenerationRequest:
        """Convert to the backend's request type."""
        return GenerationRequest(
            # "developer" is OpenAI's newer name for the system role.
            messages=[
                Message(role="system" if m.role == "developer" else m.role, content=m.prompt_text())
                for m in self.messages
            ],
            n=self.n,
            temperature=self.temperature,
            top_p=self.top_p,
            # max_completion_tokens is OpenAI's newer name: it wins when both are sent.
            max_tokens=self.max_completion_tokens or self.max_tokens or default_max_tokens,
            stop=self.stop_list(),
            seed=self.seed,
        )


# --------------------------------------------------------------------------- responses


# --- Keel extensions: grounding (RAG) fields, present only on grounded responses ---
class Citation(_Outbound):
    source_id: int  # the [n] the answer cites
    clause: str | None = None
    title: str = ""
    uri: str = ""
    score: float = 0.0


class GroundingReport(_Outbound):
    status: Literal["grounded", "not_found"]  # not_found: nothing relevant, the gateway answered itself
    check: list[str] = Field(default_factory=list)  # per choice: cited, uncited, invalid_citation, not_found
    cited: list[int] = Field(default_factory=list)
    invalid: list[int] = Field(default_factory=list)
    flagged: bool = False  # the output check flagged an answer (uncited, or citing sources it was not given)
    dropped: int = 0  # retrieved chunks left out (below the relevance threshold or flagged by a guard)


def _absent(value: object) -> bool:
    return value is None



class Usage(_Outbound):
    prompt_tokens: int
    completion_tokens: int
    total_tokens: int


class AssistantMessage(_Outbound):
    role: Literal["assistant"] = "assistant"
    content: str | None
    refusal: str | None = None
    tool_calls: list[dict[str, Any]] | None = Field(None, exclude_if=_absent)


class Choice(_Outbound):
    index: int
    message: AssistantMessage
    finish_reason: Literal["stop", "length", "content_filter", "tool_calls"] | None
    logprobs: None = None


def _completion_id() -> str:
    return f"chatcmpl-{uuid.uuid4().hex}"


class ChatCompletion(_Outbound):
    id: str = Field(default_factory=_completion_id)
    object: Literal["chat.completion"] = "chat.completion"
    created: int = Field(default_factory=lambda: int(time.time()))
    model: str
    choices: list[Choice]
    usage: Usage
    system_fingerprint: str | None = None
    # --- Keel extensions ---
    citations: list[Citation] | None = Field(None, exclude_if=_absent)
    grounding: GroundingReport | None = Field(None, exclude_if=_absent)

    @classmethod
    def from_completion(cls, completion: Completion, model: str) -> ChatCompletion:
        return cls(
            model=model,
            choices=[
                Choice(index=c.index, message=AssistantMessage(content=c.text), finish_reason=c.finish_reason)
                for c in completion.choices
            ],
            usage=Usage(
                prompt_tokens=completion.prompt_tokens,
                completion_tokens=completion.completion_tokens,
                total_tokens=completion.prompt_tokens + completion.completion_tokens,
            ),
        )


class DeltaMessage(_Outbound):
    role: Literal["assistant"] | None = None
    content: str | None = None
    tool_calls: list[dict[str, Any]] | None = Field(None, exclude_if=_absent)


class ChunkChoice(_Outbound):
    index: int
    delta: DeltaMessage
    finish_reason: Literal["stop", "length", "content_filter", "tool_calls"] | None = None
    logprobs: None = None


class ChatCompletionChunk(_Outbound):
    id: str
    object: Literal["chat.completion.chunk"] = "chat.completion.chunk"
    created: int
    model: str
    choices: list[ChunkChoice]
    usage: Usage | None = None
    # --- Keel extensions (on the final chunk of a grounded stream) ---
    citations: list[Citation] | None = Field(None, exclude_if=_absent)
    grounding: GroundingReport | None = Field(None, exclude_if=_absent)

    @classmethod
    def from_delta(cls, delta: Delta, *, id: str, created: int, model: str) -> ChatCompletionChunk:
        return cls(
            id=id,
            created=created,
            model=model,
            choices=[
                ChunkChoice(
                    index=delta.index,
                    delta=DeltaMessage(
                        content=delta.text if delta.text else None,
                        # Streamed tool calls carry their position, as OpenAI's chunks do.
                        tool_calls=[{"index": i, **c} for i, c in enumerate(delta.tool_calls)] if delta.tool_calls else None,
                    ),
                    finish_reason=delta.finish_reason,
                )
            ],
        )


class ModelCard(_Outbound):
    id: str
    object: Literal["model"] = "model"
    created: int
    owned_by: str = "keel"


class ModelList(_Outbound):
    object: Literal["list"] = "list"
    data: list[ModelCard]


class ErrorBody(_Outbound):
    message: str
    type: str
    param: str | None = None
    code: str | None = None


class ErrorResponse(_Outbound):
    error: ErrorBody


# Documented on every route so OpenAPI clients and fuzzers know Keel's error shapes.
ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    400: {"model": ErrorResponse, "description": "Invalid request (malformed JSON, bad parameter)"},
    401: {"model": ErrorResponse, "description": "Missing or invalid API key"},
    403: {"model": ErrorResponse, "description": "The key may not use this model, tool or route"},
    404: {"model": ErrorResponse, "description": "Unknown model or route"},
    413: {"model": ErrorResponse, "description": "Request body too large"},
    429: {"model": ErrorResponse, "description": "Rate limited (see Retry-After)"},
    502: {"model": ErrorResponse, "description": "The backend failed (raised an error, crashed, sent garbage)"},
    503: {"model": ErrorResponse, "description": "Backend not ready or overloaded (see Retry-After)"},
    504: {"model": ErrorResponse, "description": "Backend timed out"},
}
