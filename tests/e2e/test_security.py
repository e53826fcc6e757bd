"""Security against a real `keel serve` process: no key material in its logs (API keys, the reviewer login form,
an admin key, wrong guesses), security headers on API and UI responses, and no CORS unless configured."""

from __future__ import annotations

import re
import time

import httpx
import pytest

from gateway.auth import KeyStore
from tests.e2e.conftest import Server

MODEL = "tiny-random"


def _wait_for_key(server: Server, key: str) -> None:
    """The gateway re-reads the keys file when it changes (checked at most once a second)."""
    for _ in range(100):
        if httpx.get(f"{server.base_url}/v1/models", headers={"Authorization": f"Bearer {key}"}).status_code == 200:
            return
        time.sleep(0.1)
    pytest.fail("the new key was not picked up")


def _wait_for_log(server: Server, marker: str) -> str:
    for _ in range(100):  # the access line is written just after the response: let it reach the file
        log = server.log()
        if marker in log:
            return log
        time.sleep(0.1)
    pytest.fail(f"{marker!r} never reached the server log")


def test_keys_from_every_entry_point_stay_out_of_the_logs(server: Server) -> None:
    store = KeyStore(server.keys_file)
    reviewer, _ = store.add("e2e", ["reviewer"], name="rita")
    admin, _ = store.add("ops", ["admin"], name="adam")
    wrong = "sk-keel-wrong-guess-9f8e7d6c5b4a"
    _wait_for_key(server, admin)

    with httpx.Client(base_url=server.base_url, timeout=30) as browser:
        form = browser.get("/review/login")
        csrf = re.search(r'name="csrf" value="([^"]+)"', form.text).group(1)
        for key in (wrong, server.key):  # a wrong guess and a plain user key: both refused
            refused = browser.post("/review/login", data={"key": key, "csrf": csrf})
            assert refused.status_code == 303 and "error=" in refused.headers["location"]
        ok = browser.post("/review/login", data={"key": reviewer, "csrf": csrf})
        assert ok.status_code == 303 and ok.headers["location"] == "/review"
        session = browser.cookies.get("keel_review")
        assert session and browser.get("/review").status_code == 200

    api = {"Authorization": f"Bearer {admin}"}
    assert httpx.get(f"{server.base_url}/v1/review/items?tenant=e2e", headers=api).status_code == 200
    user = {"Authorization": f"Bearer {server.key}"}
    assert httpx.get(f"{server.base_url}/v1/review/items", headers=user).status_code == 403
    bad = {"Authorization": f"Bearer {wrong}", "X-Request-Id": "secrets-check-last"}
    assert httpx.post(f"{server.base_url}/v1/chat/completions", headers=bad,
                      json={"model": MODEL, "messages": [{"role": "user", "content": "hi"}]}).status_code == 401

    log = _wait_for_log(server, '"request_id": "secrets-check-last"')
    assert '"route": "other"' in log  # the review requests were logged, as lines without their secrets
    for secret in (wrong, server.key, reviewer, admin, session, csrf):
        assert secret not in log
    # Hash prefixes (key ids) are the only key-derived values a log may carry.
    assert not re.search(r"sk-keel-[A-Za-z0-9_-]{8,}", log)


def test_security_headers_and_no_cors_on_a_real_server(server: Server) -> None:
    origin = {"Origin": "https://evil.example"}
    auth = {"Authorization": f"Bearer {server.key}"}
    api = httpx.get(f"{server.base_url}/v1/models", headers=auth | origin)
    page = httpx.get(f"{server.base_url}/review/login", headers=origin)
    for response in (api, page):
        assert response.status_code == 200
        assert response.headers["x-content-type-options"] == "nosniff"
        assert response.headers["x-frame-options"] == "DENY"
        assert response.headers["referrer-policy"] == "no-referrer"
        assert "frame-ancestors 'none'" in response.headers["content-security-policy"]
        assert "access-control-allow-origin" not in response.headers
    assert "script-src 'self'" in page.headers["content-security-policy"]
    preflight = httpx.options(f"{server.base_url}/v1/chat/completions",
                              headers=origin | {"Access-Control-Request-Method": "POST"})
    assert "access-control-allow-origin" not in preflight.headers
