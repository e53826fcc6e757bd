"""The reviewer UI in a real browser: Debian's headless Chromium (no browser download) drives login, claim,
edit and submit against a real gateway process; a reviewer of another tenant does not see the item."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import httpx
import pytest
import yaml

from gateway.auth import KeyStore
from tests.e2e.conftest import start_server, stop_server

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--no-first-run", "--disable-dev-shm-usage"]
CORRECTED = "A corrected answer, written by a reviewer."


@pytest.fixture(scope="module")
def chromium():
    sync_api = pytest.importorskip("playwright.sync_api", reason="the playwright package is not installed")
    if not Path(CHROMIUM).is_file() and not shutil.which("chromium"):
        pytest.skip("Debian's chromium is not installed (apt-get install chromium)")
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        yield browser
        browser.close()


@pytest.fixture(scope="module")
def gateway(tmp_path_factory, tiny_model_dir):
    tmp = tmp_path_factory.mktemp("review-ui")
    policies = tmp / "policies"
    policies.mkdir()
    (policies / "platform.yaml").write_text(yaml.safe_dump({"guards": {"output": [{"name": "response_format"}]}}))
    env = {"KEEL_GUARDS": json.dumps({"enabled": True, "policies": str(policies), "warm": False}),
           "KEEL_REVIEW": json.dumps({"db_url": f"sqlite:///{tmp / 'review.db'}"})}
    server = start_server(tmp, env=env)
    yield server
    stop_server(server)


def test_login_claim_edit_submit(chromium, gateway):
    keys = KeyStore(gateway.keys_file)
    reviewer, _ = keys.add("e2e", ["reviewer"], name="rita")
    outsider, _ = keys.add("other", ["reviewer"], name="otto")
    response = httpx.post(f"{gateway.base_url}/v1/chat/completions", timeout=60,
                          headers={"Authorization": f"Bearer {gateway.key}"},
                          json={"model": "tiny-random", "messages": [{"role": "user", "content": "Answer in JSON."}],
                                "max_tokens": 4, "response_format": {"type": "json_object"}})
    assert response.status_code == 200

    # A reviewer of another tenant sees an empty queue.
    other = chromium.new_context()
    page = other.new_page()
    page.goto(f"{gateway.base_url}/review")
    page.fill("#key", outsider)
    page.click("#login")
    page.wait_for_url(f"{gateway.base_url}/review")
    assert page.locator("a.item-link").count() == 0
    other.close()

    context = chromium.new_context()
    page = context.new_page()
    page.goto(f"{gateway.base_url}/review")  # redirected to the login form
    assert "/review/login" in page.url
    page.fill("#key", reviewer)
    page.click("#login")
    page.wait_for_url(f"{gateway.base_url}/review")
    cookie = next(c for c in context.cookies() if c["name"] == "keel_review")
    assert cookie["httpOnly"] and cookie["sameSite"] == "Strict"
    assert page.locator("a.item-link").count() == 1
    page.keyboard.press("o")  # keyboard: open the selected item
    page.wait_for_url("**/review/items/*")
    assert "Answer in JSON." in page.inner_text("ol.conversation")
    page.keyboard.press("c")  # keyboard: claim
    page.wait_for_selector("#submit-edit")
    page.fill("#answer", CORRECTED)
    page.click("#submit-edit")
    page.wait_for_url(f"{gateway.base_url}/review")
    page.goto(f"{gateway.base_url}/review?status=decided")
    page.click("a.item-link")
    assert page.inner_text("#decision") == "edit" and page.inner_text("#edited") == CORRECTED
    context.close()

    items = httpx.get(f"{gateway.base_url}/v1/review/items?status=decided", timeout=10,
                      headers={"Authorization": f"Bearer {reviewer}"}).json()["data"]
    assert [(i["decision"], i["answer"]) for i in items] == [("edit", CORRECTED)]
