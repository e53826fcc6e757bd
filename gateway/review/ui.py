"""/review: the reviewer web UI. Server-rendered Jinja2, a little JS, login by reviewer key → session cookie.

Every form carries the session's CSRF token (the login form a double-submit token); the session cookie
is HttpOnly, SameSite=Strict and scoped to /review. Pages send a strict CSP (scripts and styles from
/review/static only), no framing, no referrer, no caching.
"""

from __future__ import annotations

import hmac
import secrets
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlencode

import anyio
from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates

from gateway.auth import KeyStore, Principal
from gateway.errors import AuthenticationFailed, InvalidRequest, KeelError, NotFound, NotPermitted
from gateway.review.api import REVIEW_ROLES, call, extra_candidate, get_store, scope
from gateway.review.models import ReviewSession
from gateway.review.store import ReviewStore, Verdict

HERE = Path(__file__).parent
SESSION_COOKIE = "keel_review"
LOGIN_COOKIE = "keel_review_login"
STATIC = {"review.js": "text/javascript", "review.css": "text/css"}
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
                               "form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}

templates = Jinja2Templates(directory=str(HERE / "templates"))
templates.env.filters["when"] = lambda s: datetime.fromtimestamp(s, UTC).strftime("%Y-%m-%d %H:%M:%S UTC") if s else ""
router = APIRouter(prefix="/review", include_in_schema=False)


class Reviewer:
    """A logged-in reviewer: the key's principal and the session's CSRF token."""

    def __init__(self, principal: Principal, session: ReviewSession, token: str) -> None:
        self.principal, self.csrf, self.token = principal, session.csrf, token

    def check(self, presented: str) -> None:
        if not hmac.compare_digest(self.csrf.encode(), (presented or "").encode()):
            raise NotPermitted("the form's CSRF token is missing or wrong; reload the page")


class LoginRequired(Exception):
    """No valid session: GET pages redirect to the login form."""


def current_reviewer(request: Request, store: Annotated[ReviewStore, Depends(get_store)]) -> Reviewer:
    token = request.cookies.get(SESSION_COOKIE)
    session = store.find_session(token) if token else None
    if session is None:
        raise LoginRequired()
    keys: KeyStore = request.app.state.keys
    principal = next((p for p in keys.principals() if p.key_id == session.key_id), None)
    if principal is None or not principal.has_role(*REVIEW_ROLES):
        raise LoginRequired()  # the key was removed or lost its role: the session ends with it
    return Reviewer(principal, session, token or "")


ReviewerDep = Annotated[Reviewer, Depends(current_reviewer)]
StoreDep = Annotated[ReviewStore, Depends(get_store)]


def install(app: Any) -> None:
    """Mount the UI on the app: its router and the handlers that keep its errors as HTML pages."""
    app.include_router(router)

    @app.exception_handler(LoginRequired)
    async def login_required(request: Request, _: LoginRequired) -> Response:
        if request.method == "GET":
            return secure(RedirectResponse("/review/login?" + urlencode({"next": request.url.path}), status_code=303))
        return page(request, "error.html", {"message": "Your session has ended; log in again."}, status=401)


def secure(response: Response) -> Response:
    response.headers.update(SECURITY_HEADERS)
    return response


def page(request: Request, name: str, context: dict[str, Any], status: int = 200) -> Response:
    return secure(templates.TemplateResponse(request, name, context, status_code=status))


def _failed(request: Request, reviewer: Reviewer | None, exc: KeelError) -> Response:
    return page(request, "error.html", {"message": exc.message, "reviewer": reviewer}, status=exc.status)


@router.get("/login", response_class=HTMLResponse)
def login_form(request: Request, next: str = "/review", error: str = "") -> Response:
    token = secrets.token_urlsafe(32)
    response = page(request, "login.html", {"csrf": token, "next": _local(next), "error": error})
    response.set_cookie(LOGIN_COOKIE, token, httponly=True, samesite="strict", path="/review",
                        secure=request.url.scheme == "https", max_age=1800)
    return response


@router.post("/login")
def login(request: Request, store: StoreDep, key: Annotated[str, Form()] = "", csrf: Annotated[str, Form()] = "",
          next: Annotated[str, Form()] = "/review") -> Response:
    expected = request.cookies.get(LOGIN_COOKIE) or ""
    if not expected or not hmac.compare_digest(expected.encode(), csrf.encode()):
        return page(request, "error.html", {"message": "The login form expired (CSRF check); reload it."}, status=403)
    try:
        principal = request.app.state.keys.authenticate(key.strip())
        principal.require_role(*REVIEW_ROLES)
    except (AuthenticationFailed, NotPermitted):
        return secure(RedirectResponse("/review/login?" + urlencode({"error": "That key is not a reviewer key."}),
                                       status_code=303))
    token, _ = store.open_session(principal.key_id, request.app.state.settings.review.session_ttl_s)
    response = secure(RedirectResponse(_local(next), status_code=303))
    response.set_cookie(SESSION_COOKIE, token, httponly=True, samesite="strict", path="/review",
                        secure=request.url.scheme == "https")
    response.delete_cookie(LOGIN_COOKIE, path="/review")
    return response


