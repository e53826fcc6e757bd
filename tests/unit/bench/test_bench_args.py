"""The load and overhead benchmarks' command lines and their pure pieces (no server is started here)."""

from __future__ import annotations

import re

import pytest

from bench import _litellm, load, overhead
from bench._client import LoadRun, Result


def test_load_defaults_to_64_streams_on_both_targets() -> None:
    args = load.parse_args([])
    assert (args.concurrency, args.targets, args.guards) == (64, ["tiny", "upstream"], False)


def test_load_refuses_unknown_targets_and_empty_runs(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        load.parse_args(["--targets", "tiny,vllm"])
    assert "unknown ['vllm']" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        load.parse_args(["--concurrency", "0"])


def test_load_summary_counts_errors_by_kind_and_rates_only_successes() -> None:
    results = [Result(True, 0.1 * i, 0.01 * i, 5) for i in range(1, 10)]
    results += [Result(False, 0.001, None, 0, "HTTP 429")] * 2 + [Result(False, 5.0, None, 0, "ReadTimeout")]
    row = load.summarize("upstream", 12, LoadRun(results, wall_s=3.0))
    assert row["requests"] == 12
    assert row["errors"] == {"HTTP 429": 2, "ReadTimeout": 1}
    assert row["error_rate"] == pytest.approx(3 / 12)
    assert row["latency_p50_ms"] == pytest.approx(500.0)  # failed requests do not enter the percentiles
    assert row["requests_per_s"] == pytest.approx(9 / 3.0)
    assert row["tokens_per_s"] == pytest.approx(45 / 3.0)


def test_overhead_options_and_limits() -> None:
    args = overhead.parse_args(["--requests", "50", "--no-presidio"])
    assert (args.requests, args.no_presidio, args.no_litellm, args.chars) == (50, True, False, 1000)
    with pytest.raises(SystemExit):
        overhead.parse_args(["--duration", "0"])


def test_overhead_payload_has_the_asked_length_and_never_repeats_a_sentence() -> None:
    first, second = overhead.payload(1000, 1), overhead.payload(1000, 2)
    assert 950 <= len(first) <= 1000
    assert overhead.PLANTED.format(request=1).strip() in first
    sentences = [set(re.split(r"(?<=[.!?])\s+", text)[:-1]) for text in (first, second)]  # the last one is cut
    assert len(sentences[0]) >= 8
    assert not sentences[0] & sentences[1]  # the guards' embedding cache cannot help


def test_overhead_summary_pairs_each_proxy_with_direct_and_litellm() -> None:
    def runs(ms: list[float]) -> list[Result]:
        return [Result(True, m / 1e3, m / 1e3, 5) for m in ms]

    latency = {kind: {"direct": runs([1, 2, 3]), "keel-guards": runs([11, 12, 13]), "litellm": runs([21, 22, 23])}
               for kind in (False, True)}
    throughput = {"direct": {"rps": 400.0, "errors": 0}, "keel-guards": {"rps": 100.0, "errors": 0},
                  "litellm": {"rps": 50.0, "errors": 0}}
    summary = overhead.summarize(latency, throughput)
    assert summary["targets"]["direct"]["latency_added"] is None
    assert summary["targets"]["keel-guards"]["latency_added"]["p50"] == pytest.approx(10.0)
    assert summary["ratios"]["keel-guards/litellm"]["added_p50"] == pytest.approx(0.5)
    assert summary["ratios"]["keel-guards/litellm"]["rps"] == pytest.approx(2.0)
    assert "keel-plain/litellm" not in summary["ratios"]  # only targets that ran are compared


def test_litellm_config_routes_to_the_upstream_and_adds_presidio_only_when_asked() -> None:
    plain = _litellm.config("http://127.0.0.1:9", "m", None)
    assert plain["model_list"][0]["litellm_params"]["api_base"] == "http://127.0.0.1:9/v1"  # type: ignore[index]
    assert "guardrails" not in plain
    guarded = _litellm.config("http://127.0.0.1:9", "m", "http://127.0.0.1:7")
    params = guarded["guardrails"][0]["litellm_params"]  # type: ignore[index]
    assert params["guardrail"] == "presidio" and params["presidio_analyzer_api_base"] == "http://127.0.0.1:7"
    assert set(params["mode"]) == {"pre_call", "post_call"}


def test_overhead_summary_leaves_refused_rounds_out_of_the_latencies_and_counts_them() -> None:
    ok = [Result(True, m / 1e3, m / 1e3, 5) for m in (100.0, 100.0, 100.0)]
    refused = Result(False, 0.001, None, 0, "refused (content_filter)")  # quick: it never reached the upstream
    direct = [Result(True, 0.001, 0.001, 5)] * 4
    latency = {kind: {"direct": direct, "keel-guards": [*ok, refused]} for kind in (False, True)}
    throughput = {"direct": {"rps": 1.0, "errors": 0}, "keel-guards": {"rps": 1.0, "errors": 0}}
    row = overhead.summarize(latency, throughput)["targets"]["keel-guards"]
    assert row["latency"]["p50"] == pytest.approx(100.0) and row["latency"]["n"] == 3
    assert row["latency_errors"] == {"refused (content_filter)": 1}
