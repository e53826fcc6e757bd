"""HTTP hardening: CORS off unless configured, security headers on API and UI responses, role checks on every
review route, and no key material in logs (API keys, the reviewer login form, admin keys, the upstream key)."""

import logging
import re

import httpx

from gateway.app import create_app
from gateway.backends.upstream import UpstreamBackend, UpstreamOptions
from gateway.settings import Settings
from tests.fakes import FakeBackend
from tests.unit.review.conftest import MARKER, auth, make_gateway

MODEL = "fake-model"
ORIGIN = "https://app.example"
PREFLIGHT = {"Origin": ORIGIN, "Access-Control-Request-Method": "POST",
             "Access-Control-Request-Headers": "authorization,content-type"}


def _http(settings, **overrides) -> httpx.AsyncClient:
    app = create_app(settings.model_copy(update=overrides), backend=FakeBackend(), model_id=MODEL)
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://keel")


def _chat_body() -> dict:
    return {"model": MODEL, "messages": [{"role": "user", "content": "hi"}]}


# --------------------------------------------------------------------------- CORS


async def test_cors_is_off_by_default(settings, user_key):
    http = _http(settings)
    preflight = await http.options("/v1/chat/completions", headers=PREFLIGHT)
    assert preflight.status_code != 200
    assert not any(k.lower().startswith("access-control-") for k in preflight.headers)
    response = await http.post("/v1/chat/completions", json=_chat_body(),
                               headers={"Origin": ORIGIN} | auth(user_key))
    assert response.status_code == 200 and "access-control-allow-origin" not in response.headers


async def test_an_allow_list_turns_cors_on_for_those_origins_only(settings, user_key):
    http = _http(settings, cors_allow_origins=[ORIGIN])
    preflight = await http.options("/v1/chat/completions", headers=PREFLIGHT)
    assert preflight.status_code == 200
    assert preflight.headers["access-control-allow-origin"] == ORIGIN
    assert "POST" in preflight.headers["access-control-allow-methods"]
    assert "authorization" in preflight.headers["access-control-allow-headers"].lower()
    assert "access-control-allow-credentials" not in preflight.headers  # bearer keys, never cookies
    response = await http.post("/v1/chat/completions", json=_chat_body(), headers={"Origin": ORIGIN} | auth(user_key))
    assert response.status_code == 200 and response.headers["access-control-allow-origin"] == ORIGIN
    assert "x-request-id" in response.headers["access-control-expose-headers"].lower()

    evil = {"Origin": "https://evil.example"}
    refused = await http.options("/v1/chat/completions", headers=PREFLIGHT | evil)
    assert refused.status_code == 400 and "access-control-allow-origin" not in refused.headers
    response = await http.post("/v1/chat/completions", json=_chat_body(), headers=evil | auth(user_key))
    assert "access-control-allow-origin" not in response.headers


# --------------------------------------------------------------------------- security headers


def _assert_hardened(response: httpx.Response) -> str:
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["x-frame-options"] == "DENY"
    assert response.headers["referrer-policy"] == "no-referrer"
    csp = response.headers["content-security-policy"]
    assert "frame-ancestors 'none'" in csp and "default-src 'none'" in csp
    return csp


async def test_api_responses_carry_security_headers(settings, user_key):
    http = _http(settings, max_body_bytes=2048)
    responses = [
        await http.get("/health"),
        await http.get("/v1/models", headers=auth(user_key)),
        await http.get("/v1/models"),  # 401
        await http.get("/v1/nothing"),  # 404
        await http.post("/v1/chat/completions", content=b"x" * 4096, headers=auth(user_key)),  # 413, before the app
        await http.post("/v1/chat/completions", json=_chat_body() | {"stream": True}, headers=auth(user_key)),
    ]
    assert [r.status_code for r in responses] == [200, 200, 401, 404, 413, 200]
    for response in responses:
        assert _assert_hardened(response).startswith("default-src 'none'")


async def test_the_openapi_pages_get_a_csp_that_lets_them_load(settings):
    http = _http(settings)
    for path in ("/docs", "/redoc"):
        page = await http.get(path)
        assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
        csp = _assert_hardened(page)
        assert "script-src https://cdn.jsdelivr.net" in csp
        for src in re.findall(r'<script src="([^"]+)"', page.text):  # every script the page loads is allowed
            assert src.startswith("https://cdn.jsdelivr.net/")


async def test_review_ui_pages_keep_their_own_strict_csp(tmp_path, monkeypatch):
    gateway = make_gateway(tmp_path, monkeypatch)
    for path in ("/review/login", "/review/static/review.js"):
        response = await gateway.http.get(path)
        assert response.status_code == 200
        csp = _assert_hardened(response)
        assert "script-src 'self'" in csp and "form-action 'self'" in csp  # the UI's policy, not the API's
        assert response.headers.get_list("content-security-policy") == [csp]  # one policy, not two


# --------------------------------------------------------------------------- roles


