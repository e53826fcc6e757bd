"""/review: login by reviewer key, CSRF on every form, tenant isolation, security headers."""

from __future__ import annotations

import re

import httpx

from tests.unit.review.conftest import MARKER


def _csrf(html: str) -> str:
    return re.search(r'name="csrf" value="([^"]+)"', html).group(1)


async def _login(gateway, key: str) -> tuple[httpx.AsyncClient, str]:
    browser = httpx.AsyncClient(transport=httpx.ASGITransport(app=gateway.app), base_url="http://keel")
    form = await browser.get("/review/login")
    response = await browser.post("/review/login", data={"key": key, "csrf": _csrf(form.text), "next": "/review"})
    assert response.status_code == 303 and response.headers["location"] == "/review"
    queue = await browser.get("/review")
    assert queue.status_code == 200
    return browser, _csrf(queue.text)


async def _queued(gateway, key=None) -> str:
    await gateway.chat(MARKER, key=key)
    return gateway.store.list(None, status="pending")[0].id


async def test_pages_need_a_session(gateway):
    response = await gateway.http.get("/review")
    assert response.status_code == 303 and response.headers["location"].startswith("/review/login")


async def test_session_cookie_is_httponly_strict_and_scoped(gateway):
    browser = httpx.AsyncClient(transport=httpx.ASGITransport(app=gateway.app), base_url="http://keel")
    form = await browser.get("/review/login")
    response = await browser.post("/review/login", data={"key": gateway.keys.acme, "csrf": _csrf(form.text)})
    cookie = next(v for k, v in response.headers.multi_items() if k == "set-cookie" and v.startswith("keel_review="))
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Path=/review" in cookie
    assert gateway.keys.acme not in cookie


async def test_a_user_key_cannot_log_in(gateway):
    browser = httpx.AsyncClient(transport=httpx.ASGITransport(app=gateway.app), base_url="http://keel")
    form = await browser.get("/review/login")
    response = await browser.post("/review/login", data={"key": gateway.keys.user, "csrf": _csrf(form.text)})
    assert response.status_code == 303 and "error=" in response.headers["location"]
    assert (await browser.get("/review")).status_code == 303


async def test_login_without_the_double_submit_token_is_refused(gateway):
    browser = httpx.AsyncClient(transport=httpx.ASGITransport(app=gateway.app), base_url="http://keel")
    await browser.get("/review/login")
    response = await browser.post("/review/login", data={"key": gateway.keys.acme, "csrf": "forged"})
    assert response.status_code == 403


async def test_forms_without_the_csrf_token_are_refused(gateway):
    item = await _queued(gateway)
    browser, csrf = await _login(gateway, gateway.keys.acme)
    assert (await browser.post(f"/review/items/{item}/claim", data={"csrf": "wrong"})).status_code == 403
    assert (await browser.post(f"/review/items/{item}/claim", data={})).status_code in (403, 422)
    assert gateway.store.get(item, None).status == "pending"
    ok = await browser.post(f"/review/items/{item}/claim", data={"csrf": csrf})
    assert ok.status_code == 303 and gateway.store.get(item, None).status == "claimed"
    forged = await browser.post(f"/review/items/{item}/decision", data={"csrf": "x", "action": "reject"})
    assert forged.status_code == 403 and gateway.store.get(item, None).status == "claimed"


async def test_claim_edit_and_submit_through_the_forms(gateway):
    item = await _queued(gateway)
    browser, csrf = await _login(gateway, gateway.keys.acme)
    page = await browser.get(f"/review/items/{item}")
    assert "Hello from the fake model." in page.text and "marker" in page.text and MARKER in page.text
    await browser.post(f"/review/items/{item}/claim", data={"csrf": csrf})
    done = await browser.post(f"/review/items/{item}/decision",
                              data={"csrf": csrf, "action": "edit", "answer": "A corrected answer."})
    assert done.status_code == 303
    decided = gateway.store.get(item, None)
    assert (decided.decision, decided.answer, decided.status) == ("edit", "A corrected answer.", "decided")


async def test_reviewers_do_not_see_other_tenants_in_the_ui(gateway):
    acme_item = await _queued(gateway)
    browser, csrf = await _login(gateway, gateway.keys.globex)
    queue = await browser.get("/review?status=all")
    assert acme_item[:8] not in queue.text
    assert (await browser.get(f"/review/items/{acme_item}")).status_code == 404
    assert (await browser.post(f"/review/items/{acme_item}/claim", data={"csrf": csrf})).status_code == 404
    assert gateway.store.get(acme_item, None).status == "pending"
    admin, _ = await _login(gateway, gateway.keys.admin)
    assert acme_item[:8] in (await admin.get("/review")).text


async def test_security_headers_and_escaping(gateway):
    await gateway.chat(MARKER + " <script>alert(1)</script>")
    item = gateway.store.list(None)[0].id
    browser, _ = await _login(gateway, gateway.keys.acme)
    page = await browser.get(f"/review/items/{item}")
    assert "<script>alert(1)</script>" not in page.text and "&lt;script&gt;" in page.text
    csp = page.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "frame-ancestors 'none'" in csp
    assert page.headers["x-frame-options"] == "DENY" and page.headers["cache-control"] == "no-store"


async def test_logout_ends_the_session(gateway):
    browser, csrf = await _login(gateway, gateway.keys.acme)
    assert (await browser.post("/review/logout", data={"csrf": csrf})).status_code == 303
    assert (await browser.get("/review")).status_code == 303


async def test_open_redirects_are_refused(gateway):
    browser = httpx.AsyncClient(transport=httpx.ASGITransport(app=gateway.app), base_url="http://keel")
    form = await browser.get("/review/login")
    response = await browser.post("/review/login", data={"key": gateway.keys.acme, "csrf": _csrf(form.text),
                                                         "next": "https://evil.example/"})
    assert response.headers["location"] == "/review"


async def test_extra_candidate_and_ranking_through_the_forms(gateway):
    item = await _queued(gateway)
    browser, csrf = await _login(gateway, gateway.keys.acme)
    await browser.post(f"/review/items/{item}/claim", data={"csrf": csrf})
    gateway.backend.words = ["A", " second", " answer."]
    assert (await browser.post(f"/review/items/{item}/candidates", data={"csrf": csrf})).status_code == 303
    page = await browser.get(f"/review/items/{item}")
    assert "A second answer." in page.text and 'id="ranking"' in page.text
    bad = await browser.post(f"/review/items/{item}/decision", data={"csrf": csrf, "action": "rank", "ranking": "1,x"})
    assert bad.status_code == 400
    done = await browser.post(f"/review/items/{item}/decision", data={"csrf": csrf, "action": "rank", "ranking": "1, 0"})
    assert done.status_code == 303 and gateway.store.get(item, None).ranking == [1, 0]
