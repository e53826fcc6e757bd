"""Message count and length limits and the per-key max_tokens cap: 400 invalid_request_error naming the param."""

import httpx
import openai
import pytest

from gateway.app import create_app
from gateway.auth import KeyStore
from gateway.settings import Settings
from tests.fakes import FakeBackend

MODEL = "fake-model"


def _setup(settings: Settings, **overrides):
    backend = FakeBackend()
    app = create_app(settings.model_copy(update=overrides), backend=backend, model_id=MODEL)
    return backend, httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://keel")


def _messages(*texts: str) -> list[dict[str, str]]:
    return [{"role": "user" if i % 2 == 0 else "assistant", "content": t} for i, t in enumerate(texts)]


async def _post(http, key, **body):
    return await http.post("/v1/chat/completions", json={"model": MODEL, **body},
                           headers={"Authorization": f"Bearer {key}"})


def _error(response, param):
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["type"] == "invalid_request_error" and error["param"] == param
    return error


@pytest.mark.parametrize("stream", [False, True])
async def test_message_count_limit(settings, user_key, stream):
    backend, http = _setup(settings, max_messages=3)
    assert (await _post(http, user_key, messages=_messages("a", "b", "c"), stream=stream)).status_code == 200
    error = _error(await _post(http, user_key, messages=_messages("a", "b", "c", "d"), stream=stream), "messages")
    assert "4 messages" in error["message"] and "at most 3" in error["message"]
    assert len(backend.requests) == 1  # the refused request never reached the backend


async def test_per_message_length_limit_names_the_message(settings, user_key):
    backend, http = _setup(settings, max_message_chars=10)
    assert (await _post(http, user_key, messages=_messages("x" * 10))).status_code == 200
    error = _error(await _post(http, user_key, messages=_messages("short", "y" * 11)), "messages.1.content")
    assert "11 characters" in error["message"] and "at most 10" in error["message"]
    # Content given as text parts counts the same way.
    parts = [{"role": "user", "content": [{"type": "text", "text": "x" * 6}, {"type": "text", "text": "y" * 6}]}]
    _error(await _post(http, user_key, messages=parts), "messages.0.content")
    assert len(backend.requests) == 1


async def test_total_length_limit(settings, user_key):
    _, http = _setup(settings, max_message_chars=100, max_total_chars=25)
    assert (await _post(http, user_key, messages=_messages("a" * 10, "b" * 10))).status_code == 200
    error = _error(await _post(http, user_key, messages=_messages("a" * 10, "b" * 10, "c" * 10)), "messages")
    assert "30 characters" in error["message"]


async def test_sdk_sees_bad_request_with_the_param(settings, user_key):
    _, http = _setup(settings, max_messages=1)
    client = openai.AsyncOpenAI(base_url="http://keel/v1", api_key=user_key, http_client=http, max_retries=0)
    with pytest.raises(openai.BadRequestError) as info:
        await client.chat.completions.create(model=MODEL, messages=_messages("a", "b"))
    assert info.value.body["param"] == "messages" and info.value.body["code"] == "too_many_messages"


async def test_without_a_cap_max_tokens_passes_through(settings, user_key):
    backend, http = _setup(settings, default_max_tokens=40)
    assert (await _post(http, user_key, messages=_messages("hi"), max_tokens=5000)).status_code == 200
    assert (await _post(http, user_key, messages=_messages("hi"))).status_code == 200
    assert [r.max_tokens for r in backend.requests] == [5000, 40]


async def test_gateway_cap_refuses_over_cap_and_clamps_the_default(settings, user_key):
    backend, http = _setup(settings, default_max_tokens=256, max_tokens_cap=64)
    # Asking for nothing: the default, clamped to the cap.
    assert (await _post(http, user_key, messages=_messages("hi"))).status_code == 200
    # At the cap: allowed as asked.
    assert (await _post(http, user_key, messages=_messages("hi"), max_tokens=64)).status_code == 200
    assert [r.max_tokens for r in backend.requests] == [64, 64]
    # Over the cap: refused as OpenAI does, naming the parameter the client used.
    error = _error(await _post(http, user_key, messages=_messages("hi"), max_tokens=65), "max_tokens")
    assert error["message"].startswith("max_tokens is too large: 65") and "at most 64" in error["message"]
    _error(await _post(http, user_key, messages=_messages("hi"), max_completion_tokens=100, max_tokens=10),
           "max_completion_tokens")
    assert len(backend.requests) == 2


async def test_a_keys_own_cap_wins_over_the_gateway_cap(settings, keys_file):
    small, _ = KeyStore(keys_file).add("acme", ["user"], config={"limits": {"max_tokens": 8}})
    big, _ = KeyStore(keys_file).add("acme", ["user"], config={"limits": {"max_tokens": 0}})  # 0: uncapped
    backend, http = _setup(settings, default_max_tokens=256, max_tokens_cap=64)
    _error(await _post(http, small, messages=_messages("hi"), max_tokens=9), "max_tokens")
    assert (await _post(http, small, messages=_messages("hi"))).status_code == 200
    assert (await _post(http, big, messages=_messages("hi"), max_tokens=1000)).status_code == 200
    assert [r.max_tokens for r in backend.requests] == [8, 1000]


def test_settings_come_from_the_environment(monkeypatch, keys_file):
    monkeypatch.setenv("KEEL_MAX_MESSAGES", "7")
    monkeypatch.setenv("KEEL_MAX_MESSAGE_CHARS", "70")
    monkeypatch.setenv("KEEL_MAX_TOTAL_CHARS", "700")
    monkeypatch.setenv("KEEL_MAX_TOKENS_CAP", "77")
    monkeypatch.setenv("KEEL_REQUEST_TIMEOUT_S", "1.5")
    monkeypatch.setenv("KEEL_GRACEFUL_SHUTDOWN_S", "5")
    monkeypatch.setenv("KEEL_CORS_ALLOW_ORIGINS", "https://a.example, https://b.example")
    s = Settings.load(None, keys_file=keys_file)
    assert (s.max_messages, s.max_message_chars, s.max_total_chars, s.max_tokens_cap) == (7, 70, 700, 77)
    assert (s.request_timeout_s, s.graceful_shutdown_s) == (1.5, 5)
    assert s.cors_allow_origins == ["https://a.example", "https://b.example"]
