"""Guard fixtures: a gateway with the guard stack on, real Presidio, a scripted fake backend, keys with config."""

from __future__ import annotations

import re
from pathlib import Path

import httpx
import openai
import pytest
import yaml

from gateway.app import create_app
from gateway.auth import KeyStore
from gateway.backends.base import Completion, CompletionChoice, Delta, GenerationRequest
from gateway.settings import Settings

MODEL = "fake-model"


class ScriptedBackend:
    """Answers with the next scripted reply (the last one repeats), streamed one word at a time."""

    def __init__(self, *replies: str) -> None:
        self.replies = list(replies) or ["Hello."]
        self.requests: list[GenerationRequest] = []

    def _next(self) -> str:
        return self.replies.pop(0) if len(self.replies) > 1 else self.replies[0]

    async def generate(self, request: GenerationRequest) -> Completion:
        self.requests.append(request)
        text = self._next()
        return Completion([CompletionChoice(i, text, "stop") for i in range(request.n)], 7, 5)

    async def stream(self, request: GenerationRequest):
        self.requests.append(request)
        text = self._next()
        words = re.findall(r"\S+\s*|\s+", text)
        for i in range(request.n):
            for j, word in enumerate(words):
                last = j == len(words) - 1
                final = last and i == request.n - 1
                yield Delta(i, word, "stop" if last else None, 7 if final else None, len(words) if final else None)


def write_policies(root: Path, platform: dict, tenants: dict[str, dict] | None = None) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "platform.yaml").write_text(yaml.safe_dump(platform))
    for name, data in (tenants or {}).items():
        (root / "tenants").mkdir(exist_ok=True)
        (root / "tenants" / f"{name}.yaml").write_text(yaml.safe_dump(data))
    return root


class Gateway:
    """An in-process gateway with guards on; ``client(...)`` makes an openai SDK client for a new key."""

    def __init__(self, tmp: Path, backend: ScriptedBackend, policies: Path) -> None:
        self.keys_file = tmp / "keys.yaml"
        self.backend = backend
        settings = Settings.load(None, keys_file=self.keys_file, model="tiny-random",
                                 guards={"enabled": True, "policies": str(policies), "warm": False})
        self.app = create_app(settings, backend=backend, model_id=MODEL)
        self.http = httpx.AsyncClient(transport=httpx.ASGITransport(app=self.app), base_url="http://keel")

    def client(self, tenant: str = "acme", **config) -> openai.AsyncOpenAI:
        key, _ = KeyStore(self.keys_file).add(tenant, ["user"], config=config or None)
        return openai.AsyncOpenAI(base_url="http://keel/v1", api_key=key, http_client=self.http, max_retries=0)

    def sent(self) -> list[tuple[str, str]]:
        return [(m.role, m.content) for m in self.backend.requests[-1].messages]


@pytest.fixture
def make_gateway(tmp_path):
    def make(platform: dict, *replies: str, tenants: dict[str, dict] | None = None) -> Gateway:
        policies = write_policies(tmp_path / "policies", platform, tenants)
        return Gateway(tmp_path, ScriptedBackend(*replies), policies)

    return make
