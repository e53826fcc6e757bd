"""An in-process gateway with the review queue on: a fake backend, a guard that escalates on a marker word,
and keys for a user, reviewers of two tenants and an admin."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import yaml

from gateway.app import create_app
from gateway.auth import KeyStore
from gateway.settings import Settings
from guardrails import registry
from guardrails.base import Decision, GuardContext
from tests.fakes import FakeBackend

MODEL = "fake-model"
MARKER = "escalate-me"


class MarkerGuard:
    """A guard-like fake: escalates any reply to a conversation whose text contains ``MARKER``."""

    name = "marker"
    scope = "request"

    async def check(self, subject: str, ctx: GuardContext) -> Decision:
        if MARKER in subject:
            return Decision("escalate", self.name, category="test_marker", score=0.9, reason="the marker word")
        return Decision("allow", self.name)


@dataclass
class Keys:
    user: str
    acme: str  # reviewer of tenant acme
    globex: str  # reviewer of tenant globex
    admin: str


@dataclass
class ReviewGateway:
    app: object
    http: httpx.AsyncClient
    keys: Keys
    backend: FakeBackend
    settings: Settings

    @property
    def store(self):
        return self.app.state.review_store

    async def chat(self, text: str, key: str | None = None, tenant_key: str | None = None, **extra) -> httpx.Response:
        body = {"model": MODEL, "messages": [{"role": "user", "content": text}], **extra}
        return await self.http.post("/v1/chat/completions", json=body, headers=auth(key or tenant_key or self.keys.user))


def auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def make_gateway(tmp: Path, monkeypatch: pytest.MonkeyPatch, review: dict | None = None,
                 backend: FakeBackend | None = None) -> ReviewGateway:
    monkeypatch.setitem(registry.GUARDS, "marker", lambda options, resources: MarkerGuard())
    policies = tmp / "policies"
    policies.mkdir(exist_ok=True)
    (policies / "platform.yaml").write_text(yaml.safe_dump({"prompt": "You are Keel.", "guards": {"input": [{"name": "marker"}]}}))
    keys_file = tmp / "keys.yaml"
    store = KeyStore(keys_file)
    keys = Keys(
        user=store.add("acme", ["user"])[0],
        acme=store.add("acme", ["user", "reviewer"], name="ann")[0],
        globex=store.add("globex", ["reviewer"], name="gus")[0],
        admin=store.add("ops", ["admin"], name="ada")[0],
    )
    settings = Settings.load(
        None, keys_file=keys_file, model="tiny-random", home=tmp,
        guards={"enabled": True, "policies": str(policies), "warm": False},
        review={"db_url": f"sqlite:///{tmp / 'review.db'}", "metrics_interval_s": 0} | (review or {}),
    )
    backend = backend or FakeBackend()
    app = create_app(settings, backend=backend, model_id=MODEL)
    http = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://keel")
    return ReviewGateway(app, http, keys, backend, settings)


@pytest.fixture
def gateway(tmp_path, monkeypatch) -> ReviewGateway:
    return make_gateway(tmp_path, monkeypatch)


@pytest.fixture
def make(tmp_path, monkeypatch):
    return lambda **kw: make_gateway(tmp_path, monkeypatch, **kw)
