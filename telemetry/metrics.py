"""Every Keel metric, defined once (prefix ``keel_``). Labels never carry user text, keys or unbounded values."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram, disable_created_metrics

# The *_created series double every metric and no Keel dashboard uses them.
disable_created_metrics()

# Latency buckets from 5 ms to 2 minutes: gateway overhead sits at the low end, full generations at the top.
_LATENCY = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20, 30, 60, 120)
_FAST = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1)
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
IN_FLIGHT = Gauge("keel_in_flight_requests", "Requests being served right now.", ["route"])
GATEWAY_OVERHEAD = Histogram(
    "keel_gateway_overhead_seconds", "Time spent outside the backend per request.", ["route"], buckets=_FAST
)
GUARD_DECISIONS = Counter(
    "keel_guard_decisions_total", "Guard decisions by guard, stage and action.", ["guard", "stage", "action"]
)
GUARD_DURATION = Histogram("keel_guard_duration_seconds", "Guard latency.", ["guard", "stage"], buckets=_FAST)
RETRIEVAL_DURATION = Histogram("keel_retrieval_duration_seconds", "Retrieval latency.", buckets=_FAST)
GROUNDING_NOT_FOUND = Counter("keel_grounding_not_found_total", "Grounded requests with no relevant source.")
REVIEW_QUEUE_ITEMS = Gauge("keel_review_queue_items", "Review items by status.", ["status"])
REVIEW_OLDEST_PENDING = Gauge("keel_review_oldest_pending_seconds", "Age of the oldest pending review item.")
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
