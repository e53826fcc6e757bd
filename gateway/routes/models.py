"""GET /v1/models: the models this key may use."""

from __future__ import annotations

from fastapi import APIRouter, Request

from gateway.deps import PipelineDep, PrincipalDep
from gateway.errors import ModelNotServed
from gateway.protocol import ERROR_RESPONSES, ModelCard, ModelList

router = APIRouter(prefix="/v1", tags=["models"], responses=ERROR_RESPONSES)


def _cards(request: Request, pipeline: PipelineDep, principal: PrincipalDep) -> list[ModelCard]:
    model_id = pipeline.model_id
    if not principal.may_use_model(model_id):
        return []
    return [ModelCard(id=model_id, created=int(request.app.state.started_at))]


@router.get("/models", response_model=ModelList)
async def list_models(request: Request, pipeline: PipelineDep, principal: PrincipalDep) -> ModelList:
    return ModelList(data=_cards(request, pipeline, principal))


@router.get("/models/{model_id:path}", response_model=ModelCard)
async def get_model(model_id: str, request: Request, pipeline: PipelineDep, principal: PrincipalDep) -> ModelCard:
    for card in _cards(request, pipeline, principal):
        if card.id == model_id:
            return card
    raise ModelNotServed(f"the model {model_id!r} does not exist", param="model")
