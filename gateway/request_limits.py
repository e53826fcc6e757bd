"""Per-request limits checked before any work starts: message count, message length, and a ``max_tokens`` cap.

A request over a limit gets 400 ``invalid_request_error`` naming the offending ``param``, as OpenAI does.
The ``max_tokens`` cap follows OpenAI too: asking for more than the cap is refused ("max_tokens is too
large"), never silently shortened; a request that asks for nothing gets ``min(default_max_tokens, cap)``.
A key's own ``limits: {max_tokens: N}`` overrides the gateway-wide cap (0: no cap).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from gateway.auth import Principal
from gateway.errors import InvalidRequest
from gateway.protocol import ChatCompletionRequest


@dataclass(frozen=True)
class RequestLimits:
    max_messages: int = 256  # messages in one request
    max_message_chars: int = 200_000  # characters in one message's content
    max_total_chars: int = 500_000  # characters over all messages' content
    max_tokens: int = 0  # largest max_tokens a request may ask for; 0: no cap

    @classmethod
    def from_settings(cls, settings: Any) -> RequestLimits:
        return cls(settings.max_messages, settings.max_message_chars, settings.max_total_chars, settings.max_tokens_cap)

    def token_cap(self, principal: Principal) -> int:
        own = (principal.config.get("limits") or {}).get("max_tokens")
        return int(own) if own is not None else self.max_tokens

    def check(self, request: ChatCompletionRequest, principal: Principal, default_max_tokens: int) -> int:
        """Refuse a request over a limit; return the ``max_tokens`` to use when the request sets none."""
        if len(request.messages) > self.max_messages:
            raise InvalidRequest(
                f"the request has {len(request.messages)} messages; at most {self.max_messages} are allowed",
                param="messages", code="too_many_messages",
            )
        total = 0
        for i, message in enumerate(request.messages):
            size = len(message.text())
            if size > self.max_message_chars:
                raise InvalidRequest(
                    f"messages[{i}].content has {size} characters; at most {self.max_message_chars} are allowed",
                    param=f"messages.{i}.content", code="message_too_long",
                )
            total += size
        if total > self.max_total_chars:
            raise InvalidRequest(
                f"the messages hold {total} characters in all; at most {self.max_total_chars} are allowed",
                param="messages", code="messages_too_long",
            )
        cap = self.token_cap(principal)
        if not cap:
            return default_max_tokens
        # max_completion_tokens is OpenAI's newer name: it wins when both are sent (see to_generation).
        name, asked = (("max_completion_tokens", request.max_completion_tokens) if request.max_completion_tokens
                       else ("max_tokens", request.max_tokens))
        if asked is not None and asked > cap:
            raise InvalidRequest(
                f"{name} is too large: {asked}. This key may ask for at most {cap} completion tokens.",
                param=name, code="max_tokens_too_large",
            )
        return min(default_max_tokens, cap)
