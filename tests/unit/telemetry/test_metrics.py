"""Metric definitions: every ARCHITECTURE.md metric with bounded labels, and the multi-worker merge."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from prometheus_client.metrics import MetricWrapperBase
from prometheus_client.parser import text_string_to_metric_families

from telemetry import metrics

ROOT = Path(__file__).resolve().parents[3]

# ARCHITECTURE.md, "Metrics": name -> labels (histograms get `le` on top).
ARCHITECTURE = {
    "keel_requests_total": ("route", "model", "status"),
    "keel_request_duration_seconds": ("route", "model"),
    "keel_time_to_first_token_seconds": ("model",),
    "keel_inter_token_latency_seconds": ("model",),
    "keel_tokens_total": ("model", "kind"),
    "keel_in_flight_requests": ("route",),
    "keel_gateway_overhead_seconds": ("route",),
    "keel_guard_decisions_total": ("guard", "stage", "action"),
    "keel_guard_duration_seconds": ("guard", "stage"),
    "keel_retrieval_duration_seconds": (),
    "keel_grounding_not_found_total": (),
    "keel_review_queue_items": ("status",),
    "keel_review_oldest_pending_seconds": (),
    "keel_backend_errors_total": ("backend", "kind"),
    "keel_rate_limited_total": ("tenant",),
}
# Label names that would invite user text, secrets or unbounded values.
FORBIDDEN_LABELS = {"user", "key", "api_key", "message", "prompt", "content", "text", "request_id", "email", "ip"}


def _defined() -> dict[str, MetricWrapperBase]:
    out = {}
    for value in vars(metrics).values():
        if isinstance(value, MetricWrapperBase):
            suffix = "_total" if value._type == "counter" else ""
            out[value._name + suffix] = value
    return out


def test_every_architecture_metric_is_defined_with_its_labels():
    defined = _defined()
    for name, labels in ARCHITECTURE.items():
        assert name in defined, name
        assert set(defined[name]._labelnames) == set(labels), name


def test_labels_are_bounded_and_buckets_are_sorted():
    for name, metric in _defined().items():
        assert name.startswith("keel_")
        assert not FORBIDDEN_LABELS & set(metric._labelnames), name
        if metric._type == "histogram":
            upper = [b for b in metric._upper_bounds if b != float("inf")]
            assert upper == sorted(upper) and len(upper) >= 8, name


def test_latency_buckets_cover_gateway_overhead_and_long_generations():
    assert metrics.GATEWAY_OVERHEAD._upper_bounds[0] <= 0.001
    assert metrics.REQUEST_DURATION._upper_bounds[-2] >= 60
    assert metrics.TTFT._upper_bounds[0] <= 0.01


def test_gauges_say_how_workers_merge():
    for gauge in (metrics.IN_FLIGHT, metrics.REVIEW_QUEUE_ITEMS, metrics.REVIEW_OLDEST_PENDING,
                  metrics.UPSTREAM_REPLICA_UP):
        assert gauge._multiprocess_mode != "all", gauge._name


def test_exported_names_include_histogram_series():
    names = metrics.exported_names()
    assert names["keel_requests_total"] == "keel_requests"
    for suffix in ("_bucket", "_sum", "_count"):
        assert "keel_time_to_first_token_seconds" + suffix in names
    assert "keel_review_oldest_pending_seconds" in names
    assert "keel_requests" not in names


_WORKER = """
import sys
from telemetry import metrics
metrics.REQUESTS.labels(route="/v1/chat/completions", model="m", status="200").inc(int(sys.argv[1]))
metrics.TTFT.labels(model="m").observe(0.2)
metrics.IN_FLIGHT.labels(route="/v1/chat/completions").inc()
if sys.argv[2] == "exit":
    metrics.process_exiting()
"""
_SCRAPE = "from telemetry import metrics; print(metrics.exposition()[0].decode())"


def test_multiprocess_exposition_sums_workers(tmp_path):
    env = os.environ | {"PROMETHEUS_MULTIPROC_DIR": str(tmp_path)}
    for count, how in ((3, "stay"), (4, "exit")):
        subprocess.run([sys.executable, "-c", _WORKER, str(count), how], cwd=ROOT, env=env, check=True)
    text = subprocess.run([sys.executable, "-c", _SCRAPE], cwd=ROOT, env=env, check=True,
                          capture_output=True, text=True).stdout
    samples = {(s.name, tuple(sorted(s.labels.items()))): s.value
               for family in text_string_to_metric_families(text) for s in family.samples}
    chat = (("model", "m"), ("route", "/v1/chat/completions"))
    assert samples[("keel_requests_total", chat + (("status", "200"),))] == 7
    assert samples[("keel_time_to_first_token_seconds_count", (("model", "m"),))] == 2
    # livesum: the worker that exited no longer counts as in flight.
    assert samples[("keel_in_flight_requests", (("route", "/v1/chat/completions"),))] == 1


def test_prepare_multiprocess_dir_empties_stale_samples(tmp_path, monkeypatch):
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", "")  # so monkeypatch restores it afterwards
    (tmp_path / "counter_123.db").write_bytes(b"stale")
    (tmp_path / "keep.txt").write_text("not a sample file")
    assert metrics.prepare_multiprocess_dir(tmp_path) == tmp_path
    assert os.environ["PROMETHEUS_MULTIPROC_DIR"] == str(tmp_path)
    assert not list(tmp_path.glob("*.db")) and (tmp_path / "keep.txt").exists()


def test_exposition_without_multiprocess_is_this_process(monkeypatch):
    monkeypatch.delenv("PROMETHEUS_MULTIPROC_DIR", raising=False)
    metrics.BACKEND_ERRORS.labels(backend="unit", kind="probe").inc()
    body, content_type = metrics.exposition()
    assert content_type.startswith("text/plain")
    assert b'keel_backend_errors_total{backend="unit",kind="probe"}' in body
