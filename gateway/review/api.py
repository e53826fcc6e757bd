"""/v1/review: the review queue over HTTP, for reviewer and admin keys. Reviewers see their own tenant; admins all."""

from __future__ import annotations

import random
from typing import Annotated, Any, Literal

import anyio
from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from gateway.auth import Principal
from gateway.backends.base import GenerationRequest, Message
from gateway.deps import get_principal
from gateway.errors import BackendUnavailable, InvalidRequest, KeelError, NotFound, invalid_request
from gateway.protocol import ERROR_RESPONSES, ErrorResponse
from gateway.review.models import ReviewItem
from gateway.review.store import ClaimConflict, InvalidDecision, ItemNotFound, ReviewError, ReviewStore, Verdict

REVIEW_ROLES = ("reviewer", "admin")


class ReviewConflict(KeelError):
    """The item is claimed by someone else, already decided, or the caller's claim lapsed (409)."""

    status = 409
    type = "invalid_request_error"
    code = "review_conflict"


class Candidate(BaseModel):
    id: int
    content: str
    origin: str


class ItemOut(BaseModel):
    """A review item as the API shows it."""

    model_config = ConfigDict(from_attributes=True)

    id: str
    tenant: str
    source: str
    reason: str
    priority: int
    status: str
    model: str
    conversation: list[dict[str, Any]]
    candidates: list[Candidate]
    guard_decisions: list[dict[str, Any]]
    client_saw: str
    claimed_by: str | None
    claim_expires_at: float | None
    reviewer: str | None
    decision: str | None
    chosen: int | None
    answer: str | None
    ranking: list[int] | None
    note: str
    created_at: float
    claimed_at: float | None
    decided_at: float | None
    exported_at: float | None


class ItemList(BaseModel):
    object: Literal["list"] = "list"
    data: list[ItemOut]


class DecisionIn(BaseModel):
    """approve (optionally naming the candidate), reject, edit (with the corrected answer), rank (ids, best first)."""

    model_config = ConfigDict(extra="forbid")

    action: Literal["approve", "reject", "edit", "rank"]
    chosen: int | None = None
    answer: str | None = Field(None, max_length=20_000)
    ranking: list[int] | None = Field(None, max_length=16)
    note: str = Field("", max_length=2000)

    def verdict(self) -> Verdict:
        return Verdict(self.action, self.chosen, self.answer, self.ranking, self.note)


def get_reviewer(principal: Annotated[Principal, Depends(get_principal)]) -> Principal:
    principal.require_role(*REVIEW_ROLES)
    return principal


def get_store(request: Request) -> ReviewStore:
    store: ReviewStore | None = getattr(request.app.state, "review_store", None)
    if store is None:
        raise NotFound("the review queue is not enabled on this gateway")
    return store


ReviewerDep = Annotated[Principal, Depends(get_reviewer)]
StoreDep = Annotated[ReviewStore, Depends(get_store)]
ERRORS: dict[int | str, dict[str, Any]] = ERROR_RESPONSES | {
    409: {"model": ErrorResponse, "description": "Claimed by another reviewer, already decided, or the claim lapsed"},
}
router = APIRouter(prefix="/v1/review", tags=["review"], responses=ERRORS)


def scope(principal: Principal, tenant: str | None = None) -> str | None:
    """The tenant a caller may see: an admin sees every tenant (or the one asked for), a reviewer only their own."""
    return tenant if principal.has_role("admin") else principal.tenant


