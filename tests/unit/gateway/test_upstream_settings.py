"""Choosing the upstream backend through settings: env parsing, validation, the backend registry."""

from __future__ import annotations

import httpx
import pytest
from pydantic import ValidationError

from gateway.app import BACKENDS, build_backend, create_app
from gateway.backends.upstream import UpstreamBackend
from gateway.settings import Settings


def test_urls_come_comma_separated_from_the_environment(monkeypatch, keys_file):
    monkeypatch.setenv("KEEL_BACKEND", "upstream")
    monkeypatch.setenv("KEEL_UPSTREAM_URLS", "http://vllm-0:8000, http://vllm-1:8000/")
    monkeypatch.setenv("KEEL_UPSTREAM_API_KEY", "sk-upstream-secret")
    settings = Settings.load(None, keys_file=keys_file, model="org/Model-7B")
    assert settings.upstream_urls == ["http://vllm-0:8000", "http://vllm-1:8000/"]
    assert "sk-upstream-secret" not in repr(settings)
    backend = build_backend(settings)
    assert isinstance(backend, UpstreamBackend)
    assert [r.base_url for r in backend.pool.replicas] == ["http://vllm-0:8000", "http://vllm-1:8000"]
    assert [r.label for r in backend.pool.replicas] == ["vllm-0:8000", "vllm-1:8000"]
    assert backend.options.model == "org/Model-7B" and backend.options.api_key == "sk-upstream-secret"


def test_upstream_without_urls_is_refused(keys_file):
    with pytest.raises(ValidationError, match="upstream_urls"):
        Settings.load(None, keys_file=keys_file, backend="upstream")


def test_registry_names_both_backends():
    assert set(BACKENDS) == {"transformers", "upstream"}


def test_replica_label_never_carries_credentials():
    from gateway.backends.replicas import CircuitBreaker, Replica

    assert Replica("https://user:pw@vllm.internal", CircuitBreaker()).label == "vllm.internal:443"


async def test_upstream_app_serves_the_model_under_its_upstream_name(keys_file, user_key, monkeypatch):
    settings = Settings.load(None, keys_file=keys_file, backend="upstream", model="org/Model-7B",
                             upstream_urls=["http://127.0.0.1:9"], upstream_health_interval_s=0)
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        http = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://keel")
        models = (await http.get("/v1/models", headers={"Authorization": f"Bearer {user_key}"})).json()
        assert [m["id"] for m in models["data"]] == ["org/Model-7B"]
        assert (await http.get("/ready")).status_code == 503  # nothing listens on port 9
        r = await http.post("/v1/chat/completions", headers={"Authorization": f"Bearer {user_key}"},
                            json={"model": "org/Model-7B", "messages": [{"role": "user", "content": "hi"}]})
        assert r.status_code == 503 and "retry-after" in r.headers