@router.post("/logout")
def logout(reviewer: ReviewerDep, store: StoreDep, csrf: Annotated[str, Form()] = "") -> Response:
    reviewer.check(csrf)
    store.close_session(reviewer.token)
    response = secure(RedirectResponse("/review/login", status_code=303))
    response.delete_cookie(SESSION_COOKIE, path="/review")
    return response


@router.get("", response_class=HTMLResponse)
def queue(request: Request, reviewer: ReviewerDep, store: StoreDep, status: str = "pending", source: str = "",
          tenant: str = "") -> Response:
    status = status if status in ("pending", "claimed", "decided", "all") else "pending"
    source = source if source in ("escalation", "audit") else ""
    where = scope(reviewer.principal, tenant or None)
    items = store.list(where, None if status == "all" else status, source or None, limit=200)
    context = {"reviewer": reviewer, "items": items, "status": status, "source": source, "tenant": tenant,
               "admin": reviewer.principal.has_role("admin"), "stats": store.stats(where)}
    return page(request, "queue.html", context)


@router.get("/items/{item_id}", response_class=HTMLResponse)
def item_page(request: Request, item_id: str, reviewer: ReviewerDep, store: StoreDep, error: str = "") -> Response:
    try:
        item = call(store.get, item_id, scope(reviewer.principal))
    except KeelError as exc:
        return _failed(request, reviewer, exc)
    mine = item.status == "claimed" and item.claimed_by == reviewer.principal.key_id
    return page(request, "item.html", {"reviewer": reviewer, "item": item, "mine": mine, "error": error})


@router.post("/items/{item_id}/claim")
def claim(request: Request, item_id: str, reviewer: ReviewerDep, store: StoreDep, csrf: Annotated[str, Form()] = "") -> Response:
    return _act(request, reviewer, item_id, csrf, lambda: call(store.claim, item_id, scope(reviewer.principal),
                                                                reviewer.principal.key_id))


@router.post("/items/{item_id}/release")
def release(request: Request, item_id: str, reviewer: ReviewerDep, store: StoreDep, csrf: Annotated[str, Form()] = "") -> Response:
    return _act(request, reviewer, item_id, csrf, lambda: call(store.release, item_id, scope(reviewer.principal),
                                                                reviewer.principal.key_id), to_queue=True)


@router.post("/items/{item_id}/decision")
def decide(request: Request, item_id: str, reviewer: ReviewerDep, store: StoreDep, csrf: Annotated[str, Form()] = "",
           action: Annotated[str, Form()] = "", answer: Annotated[str, Form()] = "", chosen: Annotated[str, Form()] = "",
           ranking: Annotated[str, Form()] = "", note: Annotated[str, Form()] = "") -> Response:
    def run() -> Any:
        try:
            order = [int(part) for part in ranking.replace(" ", ",").split(",") if part.strip()]
            pick = int(chosen) if chosen.strip() else None
        except ValueError:
            raise InvalidRequest("rankings and candidates are candidate numbers") from None
        verdict = Verdict(action, pick, answer or None, order or None, note[:2000])
        return call(store.decide, item_id, scope(reviewer.principal), reviewer.principal.key_id, verdict)

    return _act(request, reviewer, item_id, csrf, run, to_queue=True)


@router.post("/items/{item_id}/candidates")
async def more(request: Request, item_id: str, reviewer: ReviewerDep, store: StoreDep,
               csrf: Annotated[str, Form()] = "") -> Response:
    try:
        reviewer.check(csrf)
        await extra_candidate(request, store, item_id, reviewer.principal)
    except KeelError as exc:
        return await anyio.to_thread.run_sync(_failed, request, reviewer, exc)
    return secure(RedirectResponse(f"/review/items/{item_id}", status_code=303))


@router.get("/static/{name}")
def static(name: str) -> Response:
    if name not in STATIC:
        raise NotFound(f"no static file {name!r}")
    return secure(FileResponse(HERE / "static" / name, media_type=STATIC[name]))


def _act(request: Request, reviewer: Reviewer, item_id: str, csrf: str, action: Any, to_queue: bool = False) -> Response:
    try:
        reviewer.check(csrf)
        action()
    except KeelError as exc:
        return _failed(request, reviewer, exc)
    return secure(RedirectResponse("/review" if to_queue else f"/review/items/{item_id}", status_code=303))


def _local(target: str) -> str:
    """Only redirect within the UI (no open redirects)."""
    return target if target.startswith("/review") and not target.startswith("//") else "/review"
