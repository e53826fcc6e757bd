"""Server processes for the benchmarks: `keel serve` on a free port with its own KEEL_HOME, and helpers.

Each gateway gets a temporary KEEL_HOME (keys, review store). Built artifacts are not rebuilt per run: the
default home's ``models/``, ``embeddings/`` and ``guards/`` (the built models, the ONNX embedder, the
trained guard classifiers) are linked in, so an artifact missing there is built into the default home once,
as a plain `keel serve` would, and reused by the next run.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from alignment.registry import keel_home  # noqa: E402
from gateway.auth import KeyStore  # noqa: E402

# Zero is unlimited for every per-key limit (gateway/limits.py); set explicitly so a changed default cannot bite.
UNLIMITED = {"limits": {"rpm": 0, "tpm": 0, "concurrency": 0}}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Service:
    """A server process the benchmark started; ``stop()`` ends it (SIGTERM, then SIGKILL)."""

    name: str
    url: str
    process: subprocess.Popen[bytes]
    log: Path
    headers: dict[str, str] = field(default_factory=dict)

    def wait(self, path: str, timeout: float = 300.0) -> None:
        """Wait until ``GET path`` answers 200; raise with the log's tail if the process dies first."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.name} exited during start-up:\n{self.log.read_text()[-3000:]}")
            try:
                if httpx.get(self.url + path, timeout=2, headers=self.headers).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.3)
        raise RuntimeError(f"{self.name} not ready after {timeout:.0f} s:\n{self.log.read_text()[-3000:]}")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)


def start(name: str, argv: list[str], tmp: Path, env: dict[str, str], url: str, ready: str,
          timeout: float, headers: dict[str, str] | None = None) -> Service:
    """Start a process and wait until ``GET url+ready`` answers 200; on any failure (or ^C) stop it again."""
    log = tmp / f"{name}.log"
    process = subprocess.Popen(argv, env=os.environ | {"PYTHONUNBUFFERED": "1"} | env, cwd=ROOT,
                               stdout=log.open("w"), stderr=subprocess.STDOUT)
    service = Service(name, url, process, log, headers or {})
    try:
        service.wait(ready, timeout)
    except BaseException:
        service.stop()
        raise
    return service


def bench_home(tmp: Path) -> Path:
    """A fresh KEEL_HOME under ``tmp`` that shares the default home's built models, embedder and classifiers."""
    home = tmp / "keel-home"
    home.mkdir(parents=True, exist_ok=True)
    source = keel_home()
    for name in ("models", "embeddings", "guards"):
        (source / name).mkdir(parents=True, exist_ok=True)
        if not (home / name).exists():
            (home / name).symlink_to(source / name, target_is_directory=True)
    return home


def unlimited_key(keys_file: Path) -> str:
    """A user key with no rate limits (rpm, tpm and concurrency all 0: unlimited)."""
    key, _ = KeyStore(keys_file).add("bench", ["user"], name="bench, no limits", config=UNLIMITED)
    return key


def start_keel(name: str, tmp: Path, home: Path, model: str, env: dict[str, str]) -> Service:
    """`keel serve` (one worker) on a free port; ``env`` adds KEEL_* settings. Waits for /ready."""
    keys_file = tmp / f"{name}-keys.yaml"
    key = unlimited_key(keys_file)
    port = free_port()
    settings = {"KEEL_HOME": str(home), "KEEL_KEYS_FILE": str(keys_file), "KEEL_LOG_LEVEL": "warning",
                "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
    # Start-up can include training the guard classifiers into the fresh home (when the default home has none).
    return start(name, [sys.executable, "-m", "gateway.cli", "serve", "--model", model, "--port", str(port)],
                 tmp, settings | env, f"http://127.0.0.1:{port}", "/ready", 900, {"Authorization": f"Bearer {key}"})


def start_fake_upstream(tmp: Path, model: str) -> Service:
    """tests/fake_upstream.py as a process: fixed five-word answer, no delay, streamed or not."""
    from tests.fake_upstream import start_fake_upstream as start_process

    fake = start_process(tmp, "--model", model)
    return Service("fake-upstream", fake.url, fake.process, tmp / f"fake-upstream-{fake.url.rsplit(':', 1)[1]}.log")


def load_average() -> str:
    one, five, fifteen = os.getloadavg()
    return f"{one:.2f} / {five:.2f} / {fifteen:.2f} (1/5/15 min, {os.cpu_count()} CPUs)"
