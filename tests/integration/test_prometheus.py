"""A real Prometheus server scrapes a running gateway; PromQL over its HTTP API sees Keel's series.

Debian's `prometheus` binary on loopback, scraping every second a `keel serve` process whose backend is the
fake upstream. It also loads docker/alerts.yml and evaluates every dashboard expression, so the rules and
the dashboard are known to parse and run on real data. Skipped without the binary, a failure under CI=true.
"""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import yaml

from tests.e2e.conftest import Server, free_port, start_server, stop_server
from tests.fake_upstream import FakeUpstream, start_fake_upstream
from tests.integration.test_prometheus_config import require

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
MODEL = "fake-upstream"
CHAT = 3


@pytest.fixture(scope="module")
def upstream(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FakeUpstream]:
    require("prometheus")
    fake = start_fake_upstream(tmp_path_factory.mktemp("upstream"))
    yield fake
    fake.stop()


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory, upstream: FakeUpstream) -> Iterator[Server]:
    env = {"KEEL_BACKEND": "upstream", "KEEL_UPSTREAM_URLS": upstream.url}
    server = start_server(tmp_path_factory.mktemp("gateway"), env=env, model=MODEL)
    yield server
    stop_server(server)


@pytest.fixture(scope="module")
def prometheus(tmp_path_factory: pytest.TempPathFactory, gateway: Server) -> Iterator[str]:
    tmp = tmp_path_factory.mktemp("prometheus")
    target = gateway.base_url.removeprefix("http://")
    config = {
        "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
        "rule_files": [str(ROOT / "docker" / "alerts.yml")],
        "scrape_configs": [{"job_name": "keel-gateway", "metrics_path": "/metrics",
                            "static_configs": [{"targets": [target]}]}],
    }
    (tmp / "prometheus.yml").write_text(yaml.safe_dump(config))
    port = free_port()
    log = (tmp / "prometheus.log").open("w")
    process = subprocess.Popen(
        [require("prometheus"), f"--config.file={tmp / 'prometheus.yml'}", f"--storage.tsdb.path={tmp / 'data'}",
         f"--web.listen-address=127.0.0.1:{port}", "--log.level=warn"],
        stdout=log, stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        _wait(lambda: httpx.get(f"{url}/-/ready", timeout=1).status_code == 200, "prometheus ready",
              process, tmp / "prometheus.log")
        yield url
    finally:
        process.terminate()
        try:
            process.wait(20)
        except subprocess.TimeoutExpired:
            process.kill()


def _wait(ok, what: str, process: subprocess.Popen | None = None, log: Path | None = None, timeout: float = 60):
    deadline = time.monotonic() + timeout
    last: object = None
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise AssertionError(f"{what}: process exited\n{log.read_text() if log else ''}")
        try:
            last = ok()
            if last:
                return last
        except (httpx.HTTPError, KeyError, IndexError, ValueError) as exc:
            last = exc
        time.sleep(0.5)
    raise AssertionError(f"timed out waiting for {what} (last: {last!r})")


def _query(prometheus: str, expr: str) -> dict:
    body = httpx.get(f"{prometheus}/api/v1/query", params={"query": expr}, timeout=10).json()
    assert body["status"] == "success", (expr, body)
    return body["data"]


def _chat(gateway: Server, stream: bool) -> None:
    r = httpx.post(f"{gateway.base_url}/v1/chat/completions", timeout=30,
                   headers={"Authorization": f"Bearer {gateway.key}"},
                   json={"model": MODEL, "messages": [{"role": "user", "content": "hi"}], "stream": stream})
    assert r.status_code == 200, r.text


def test_promql_returns_the_gateways_request_count(prometheus, gateway):
    for i in range(CHAT):
        _chat(gateway, stream=i == 0)
    expr = f'sum(keel_requests_total{{job="keel-gateway",route="/v1/chat/completions",status="200",model="{MODEL}"}})'

    def counted() -> bool:
        result = _query(prometheus, expr)["result"]
        return bool(result) and float(result[0]["value"][1]) == CHAT

    _wait(counted, f"{expr} == {CHAT}")
    series = _query(prometheus, 'keel_requests_total{route="/v1/chat/completions"}')["result"]
    assert [s["metric"]["status"] for s in series] == ["200"]
    assert series[0]["metric"]["model"] == MODEL and series[0]["metric"]["job"] == "keel-gateway"
    up = _query(prometheus, 'up{job="keel-gateway"}')["result"]
    assert up and up[0]["value"][1] == "1"
    ttft = _query(prometheus, f'keel_time_to_first_token_seconds_count{{model="{MODEL}"}}')["result"]
    assert ttft and float(ttft[0]["value"][1]) == 1  # one streamed request
    completion = _query(prometheus, f'keel_tokens_total{{model="{MODEL}",kind="completion"}}')["result"]
    assert float(completion[0]["value"][1]) == 5 * CHAT  # the fake upstream answers five words


def test_alert_rules_load_and_evaluate(prometheus):
    def evaluated() -> list[dict]:
        groups = httpx.get(f"{prometheus}/api/v1/rules", timeout=10).json()["data"]["groups"]
        rules = [r for g in groups for r in g["rules"]]
        # Before its first evaluation a rule reports health "unknown" and a zero time (year 0001).
        done = all(r["health"] == "ok" and not r["lastEvaluation"].startswith("0001") for r in rules)
        return rules if rules and done else []

    rules = _wait(evaluated, "every alert rule evaluated")
    assert {r["name"] for r in rules} == {"KeelHighErrorRate", "KeelGuardBlockSpike", "KeelReviewQueueStale",
                                           "KeelSlowTimeToFirstToken", "KeelUpstreamReplicaDown", "KeelGatewayDown"}
    firing = _query(prometheus, 'ALERTS{alertstate="firing"}')["result"]
    assert firing == []  # a healthy gateway trips nothing


def test_every_dashboard_expression_runs(prometheus, gateway):
    dashboard = json.loads((ROOT / "telemetry" / "dashboards" / "keel.json").read_text())
    exprs = [t["expr"] for p in dashboard["panels"] for t in p.get("targets", [])]
    _chat(gateway, stream=False)
    for expr in exprs:
        concrete = expr.replace("$__rate_interval", "1m").replace("$model", ".*")
        _query(prometheus, concrete)  # asserts status == success: the expression parses and evaluates
    rate = next(e for e in exprs if e.startswith("sum by (route) (rate(keel_requests_total"))
    concrete = rate.replace("$__rate_interval", "1m").replace("$model", ".*")
    _wait(lambda: any(s["metric"].get("route") == "/v1/chat/completions"
                      for s in _query(prometheus, concrete)["result"]), "request rate panel has data")
