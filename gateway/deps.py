"""FastAPI dependencies as typed aliases: ``PrincipalDep``, ``PipelineDep``, ``SettingsDep``."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, Request

from gateway.auth import KeyStore, Principal, bearer_token
from gateway.limits import RateLimiter
from gateway.pipeline import Pipeline
from gateway.settings import Settings


def get_settings(request: Request) -> Settings:
    return request.app.state.settings


def get_pipeline(request: Request) -> Pipeline:
    return request.app.state.pipeline


def get_principal(request: Request) -> Principal:
    keys: KeyStore = request.app.state.keys
    principal = keys.authenticate(bearer_token(request.headers.get("authorization")))
    request.state.principal = principal
    return principal


async def admit(request: Request, principal: Annotated[Principal, Depends(get_principal)]) -> AsyncIterator[Principal]:
    """Apply the key's rate limits around the whole request, streamed responses included."""
    limiter: RateLimiter = request.app.state.limiter
    slot = await limiter.acquire(principal)
    try:
        yield principal
    finally:
        if slot:
            await limiter.release(principal)
        timing = getattr(request.state, "keel_timing", None)
        if timing is not None:
            await limiter.record_tokens(principal, timing.prompt_tokens + timing.completion_tokens)


SettingsDep = Annotated[Settings, Depends(get_settings)]
PipelineDep = Annotated[Pipeline, Depends(get_pipeline)]
PrincipalDep = Annotated[Principal, Depends(get_principal)]
# Authenticated and within its rate limits; the limits are released after the response is sent.
AdmittedDep = Annotated[Principal, Depends(admit, scope="request")]