def _review_routes(app) -> list[tuple[str, str]]:
    """Every /v1/review operation the OpenAPI schema documents (so a route added later is checked too)."""
    paths = app.openapi()["paths"]
    return [(method.upper(), path.replace("{item_id}", "some-item"))
            for path, operations in paths.items() if path.startswith("/v1/review") for method in operations]


async def test_every_review_api_route_refuses_a_plain_user_key(tmp_path, monkeypatch):
    gateway = make_gateway(tmp_path, monkeypatch)
    routes = _review_routes(gateway.app)
    assert len(routes) >= 7  # list, get, claim, release, decision, candidates, stats
    for method, path in routes:
        response = await gateway.http.request(method, path, json={"action": "reject"}, headers=auth(gateway.keys.user))
        assert response.status_code == 403, (method, path)
        assert response.json()["error"]["type"] == "permission_error"
        assert (await gateway.http.request(method, path)).status_code == 401, (method, path)


async def test_admin_scope_is_not_reachable_with_a_reviewer_or_user_key(tmp_path, monkeypatch):
    # The admin role's power is the cross-tenant view: `tenant=` is ignored for anyone else.
    gateway = make_gateway(tmp_path, monkeypatch)
    await gateway.chat(MARKER, key=gateway.keys.globex)  # a globex item
    reviewer = auth(gateway.keys.acme)
    listed = await gateway.http.get("/v1/review/items?tenant=globex", headers=reviewer)
    assert listed.status_code == 200 and listed.json()["data"] == []
    stats = await gateway.http.get("/v1/review/stats?tenant=globex", headers=reviewer)
    assert stats.json()["items"]["pending"] == 0
    user = await gateway.http.get("/v1/review/items?tenant=globex", headers=auth(gateway.keys.user))
    assert user.status_code == 403
    admin = await gateway.http.get("/v1/review/items?tenant=globex", headers=auth(gateway.keys.admin))
    assert len(admin.json()["data"]) == 1


# --------------------------------------------------------------------------- secrets never logged


def _logged(caplog) -> str:
    return "\n".join(f"{r.getMessage()} {vars(r)}" for r in caplog.records)


async def test_reviewer_login_and_admin_keys_never_reach_the_logs(tmp_path, monkeypatch, caplog):
    caplog.set_level(logging.DEBUG)
    gateway = make_gateway(tmp_path, monkeypatch)
    browser = httpx.AsyncClient(transport=httpx.ASGITransport(app=gateway.app), base_url="http://keel")
    csrf = re.search(r'name="csrf" value="([^"]+)"', (await browser.get("/review/login")).text).group(1)
    wrong = "sk-keel-wrong-guess-0123456789"
    assert (await browser.post("/review/login", data={"key": wrong, "csrf": csrf})).status_code == 303
    assert (await browser.post("/review/login", data={"key": gateway.keys.user, "csrf": csrf})).status_code == 303
    ok = await browser.post("/review/login", data={"key": gateway.keys.acme, "csrf": csrf})
    assert ok.status_code == 303 and ok.headers["location"] == "/review"
    session = browser.cookies.get("keel_review")
    assert (await browser.get("/review")).status_code == 200
    await gateway.chat(MARKER, key=gateway.keys.admin)
    assert (await gateway.http.get("/v1/review/items?tenant=acme", headers=auth(gateway.keys.admin))).status_code == 200
    assert (await gateway.http.get("/v1/review/items", headers=auth(wrong))).status_code == 401
    logged = _logged(caplog)
    assert "request" in logged  # the access lines were captured
    for secret in (wrong, gateway.keys.user, gateway.keys.acme, gateway.keys.admin, session, csrf):
        assert secret not in logged


async def test_the_upstream_key_never_reaches_logs_or_reprs(settings, user_key, caplog):
    caplog.set_level(logging.DEBUG)
    secret = "upstream-secret-4f2a9c"
    seen: list[str] = []

    def failing(request: httpx.Request) -> httpx.Response:
        seen.append(request.headers.get("authorization", ""))
        return httpx.Response(500, json={"error": {"message": "replica exploded"}})

    options = UpstreamOptions(urls=["http://replica:8000"], model=MODEL, api_key=secret, retries=1, health_interval_s=0)
    backend = UpstreamBackend(options, transport=httpx.MockTransport(failing), sleep=_no_sleep)
    app = create_app(settings, backend=backend, model_id=MODEL)
    http = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://keel")
    response = await http.post("/v1/chat/completions", json=_chat_body(), headers=auth(user_key))
    assert response.status_code == 503 and seen == [f"Bearer {secret}"] * 2  # sent upstream, twice
    assert secret not in _logged(caplog) and secret not in response.text
    assert secret not in repr(options)
    configured = Settings.load(None, keys_file=settings.keys_file, upstream_api_key=secret)
    assert configured.upstream_api_key.get_secret_value() == secret
    assert secret not in repr(configured) and secret not in configured.model_dump_json()


async def _no_sleep(seconds: float) -> None:
    return None

