"""Faults and shutdown against real `keel serve` processes: a hanging upstream (504 / a final timeout event while
other requests are served), an upstream process killed mid-stream, and SIGTERM while a stream is in flight."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest

from tests.e2e.conftest import Server, start_server, stop_server
from tests.fake_upstream import FakeUpstream, start_fake_upstream

pytestmark = pytest.mark.slow

STUB_MODEL = "stub-model"
WORDS = ["Hello", " from", " the", " stub", " upstream."]


# --------------------------------------------------------------------------- a scriptable upstream, in a thread


@dataclass
class Stub:
    """An OpenAI-compatible upstream whose behaviour the last user message picks:
    ``hang`` (never answers), ``hang-mid`` (two words, then nothing), ``gate`` (one word, then waits for
    ``gate`` to be set), anything else answers at once."""

    url: str = ""
    release: threading.Event = field(default_factory=threading.Event)  # ends every hang (at teardown)
    gate: threading.Event = field(default_factory=threading.Event)
    gated: threading.Event = field(default_factory=threading.Event)  # a gated stream is waiting at the gate


def _handler(stub: Stub) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:  # quiet
            pass

        def do_GET(self) -> None:
            body = json.dumps({"object": "list", "data": [{"id": STUB_MODEL, "object": "model"}]}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_POST(self) -> None:
            request = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            script = request["messages"][-1]["content"]
            if script == "hang":
                stub.release.wait(120)
                return
            if not request.get("stream"):
                body = json.dumps({"object": "chat.completion", "choices": [
                    {"index": 0, "message": {"role": "assistant", "content": "".join(WORDS)}, "finish_reason": "stop"}],
                    "usage": {"prompt_tokens": 3, "completion_tokens": 5}}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
                return
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.end_headers()  # HTTP/1.0: the body ends when the connection closes
            for i, word in enumerate(WORDS):
                if i == 2 and script == "hang-mid":
                    stub.release.wait(120)
                    return
                if i == 1 and script == "gate":
                    stub.gated.set()
                    stub.gate.wait(120)
                self._event({"index": 0, "delta": {"content": word}, "finish_reason": None})
            self._event({"index": 0, "delta": {}, "finish_reason": "stop"})
            self._send(b"data: [DONE]\n\n")

        def _event(self, choice: dict) -> None:
            self._send(f"data: {json.dumps({'object': 'chat.completion.chunk', 'choices': [choice]})}\n\n".encode())

        def _send(self, data: bytes) -> None:
            self.wfile.write(data)
            self.wfile.flush()

    return Handler


@pytest.fixture(scope="module")
def stub() -> Iterator[Stub]:
    state = Stub()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(state))
    server.daemon_threads = True
    state.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield state
    state.release.set()
    state.gate.set()
    server.shutdown()
    server.server_close()


def _upstream_env(url: str, **extra: str) -> dict[str, str]:
    return {"KEEL_BACKEND": "upstream", "KEEL_UPSTREAM_URLS": url, "KEEL_UPSTREAM_HEALTH_INTERVAL_S": "0"} | extra


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory, stub: Stub) -> Iterator[Server]:
    home = tmp_path_factory.mktemp("reliability")
    env = _upstream_env(stub.url, KEEL_REQUEST_TIMEOUT_S="2", KEEL_HOME=str(home))
    server = start_server(home, env=env, model=STUB_MODEL)
    yield server
    stop_server(server)


def _body(script: str, stream: bool = False) -> dict:
    return {"model": STUB_MODEL, "messages": [{"role": "user", "content": script}], "stream": stream}


def _events(text: str) -> list[str]:
    return [line[6:] for line in text.splitlines() if line.startswith("data: ")]


def _text(events: list[str]) -> str:
    return "".join(c["delta"].get("content") or "" for e in events if e != "[DONE]" and "choices" in json.loads(e)
                   for c in json.loads(e)["choices"])


# --------------------------------------------------------------------------- hangs


def test_a_hanging_upstream_is_a_504_while_other_requests_are_served(gateway: Server) -> None:
    headers = {"Authorization": f"Bearer {gateway.key}"}

    async def main() -> tuple[httpx.Response, list[httpx.Response]]:
        # The client waits far longer than the gateway's 2 s deadline: only the gateway can end the hang.
        async with httpx.AsyncClient(base_url=gateway.base_url, headers=headers, timeout=60) as http:
            hanging = asyncio.create_task(http.post("/v1/chat/completions", json=_body("hang")))
            served = [await http.post("/v1/chat/completions", json=_body(f"q{i}", stream=i % 2 == 1)) for i in range(4)]
            assert not hanging.done()  # the others were answered while it hung
            return await hanging, served

    hung, served = asyncio.run(main())
    assert [r.status_code for r in served] == [200] * 4
    assert hung.status_code == 504
    error = hung.json()["error"]
    assert (error["type"], error["code"]) == ("timeout", "backend_timeout") and "2 s" in error["message"]


def test_hanging_streams_end_cleanly(gateway: Server) -> None:
    headers = {"Authorization": f"Bearer {gateway.key}"}
    with httpx.Client(base_url=gateway.base_url, headers=headers, timeout=60) as http:
        before_first = http.post("/v1/chat/completions", json=_body("hang", stream=True))
        assert before_first.status_code == 504 and before_first.json()["error"]["type"] == "timeout"

        midway = http.post("/v1/chat/completions", json=_body("hang-mid", stream=True))
        assert midway.status_code == 200
        events = _events(midway.text)
        assert events[-1] == "[DONE]" and json.loads(events[-2])["error"]["type"] == "timeout"
        assert _text(events[:-2]) == "Hello from"

        after = http.post("/v1/chat/completions", json=_body("fine", stream=True))
        assert _text(_events(after.text)) == "".join(WORDS) and _events(after.text)[-1] == "[DONE]"


# --------------------------------------------------------------------------- an upstream that crashes


@pytest.fixture
def crashing(tmp_path: Path) -> Iterator[tuple[FakeUpstream, Server, Path]]:
    upstream = start_fake_upstream(tmp_path, "--model", STUB_MODEL, "--delay", "0.3")
    env = _upstream_env(upstream.url, KEEL_UPSTREAM_HEALTH_INTERVAL_S="0.2", KEEL_UPSTREAM_BREAKER_RESET_S="0.5",
                        KEEL_HOME=str(tmp_path))
    server = start_server(tmp_path, env=env, model=STUB_MODEL)
    state = [upstream]
    yield state, server, tmp_path  # type: ignore[misc]
    stop_server(server)
    state[0].stop()


def test_an_upstream_killed_mid_stream_gives_a_clean_end_and_the_gateway_recovers(crashing) -> None:
    state, server, workdir = crashing
    upstream: FakeUpstream = state[0]
    headers = {"Authorization": f"Bearer {server.key}"}
    lines: list[str] = []
    with httpx.Client(base_url=server.base_url, headers=headers, timeout=60) as http:
        with http.stream("POST", "/v1/chat/completions", json=_body("tell me", stream=True)) as response:
            assert response.status_code == 200
            for line in response.iter_lines():
                if line.startswith("data: "):
                    lines.append(line[6:])
                if len(lines) == 2:  # the role chunk and the first word: the upstream is mid-stream
                    upstream.process.kill()  # SIGKILL: the connection resets, nothing is said
                    upstream.process.wait(10)
        assert lines[-1] == "[DONE]"
        error = json.loads(lines[-2])["error"]
        assert error["code"] == "backend_unavailable" and error["type"] == "server_error"

        down = http.post("/v1/chat/completions", json=_body("again"))
        assert down.status_code == 503 and down.json()["error"]["code"] == "upstream_unavailable"
        assert int(down.headers["retry-after"]) >= 1
        assert http.get("/health").status_code == 200

        port = int(upstream.url.rsplit(":", 1)[1])
        state[0] = start_fake_upstream(workdir, "--model", STUB_MODEL, port=port)
        for _ in range(300):  # health checks every 0.2 s bring the replica back
            answer = http.post("/v1/chat/completions", json=_body("back?"))
            if answer.status_code == 200:
                break
            assert answer.status_code == 503, answer.text
            threading.Event().wait(0.1)
        assert answer.status_code == 200 and answer.json()["choices"][0]["message"]["content"]


# --------------------------------------------------------------------------- graceful shutdown


def _refused(base_url: str) -> bool:
    try:
        httpx.get(f"{base_url}/health", timeout=2)
    except httpx.ConnectError:
        return True
    return False


def test_sigterm_drains_an_in_flight_stream_then_exits_zero(tmp_path: Path, stub: Stub) -> None:
    stub.gate.clear()
    stub.gated.clear()
    server = start_server(tmp_path, env=_upstream_env(stub.url, KEEL_HOME=str(tmp_path)), model=STUB_MODEL)
    try:
        lines: list[str] = []
        with httpx.stream("POST", f"{server.base_url}/v1/chat/completions", json=_body("gate", stream=True),
                          headers={"Authorization": f"Bearer {server.key}"}, timeout=60) as response:
            assert response.status_code == 200
            stream = response.iter_lines()
            while len(lines) < 2:  # the role chunk and the first word
                line = next(stream)
                if line.startswith("data: "):
                    lines.append(line[6:])
            assert stub.gated.wait(30)  # the upstream holds the rest back until the gate opens
            server.process.send_signal(signal.SIGTERM)
            for _ in range(200):  # the listening socket closes first: new connections are refused
                if _refused(server.base_url):
                    break
                threading.Event().wait(0.1)
            assert _refused(server.base_url)
            assert server.process.poll() is None  # ...while the in-flight stream is still being served
            stub.gate.set()
            lines += [line[6:] for line in stream if line.startswith("data: ")]
        assert lines[-1] == "[DONE]"
        assert json.loads(lines[-2])["choices"][0]["finish_reason"] == "stop"
        assert _text(lines) == "".join(WORDS)
        assert server.process.wait(60) == 0
        log = server.log()
        assert log.index('"Shutting down"') < log.index('"route": "/v1/chat/completions", "status": 200')
    finally:
        stub.gate.set()
        if server.process.poll() is None:
            server.process.kill()


def test_sigterm_lets_an_embedded_model_stream_finish(tmp_path: Path, tiny_model_dir: Path) -> None:
    server = start_server(tmp_path)
    try:
        with httpx.stream("POST", f"{server.base_url}/v1/chat/completions",
                          json={"model": "tiny-random", "messages": [{"role": "user", "content": "hi"}], "stream": True,
                                "max_tokens": 400, "temperature": 0, "stream_options": {"include_usage": True}},
                          headers={"Authorization": f"Bearer {server.key}"}, timeout=120) as response:
            stream = response.iter_lines()
            lines: list[str] = []
            while len(lines) < 2:
                line = next(stream)
                if line.startswith("data: "):
                    lines.append(line[6:])
            server.process.send_signal(signal.SIGTERM)
            lines += [line[6:] for line in stream if line.startswith("data: ")]
        assert lines[-1] == "[DONE]"
        assert json.loads(lines[-2])["usage"]["completion_tokens"] == 400  # every token, none cut off
        assert server.process.wait(60) == 0
        assert _refused(server.base_url)
    finally:
        if server.process.poll() is None:
            server.process.kill()


def test_sigterm_during_start_up_still_stops_the_process(tmp_path: Path) -> None:
    # The exit-0 handler must never swallow a SIGTERM: a process told to stop before it serves stops too.
    process = subprocess.Popen(
        [sys.executable, "-m", "gateway.cli", "serve", "--model", "tiny-random", "--port", "0"],
        env=os.environ | {"KEEL_KEYS_FILE": str(tmp_path / "keys.yaml")},
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    process.send_signal(signal.SIGTERM)
    assert process.wait(60) in (0, -signal.SIGTERM)
