"""Every Keel metric, defined once (prefix ``keel_``). Labels never carry user text, keys or unbounded values.

Several uvicorn workers share one exposition through Prometheus' multiprocess mode: ``keel serve --workers N``
points ``PROMETHEUS_MULTIPROC_DIR`` at an empty directory before the workers start (prometheus_client picks
its value class when first imported), each worker writes its samples there, and ``/metrics`` merges them.
Gauges therefore say how to merge (``multiprocess_mode``).
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
    generate_latest,
    multiprocess,
)
from prometheus_client.metrics import MetricWrapperBase

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"

# The *_created series double every metric and no Keel dashboard uses them.
disable_created_metrics()  # type: ignore[no-untyped-call]
# In multiprocess mode prometheus_client opens a file there for each label-less metric defined below.
if os.environ.get(MULTIPROC_ENV):
    Path(os.environ[MULTIPROC_ENV]).mkdir(parents=True, exist_ok=True)

# Latency buckets from 5 ms to 2 minutes: gateway overhead sits at the low end, full generations at the top.
_LATENCY = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20, 30, 60, 120)
# In-process work (guards, retrieval, gateway overhead): 0.5 ms (a regex guard) to 2.5 s (NER on a long text).
_FAST = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5)
# Gaps between streamed tokens: GPU decode is ~5-30 ms, a 2-core CPU ~50-150 ms.
_TOKEN_GAP = (0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.25, 0.5, 1, 2.5)

REQUESTS = Counter("keel_requests_total", "Requests by route, model and HTTP status.", ["route", "model", "status"])
REQUEST_DURATION = Histogram(
    "keel_request_duration_seconds", "Whole-request latency.", ["route", "model"], buckets=_LATENCY
)
TTFT = Histogram("keel_time_to_first_token_seconds", "Time to the first streamed token.", ["model"], buckets=_LATENCY)
INTER_TOKEN = Histogram(
    "keel_inter_token_latency_seconds", "Gap between streamed tokens.", ["model"], buckets=_TOKEN_GAP
)
TOKENS = Counter("keel_tokens_total", "Tokens processed, by kind (prompt or completion).", ["model", "kind"])
IN_FLIGHT = Gauge(
    "keel_in_flight_requests", "Requests being served right now.", ["route"], multiprocess_mode="livesum"
)
GATEWAY_OVERHEAD = Histogram(
    "keel_gateway_overhead_seconds", "Time spent outside the backend per request.", ["route"], buckets=_FAST
)
GUARD_DECISIONS = Counter(
    "keel_guard_decisions_total", "Guard decisions by guard, stage and action.", ["guard", "stage", "action"]
)
GUARD_DURATION = Histogram("keel_guard_duration_seconds", "Guard latency.", ["guard", "stage"], buckets=_FAST)
GUARD_ERRORS = Counter(
    "keel_guard_errors_total", "Guards that raised instead of deciding (then failed closed or open).", ["guard", "stage"]
)
RETRIEVAL_DURATION = Histogram("keel_retrieval_duration_seconds", "Retrieval latency.", buckets=_FAST)
GROUNDING_NOT_FOUND = Counter("keel_grounding_not_found_total", "Grounded requests with no relevant source.")
# The review store is shared by all workers: whichever worker read it last has the current value.
REVIEW_QUEUE_ITEMS = Gauge(
    "keel_review_queue_items", "Review items by status.", ["status"], multiprocess_mode="livemostrecent"
)
REVIEW_OLDEST_PENDING = Gauge(
    "keel_review_oldest_pending_seconds", "Age of the oldest pending review item.", multiprocess_mode="livemostrecent"
)
REVIEW_DECISIONS = Counter("keel_review_decisions_total", "Reviewer decisions by type.", ["decision"])
# From queueing to decision: minutes for a staffed queue, days for a neglected one.
REVIEW_TIME_TO_DECISION = Histogram(
    "keel_review_time_to_decision_seconds", "Time from queueing a review item to its decision.", ["decision"],
    buckets=(10, 30, 60, 300, 900, 1800, 3600, 4 * 3600, 12 * 3600, 86400, 3 * 86400, 7 * 86400),
)
BACKEND_ERRORS = Counter("keel_backend_errors_total", "Backend failures by backend and kind.", ["backend", "kind"])
RATE_LIMITED = Counter("keel_rate_limited_total", "Requests refused by a rate limit.", ["tenant"])

# Embedded engine: how much batching actually happens.
ENGINE_BATCH_SIZE = Histogram(
    "keel_engine_batch_size",
    "Sequences decoded together per forward pass of the embedded engine.",
    ["backend"],
    buckets=(1, 2, 3, 4, 6, 8, 12, 16, 32),
)
ENGINE_PREFILLS = Counter("keel_engine_prefill_batches_total", "Prefill forward passes (admissions).", ["backend"])

# Upstream backend: one label value per configured replica (host:port), so the label set stays bounded.
UPSTREAM_REPLICA_UP = Gauge(
    "keel_upstream_replica_up",
    "1 when the replica passes health checks and its circuit breaker is closed.",
    ["replica"],
    multiprocess_mode="livemax",  # up if any live worker can reach it
)
UPSTREAM_ATTEMPTS = Counter(
    "keel_upstream_attempts_total", "HTTP attempts against upstream replicas, by outcome.", ["replica", "outcome"]
)


def exported_names() -> dict[str, str]:
    """Every sample name ``/metrics`` can show (``_bucket``/``_sum``/``_count`` included), mapped to its metric."""
    names: dict[str, str] = {}
    for value in globals().values():
        if not isinstance(value, MetricWrapperBase):
            continue
        base = value._name  # prometheus_client keeps the family name (without _total) here
        kind = str(value._type)
        suffixes = {"counter": ("_total",), "histogram": ("_bucket", "_sum", "_count"), "gauge": ("",)}[kind]
        for suffix in suffixes:
            names[base + suffix] = base
    return names


def multiprocess_dir() -> Path | None:
    """The shared sample directory when several worker processes serve, else None."""
    value = os.environ.get(MULTIPROC_ENV)
    return Path(value) if value else None


def prepare_multiprocess_dir(path: Path | None = None) -> Path:
    """Point ``PROMETHEUS_MULTIPROC_DIR`` at an empty directory; call in the parent before workers start.

    Samples left by an earlier run would be summed into this one's, so an existing directory is emptied
    (except this process's own files: it may have imported this module with the directory already set).
    """
    if path is None:
        path = Path(tempfile.mkdtemp(prefix="keel-metrics-"))
    path.mkdir(parents=True, exist_ok=True)
    for stale in path.glob("*.db"):
        if not stale.stem.endswith(f"_{os.getpid()}"):
            stale.unlink()
    os.environ[MULTIPROC_ENV] = str(path)
    return path


def exposition() -> tuple[bytes, str]:
    """The Prometheus text and its content type: this process's metrics, or every worker's merged."""
    if multiprocess_dir() is None:
        return generate_latest(REGISTRY), CONTENT_TYPE_LATEST
    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
    return generate_latest(registry), CONTENT_TYPE_LATEST


def process_exiting() -> None:
    """Drop this worker's live gauges (in-flight, replica health) from the merged view."""
    if multiprocess_dir() is not None:
        multiprocess.mark_process_dead(os.getpid())  # type: ignore[no-untyped-call]


def remove_multiprocess_dir(path: Path) -> None:
    shutil.rmtree(path, ignore_errors=True)