@router.get("/items", response_model=ItemList, summary="List review items, highest priority and oldest first.")
def list_items(
    principal: ReviewerDep, store: StoreDep,
    status: Literal["pending", "claimed", "decided"] | None = None,
    source: Literal["escalation", "audit"] | None = None,
    tenant: str | None = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> ItemList:
    items = store.list(scope(principal, tenant), status, source, limit, offset)
    return ItemList(data=[ItemOut.model_validate(i) for i in items])


@router.get("/items/{item_id}", response_model=ItemOut)
def get_item(item_id: str, principal: ReviewerDep, store: StoreDep) -> ItemOut:
    return ItemOut.model_validate(call(store.get, item_id, scope(principal)))


@router.post("/items/{item_id}/claim", response_model=ItemOut, summary="Claim (or renew) a lease on an item.")
def claim_item(item_id: str, principal: ReviewerDep, store: StoreDep) -> ItemOut:
    return ItemOut.model_validate(call(store.claim, item_id, scope(principal), principal.key_id))


@router.post("/items/{item_id}/release", response_model=ItemOut, summary="Give a claimed item back to the queue.")
def release_item(item_id: str, principal: ReviewerDep, store: StoreDep) -> ItemOut:
    return ItemOut.model_validate(call(store.release, item_id, scope(principal), principal.key_id))


@router.post(
    "/items/{item_id}/decision", response_model=ItemOut, summary="Decide a claimed item.",
    # The body is parsed after the key is checked (below), as chat completions do; this documents it.
    openapi_extra={"requestBody": {"required": True, "content": {"application/json": {
        "schema": {"$ref": "#/components/schemas/DecisionIn"}}}}},
)
async def decide_item(item_id: str, request: Request, principal: ReviewerDep, store: StoreDep) -> ItemOut:
    try:
        body = DecisionIn.model_validate_json(await request.body() or b"null")
    except ValidationError as exc:
        raise invalid_request(exc.errors()) from None
    item = await anyio.to_thread.run_sync(call, store.decide, item_id, scope(principal), principal.key_id, body.verdict())
    return ItemOut.model_validate(item)


def document_schemas(openapi: dict[str, Any]) -> dict[str, Any]:
    """Add ``DecisionIn`` to the OpenAPI components (its body is parsed by hand)."""
    openapi.setdefault("components", {}).setdefault("schemas", {})["DecisionIn"] = DecisionIn.model_json_schema(
        ref_template="#/components/schemas/{model}")
    return openapi


@router.post("/items/{item_id}/candidates", response_model=ItemOut,
             summary="Ask the model for one more candidate answer, for side-by-side ranking.")
async def add_candidate(item_id: str, request: Request, principal: ReviewerDep, store: StoreDep) -> ItemOut:
    item = await extra_candidate(request, store, item_id, principal)
    return ItemOut.model_validate(item)


@router.get("/stats", summary="Items by status, decisions by type, oldest pending age.")
def stats(principal: ReviewerDep, store: StoreDep, tenant: str | None = None) -> dict[str, Any]:
    return store.stats(scope(principal, tenant))


async def extra_candidate(request: Request, store: ReviewStore, item_id: str, principal: Principal) -> ReviewItem:
    """Sample one more answer to the item's conversation from the gateway's backend and add it as a candidate."""
    item = await anyio.to_thread.run_sync(call, store.get, item_id, scope(principal))
    if item.status != "claimed" or item.claimed_by != principal.key_id:
        raise ReviewConflict("claim the item before asking for another candidate")
    pipeline = request.app.state.pipeline
    generation = GenerationRequest(
        messages=[Message(m["role"], m["content"]) for m in item.conversation],
        temperature=1.0, max_tokens=pipeline.default_max_tokens, seed=random.randrange(2**31),
    )
    try:
        completion = await pipeline.backend.generate(generation)
    except KeelError:
        raise
    except Exception as exc:  # the backend's own failure: the reviewer can try again
        raise BackendUnavailable("the model could not produce a candidate; retry shortly") from exc
    text = completion.choices[0].text if completion.choices else ""
    return await anyio.to_thread.run_sync(call, store.add_candidate, item_id, scope(principal), principal.key_id, text)


def call(method: Any, *args: Any) -> Any:
    """Run a store method, converting its errors to the gateway's (404, 409, 400)."""
    try:
        return method(*args)
    except ItemNotFound as exc:
        raise NotFound(str(exc)) from None
    except ClaimConflict as exc:
        raise ReviewConflict(str(exc)) from None
    except InvalidDecision as exc:
        raise InvalidRequest(str(exc)) from None
    except ReviewError as exc:  # pragma: no cover - every store error is one of the above
        raise InvalidRequest(str(exc)) from None
