"""Durability: a real gateway is SIGKILLed while escalations arrive; after a restart every acknowledged
escalation is in the queue exactly once, and clients retrying the unanswered ones (same request id)
create no duplicates."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import httpx
import yaml
from sqlalchemy import create_engine, text

from tests.e2e.conftest import start_server, stop_server

MODEL = "tiny-random"


def _escalating_env(tmp: Path) -> dict[str, str]:
    policies = tmp / "policies"
    policies.mkdir(exist_ok=True)
    # The real response_format guard: tiny-random never writes the JSON asked for, so every reply escalates.
    (policies / "platform.yaml").write_text(yaml.safe_dump({"guards": {"output": [{"name": "response_format"}]}}))
    return {
        "KEEL_GUARDS": json.dumps({"enabled": True, "policies": str(policies), "warm": False}),
        "KEEL_REVIEW": json.dumps({"db_url": f"sqlite:///{tmp / 'review.db'}", "metrics_interval_s": 0}),
    }


def _ask(base: str, key: str, request_id: str) -> int:
    body = {"model": MODEL, "messages": [{"role": "user", "content": f"JSON please ({request_id})"}],
            "max_tokens": 4, "response_format": {"type": "json_object"}}
    response = httpx.post(f"{base}/v1/chat/completions", json=body, timeout=30,
                          headers={"Authorization": f"Bearer {key}", "X-Request-Id": request_id})
    return response.status_code


def test_sigkill_loses_and_duplicates_nothing_acknowledged(tmp_path: Path, tiny_model_dir: Path) -> None:
    env = _escalating_env(tmp_path)
    server = start_server(tmp_path, env=env)
    acknowledged: set[str] = set()
    unanswered: set[str] = set()
    lock = threading.Lock()
    stop = threading.Event()

    def client(worker: int) -> None:
        n = 0
        while not stop.is_set():
            request_id = f"w{worker}-{n}"
            n += 1
            try:
                status = _ask(server.base_url, server.key, request_id)
            except httpx.HTTPError:
                status = None
            with lock:
                (acknowledged if status == 200 else unanswered).add(request_id)
            if status is None:
                return  # the server is gone

    try:
        workers = [threading.Thread(target=client, args=(i,)) for i in range(4)]
        for w in workers:
            w.start()
        deadline = time.monotonic() + 60
        while len(acknowledged) < 12 and time.monotonic() < deadline:
            time.sleep(0.05)
        server.process.kill()  # SIGKILL, with requests in flight
        server.process.wait(10)
        stop.set()
        for w in workers:
            w.join(40)
    finally:
        if server.process.poll() is None:
            server.process.kill()
    assert len(acknowledged) >= 12, server.log()[-3000:]

    restarted = start_server(tmp_path, env=env)
    try:
        # Clients retry what was never answered, with the same request ids.
        for request_id in sorted(unanswered):
            assert _ask(restarted.base_url, restarted.key, request_id) == 200
    finally:
        stop_server(restarted)

    engine = create_engine(f"sqlite:///{tmp_path / 'review.db'}")
    with engine.connect() as conn:
        rows = conn.execute(text("select request_key, count(*) from review_items group by request_key")).all()
        sources = {r[0] for r in conn.execute(text("select distinct source from review_items"))}
    engine.dispose()
    counts = dict(rows)
    assert acknowledged <= set(counts), f"lost: {sorted(acknowledged - set(counts))}"
    assert all(c == 1 for c in counts.values()), f"duplicated: {[k for k, c in counts.items() if c > 1]}"
    assert set(counts) == acknowledged | unanswered
    assert sources == {"escalation"}
    print(f"acknowledged {len(acknowledged)}, unanswered at the kill {len(unanswered)}")
