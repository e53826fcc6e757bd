"""Keel's error tree; one handler renders every error as an OpenAI-style error object."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


class KeelError(Exception):
    """Base of every error a client can see."""

    status = 500
    type = "server_error"
    code: str | None = None

    def __init__(self, message: str, *, param: str | None = None, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.param = param
        if code is not None:
            self.code = code

    def headers(self) -> dict[str, str]:
        return {}

    def body(self) -> dict[str, dict[str, str | None]]:
        return {"error": {"message": self.message, "type": self.type, "param": self.param, "code": self.code}}


class InvalidRequest(KeelError):
    """The request is malformed or asks for something impossible (400)."""

    status = 400
    type = "invalid_request_error"


class ContextLengthExceeded(InvalidRequest):
    """The prompt does not fit in the model's context (400)."""

    code = "context_length_exceeded"


class AuthenticationFailed(KeelError):
    """Missing or unknown API key (401)."""

    status = 401
    type = "authentication_error"
    code = "invalid_api_key"


class NotPermitted(KeelError):
    """The key may not use this model, tool or route (403)."""

    status = 403
    type = "permission_error"
    code = "not_permitted"


class NotFound(KeelError):
    """No such model or route (404)."""

    status = 404
    type = "invalid_request_error"
    code = "not_found"


class ModelNotServed(NotFound):
    """The requested model is not served here (404)."""

    code = "model_not_found"


class PayloadTooLarge(KeelError):
    """The request body is over the configured limit (413)."""

    status = 413
    type = "invalid_request_error"
    code = "request_too_large"


class RateLimited(KeelError):
    """Too many requests or tokens for this key (429, with Retry-After)."""

    status = 429
    type = "rate_limit_error"
    code = "rate_limit_exceeded"

    def __init__(self, message: str, *, retry_after: float = 1.0, **kw: str | None) -> None:
        super().__init__(message, **kw)
        self.retry_after = retry_after

    def headers(self) -> dict[str, str]:
        return {"Retry-After": str(max(1, round(self.retry_after)))}


class GuardBlocked(InvalidRequest):
    """A guard refused the content (400, content_policy_violation)."""

    code = "content_policy_violation"


class BackendUnavailable(KeelError):
    """The model backend is down or not ready (503)."""

    status = 503
    type = "server_error"
    code = "backend_unavailable"

    def headers(self) -> dict[str, str]:
        return {"Retry-After": "1"}


class BackendOverloaded(BackendUnavailable):
    """The backend's queue is full; retry shortly (503)."""

    code = "backend_overloaded"


class BackendFailed(KeelError):
    """The backend raised an unexpected error or crashed (502)."""

    status = 502
    type = "server_error"
    code = "backend_error"


class BackendTimeout(KeelError):
    """The backend did not answer in time (504, type ``timeout``)."""

    status = 504
    type = "timeout"
    code = "backend_timeout"


def invalid_request(errors: Sequence[Any]) -> InvalidRequest:
    """Phrase the first pydantic validation problem like OpenAI does: a message and the offending parameter."""
    if not errors:
        return InvalidRequest("invalid request body")
    first = errors[0]
    if first.get("type") == "json_invalid":
        return InvalidRequest("the request body is not valid JSON")
    loc = [str(p) for p in first.get("loc", ()) if p != "body"]
    param = ".".join(loc) or None
    message = first.get("msg", "invalid value")
    if param is None and first.get("type") in ("model_type", "dict_type"):
        message = "the request body must be a JSON object"
    return InvalidRequest(f"{param}: {message}" if param else message, param=param)
