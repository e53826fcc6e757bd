"""`keel serve --workers 2` against a fake upstream: metrics merged across workers, and clean logs.

The gateway runs as a real process with two uvicorn workers sharing one port and one Prometheus
multiprocess directory; the upstream echoes the user's words, so planted PII flows through both directions.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import openai
import pytest
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.parser import text_string_to_metric_families

from tests.e2e.conftest import Server, start_server, stop_server
from tests.fake_upstream import FakeUpstream, start_fake_upstream

pytestmark = pytest.mark.slow

MODEL = "fake-upstream"
CHAT = "/v1/chat/completions"
EMAIL = "jane.doe.4471@example.org"
CARD = "4111 1111 1111 1111"
BAD_KEY = "sk-keel-planted-0123456789abcdef"


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("workers")


@pytest.fixture(scope="module")
def upstream(workdir: Path) -> Iterator[FakeUpstream]:
    fake = start_fake_upstream(workdir, "--echo")
    yield fake
    fake.stop()


@pytest.fixture(scope="module")
def gateway(workdir: Path, upstream: FakeUpstream) -> Iterator[Server]:
    env = {"KEEL_BACKEND": "upstream", "KEEL_UPSTREAM_URLS": upstream.url,
           "PROMETHEUS_MULTIPROC_DIR": str(workdir / "metrics")}
    server = start_server(workdir, "--workers", "2", "--log-level", "debug", env=env, model=MODEL)
    yield server
    stop_server(server)


def _chat_counts_by_worker(metrics_dir: Path) -> dict[str, float]:
    """keel_requests_total on the chat route, per worker process (one counter_<pid>.db file each)."""
    counts = {}
    for path in metrics_dir.glob("counter_*.db"):
        total = 0.0
        for metric in MultiProcessCollector.merge([str(path)], accumulate=False):
            total += sum(s.value for s in metric.samples
                         if s.name == "keel_requests_total" and s.labels.get("route") == CHAT)
        counts[path.stem.removeprefix("counter_")] = total
    return counts


def _scrape(server: Server) -> dict[tuple[str, tuple], float]:
    text = httpx.get(f"{server.base_url}/metrics", timeout=10).text
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


async def _burst(server: Server, n: int) -> None:
    # No keep-alive: every request opens its own connection, so either worker may accept it.
    limits = httpx.Limits(max_keepalive_connections=0)
    async with httpx.AsyncClient(limits=limits, timeout=30) as http:
        client = openai.AsyncOpenAI(base_url=f"{server.base_url}/v1", api_key=server.key, http_client=http,
                                    max_retries=0)

        async def one(i: int) -> None:
            messages = [{"role": "user", "content": f"count me {i}"}]
            if i % 2:
                stream = await client.chat.completions.create(model=MODEL, messages=messages, stream=True)
                assert "".join([c.choices[0].delta.content or "" async for c in stream if c.choices])
            else:
                out = await client.chat.completions.create(model=MODEL, messages=messages)
                assert out.choices[0].message.content == f"count me {i} "

        await asyncio.gather(*(one(i) for i in range(n)))


def test_requests_sum_across_both_workers(gateway, workdir):
    before = sum(_chat_counts_by_worker(workdir / "metrics").values())
    sent = 0
    for _ in range(10):  # bounded: stop as soon as both workers have served chat requests
        asyncio.run(_burst(gateway, 8))
        sent += 8
        by_worker = _chat_counts_by_worker(workdir / "metrics")
        if sum(1 for count in by_worker.values() if count > 0) >= 2:
            break
    assert sum(1 for count in by_worker.values() if count > 0) == 2, f"one worker served everything: {by_worker}"
    assert sum(by_worker.values()) - before == sent
    samples = _scrape(gateway)
    chat = sum(v for (name, labels), v in samples.items()
               if name == "keel_requests_total" and dict(labels).get("route") == CHAT)
    assert chat - before == sent, "the /metrics answer of one worker must count both workers' requests"
    in_flight = samples[("keel_in_flight_requests", (("route", CHAT),))]
    assert in_flight == 0
    completion = samples[("keel_tokens_total", (("kind", "completion"), ("model", MODEL)))]
    assert completion >= 3 * sent  # "count me <i>": three echoed words per answer


def test_planted_pii_and_keys_never_reach_logs_or_metrics(gateway, upstream):
    secret_text = f"My email is {EMAIL} and my card is {CARD}, please remember them."
    headers = {"Authorization": f"Bearer {gateway.key}", "X-Request-Id": "hygiene-check-1"}
    body = {"model": MODEL, "messages": [{"role": "user", "content": secret_text}], "user": EMAIL,
            "metadata": {"note": CARD}}
    with httpx.Client(base_url=gateway.base_url, timeout=30) as http:
        r = http.post(CHAT, json=body, headers=headers)
        assert r.status_code == 200 and EMAIL in r.json()["choices"][0]["message"]["content"]  # echoed back
        assert r.headers["x-request-id"] == "hygiene-check-1"
        with http.stream("POST", CHAT, json=body | {"stream": True}, headers=headers) as streamed:
            assert EMAIL.split("@")[0] in streamed.read().decode()
        assert http.post(CHAT, json=body, headers={"Authorization": f"Bearer {BAD_KEY}"}).status_code == 401
        assert http.post(CHAT, json=body, headers={"X-Api-Key": gateway.key}).status_code == 401
        r = http.post(CHAT, content=f'{{"model": "{EMAIL}", "messages": [oops {CARD}'.encode(),
                      headers={"Authorization": f"Bearer {gateway.key}"})
        assert r.status_code == 400
        r = http.post(CHAT, json=body | {"model": EMAIL}, headers={"Authorization": f"Bearer {gateway.key}"})
        assert r.status_code == 404
        r = http.get(f"/v1/{EMAIL}", headers={"X-Request-Id": f"{EMAIL}"})
        assert r.status_code == 404 and r.headers["x-request-id"] != EMAIL
        metrics_text = http.get("/metrics").text
    log = gateway.log()
    planted = [EMAIL, EMAIL.split("@")[0], CARD, CARD.replace(" ", ""), gateway.key, BAD_KEY, "remember them"]
    for secret in planted:
        assert secret not in log, f"{secret!r} leaked into the gateway log"
        assert secret not in metrics_text, f"{secret!r} leaked into /metrics"
    # The log is structured: one JSON object a line, requests carrying their id.
    records = [json.loads(line) for line in log.splitlines() if line.startswith("{")]
    assert records and len(records) == len([line for line in log.splitlines() if line.strip()])
    ours = [r for r in records if r.get("request_id") == "hygiene-check-1"]
    assert ours and all(r["route"] == CHAT for r in ours if r.get("msg") == "request")
    assert all(re.fullmatch(r"[\w.:-]+", r["request_id"]) for r in records if "request_id" in r)
