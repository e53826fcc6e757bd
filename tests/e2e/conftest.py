"""A real gateway process on a free port, serving tiny-random, with its own keys file."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from gateway.auth import KeyStore


@dataclass
class Server:
    base_url: str
    key: str
    keys_file: Path
    process: subprocess.Popen
    log_path: Path

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(tmp: Path, *extra: str, env: dict[str, str] | None = None, model: str = "tiny-random") -> Server:
    keys_file = tmp / "keys.yaml"
    key, _ = KeyStore(keys_file).add("e2e", ["user"])
    port = free_port()
    log_path = tmp / f"server-{port}.log"
    proc_env = os.environ | {"KEEL_KEYS_FILE": str(keys_file), "PYTHONUNBUFFERED": "1"} | (env or {})
    process = subprocess.Popen(
        [sys.executable, "-m", "gateway.cli", "serve", "--model", model, "--port", str(port), *extra],
        stdout=log_path.open("w"),
        stderr=subprocess.STDOUT,
        env=proc_env,
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited early:\n{log_path.read_text()}")
        try:
            if httpx.get(f"{base}/ready", timeout=1).status_code == 200:
                return Server(base, key, keys_file, process, log_path)
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    process.kill()
    raise RuntimeError(f"server not ready in time:\n{log_path.read_text()}")


def stop_server(server: Server) -> None:
    server.process.terminate()
    try:
        server.process.wait(20)
    except subprocess.TimeoutExpired:
        server.process.kill()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, tiny_model_dir: Path) -> Iterator[Server]:
    s = start_server(tmp_path_factory.mktemp("server"), "--log-level", "debug")
    yield s
    stop_server(s)
