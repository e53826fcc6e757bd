"""The Grafana dashboard: valid JSON in Grafana's shape, and every PromQL expression names exported metrics."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from telemetry import metrics

DASHBOARD = Path(__file__).resolve().parents[3] / "telemetry" / "dashboards" / "keel.json"

# What the issue asks the dashboard to show, as the metric each panel must read.
REQUIRED = {
    "request rate": "keel_requests_total",
    "latency": "keel_request_duration_seconds_bucket",
    "time to first token": "keel_time_to_first_token_seconds_bucket",
    "tokens per second": "keel_tokens_total",
    "guard decisions": "keel_guard_decisions_total",
    "gateway overhead": "keel_gateway_overhead_seconds_bucket",
    "review queue depth": "keel_review_queue_items",
    "review age": "keel_review_oldest_pending_seconds",
    "retrieval latency": "keel_retrieval_duration_seconds_bucket",
    "not-found rate": "keel_grounding_not_found_total",
}
_STRING = re.compile(r'"(?:[^"\\]|\\.)*"')
_MATCHERS = re.compile(r"\{[^{}]*\}")
_IDENT = re.compile(r"(?<![\w$:.])([a-zA-Z_:][a-zA-Z0-9_:]*)")
_GROUPING = re.compile(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\(([^)]*)\)")


@pytest.fixture(scope="module")
def dashboard() -> dict:
    return json.loads(DASHBOARD.read_text())


def _panels(dashboard: dict) -> list[dict]:
    out = []
    for panel in dashboard["panels"]:
        out.append(panel)
        out.extend(panel.get("panels", []))
    return out


def _exprs(dashboard: dict) -> list[str]:
    return [t["expr"] for p in _panels(dashboard) for t in p.get("targets", [])]


def metric_names(expr: str) -> set[str]:
    """Metric names in a PromQL expression: identifiers outside strings, matchers and grouping clauses."""
    bare = _STRING.sub('""', expr)
    bare = _MATCHERS.sub("", bare)
    bare = _GROUPING.sub("", bare)
    bare = re.sub(r"\[[^\]]*\]", "", bare)  # range selectors like [5m] or [$__rate_interval]
    return {m for m in _IDENT.findall(bare) if m.startswith("keel_") or m == "up"}


def grouping_labels(expr: str) -> set[str]:
    return {label.strip() for group in _GROUPING.findall(expr) for label in group.split(",") if label.strip()}


def test_metric_name_parser():
    expr = ('histogram_quantile(0.95, sum by (le, guard) (rate(keel_guard_duration_seconds_bucket'
            '{stage="in{put}"}[$__rate_interval]))) / clamp_min(sum(rate(keel_requests_total[5m])), 1e-9)')
    assert metric_names(expr) == {"keel_guard_duration_seconds_bucket", "keel_requests_total"}
    assert grouping_labels(expr) == {"le", "guard"}


def test_grafana_dashboard_shape(dashboard):
    for key in ("title", "uid", "schemaVersion", "panels", "templating", "time"):
        assert key in dashboard, key
    assert isinstance(dashboard["schemaVersion"], int) and dashboard["uid"] == "keel-gateway"
    variables = {v["name"]: v for v in dashboard["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource" and variables["datasource"]["query"] == "prometheus"
    ids = [p["id"] for p in _panels(dashboard)]
    assert len(ids) == len(set(ids)), "panel ids must be unique"
    for panel in _panels(dashboard):
        assert panel["type"] in {"row", "timeseries", "stat", "gauge", "bargauge", "table"}, panel["title"]
        assert panel["title"]
        grid = panel["gridPos"]
        assert set(grid) == {"h", "w", "x", "y"} and grid["x"] + grid["w"] <= 24
        if panel["type"] == "row":
            continue
        assert panel["datasource"] == {"type": "prometheus", "uid": "${datasource}"}
        assert panel["targets"], panel["title"]
        refs = [t["refId"] for t in panel["targets"]]
        assert len(refs) == len(set(refs))


def test_every_expression_names_only_exported_metrics(dashboard):
    exported = metrics.exported_names()
    exprs = _exprs(dashboard)
    assert len(exprs) >= 20
    for expr in exprs:
        names = metric_names(expr)
        assert names, f"no Keel metric in {expr!r}"
        unknown = names - set(exported)
        assert not unknown, f"{expr!r} names metrics the gateway does not export: {unknown}"


def test_grouping_labels_exist_on_the_metrics(dashboard):
    labels_of = {}
    for value in vars(metrics).values():
        if hasattr(value, "_labelnames") and hasattr(value, "_name"):
            labels_of[value._name] = set(value._labelnames) | ({"le"} if value._type == "histogram" else set())
    exported = metrics.exported_names()
    for expr in _exprs(dashboard):
        allowed = set().union(*(labels_of[exported[name]] for name in metric_names(expr)))
        assert grouping_labels(expr) <= allowed, expr


def test_the_panels_the_issue_asks_for_are_there(dashboard):
    used = set().union(*(metric_names(e) for e in _exprs(dashboard)))
    for what, metric in REQUIRED.items():
        assert metric in used, what
    quantiles = {q for e in _exprs(dashboard) if "keel_request_duration_seconds_bucket" in e
                 for q in re.findall(r"histogram_quantile\(([\d.]+)", e)}
    assert quantiles == {"0.5", "0.95", "0.99"}
    titles = " ".join(p["title"].lower() for p in _panels(dashboard))
    for word in ("error", "guard", "review", "retrieval", "not-found", "overhead", "first token"):
        assert word in titles, word
