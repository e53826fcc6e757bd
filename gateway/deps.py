"""FastAPI dependencies as typed aliases: ``PrincipalDep``, ``PipelineDep``, ``SettingsDep``."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from gateway.auth import KeyStore, Principal, bearer_token
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


SettingsDep = Annotated[Settings, Depends(get_settings)]
PipelineDep = Annotated[Pipeline, Depends(get_pipeline)]
PrincipalDep = Annotated[Principal, Depends(get_principal)]
