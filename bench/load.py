"""Load: N concurrent streaming clients for T seconds against Keel, on the tiny model and on a fake upstream.

Starts real `keel serve` processes (one worker each, own temporary KEEL_HOME, a key with no rate limits):
(a) the embedded backend with the ``tiny-random`` model, (b) the upstream backend in front of
tests/fake_upstream.py (no model time: a fixed five-word answer at once). Each target gets a warm-up
(excluded), then N clients stream requests back to back for T seconds. Reports the error rate (anything
but HTTP 200 with streamed content and no error event), latency and time-to-first-token p50/p99, and
requests/s and completion tokens/s over the wall time. Prints a markdown table; writes a PNG.

    .venv/bin/python bench/load.py                              # 64 streams, 20 s per target
    .venv/bin/python bench/load.py --concurrency 128 --duration 60 --targets upstream
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
from collections import Counter
from typing import Any
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench._client import LoadRun, chat_body, closed_loop  # noqa: E402
from bench._servers import Service, bench_home, load_average, start_fake_upstream, start_keel  # noqa: E402
from bench._stats import Spread  # noqa: E402

TARGETS = {"tiny": "Keel, embedded tiny-random", "upstream": "Keel → fake upstream"}
PROMPT = "Write a short note about the weather in three sentences."


def summarize(target: str, concurrency: int, run: LoadRun) -> dict[str, Any]:
    """One table row: error counts by kind, percentiles over the successful requests, rates over the wall time."""
    ok = [r for r in run.results if r.ok]
    errors = Counter(r.error for r in run.results if not r.ok)
    latency = Spread.of([r.latency * 1e3 for r in ok]) if ok else None
    ttft = Spread.of([r.ttft * 1e3 for r in ok if r.ttft is not None]) if ok else None
    return {
        "target": target, "concurrency": concurrency, "requests": len(run.results), "errors": dict(errors),
        "error_rate": sum(errors.values()) / max(1, len(run.results)), "wall_s": run.wall_s,
        "latency_p50_ms": latency.p50 if latency else None, "latency_p99_ms": latency.p99 if latency else None,
        "ttft_p50_ms": ttft.p50 if ttft else None, "ttft_p99_ms": ttft.p99 if ttft else None,
        "requests_per_s": len(ok) / run.wall_s, "tokens_per_s": sum(r.tokens for r in ok) / run.wall_s,
    }


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--concurrency", type=int, default=64, help="concurrent streaming clients (default 64)")
    parser.add_argument("--duration", type=float, default=20.0, help="measured seconds per target (default 20)")
    parser.add_argument("--warmup", type=float, default=3.0, help="warm-up seconds per target, not counted (default 3)")
    parser.add_argument("--targets", default="tiny,upstream",
                        help=f"comma-separated, in order, among {','.join(TARGETS)} (default both)")
    parser.add_argument("--max-tokens", type=int, default=16, help="max_tokens per request (the fake answers 5)")
    parser.add_argument("--threads", type=int, default=1, help="torch threads of the tiny-model gateway (default 1)")
    parser.add_argument("--guards", action="store_true", help="turn the guard stack on in both gateways (default off)")
    parser.add_argument("--png", default="docs/bench/load.png", help="chart path ('' to skip)")
    parser.add_argument("--json", default="", help="also write the raw summary rows to this JSON file")
    args = parser.parse_args(argv)
    args.targets = [t.strip() for t in args.targets.split(",") if t.strip()]
    unknown = [t for t in args.targets if t not in TARGETS]
    if unknown or not args.targets:
        parser.error(f"--targets: unknown {unknown}; choose among {list(TARGETS)}")
    if args.concurrency < 1 or args.duration <= 0 or args.warmup < 0:
        parser.error("--concurrency must be ≥ 1, --duration > 0 and --warmup ≥ 0")
    return args


def start_target(target: str, tmp: Path, home: Path, args: argparse.Namespace) -> list[Service]:
    """The processes a target needs, the gateway last."""
    env = {"KEEL_GUARDS": json.dumps({"enabled": args.guards})}
    if target == "tiny":
        return [start_keel("keel-tiny", tmp, home, "tiny-random", env | {"KEEL_THREADS": str(args.threads)})]
    upstream = start_fake_upstream(tmp, "fake-upstream")
    try:
        return [upstream, start_keel("keel-upstream", tmp, home, "fake-upstream",
                                     env | {"KEEL_BACKEND": "upstream", "KEEL_UPSTREAM_URLS": upstream.url})]
    except BaseException:
        upstream.stop()
        raise


def measure(service: Service, model: str, args: argparse.Namespace) -> LoadRun:
    url = f"{service.url}/v1/chat/completions"
    body = chat_body(model, PROMPT, args.max_tokens, stream=True)
    if args.warmup:
        asyncio.run(closed_loop(url, lambda: body, service.headers, args.concurrency, args.warmup))
    return asyncio.run(closed_loop(url, lambda: body, service.headers, args.concurrency, args.duration))


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.0f}" if value >= 100 else f"{value:.1f}"


def print_table(rows: list[dict[str, Any]], args: argparse.Namespace, loads: list[str]) -> None:
    print(f"\nload benchmark: {args.concurrency} concurrent streaming clients, {args.duration:.0f} s per target "
          f"after {args.warmup:.0f} s warm-up, max_tokens {args.max_tokens}, guards {'on' if args.guards else 'off'}, "
          f"1 gateway worker, key with no rate limits; load average before/after: {loads[0]} → {loads[1]}\n")
    print("| target | streams | requests | errors | error rate | latency p50 / p99 ms | TTFT p50 / p99 ms "
          "| req/s | tok/s |")
    print("|---|---:|---:|---|---:|---:|---:|---:|---:|")
    for r in rows:
        errors = ", ".join(f"{k} ×{v}" for k, v in r["errors"].items()) or "0"
        print(f"| {TARGETS[str(r['target'])]} | {r['concurrency']} | {r['requests']} | {errors} | "
              f"{r['error_rate']:.2%} | {_ms(r['latency_p50_ms'])} / {_ms(r['latency_p99_ms'])} | "
              f"{_ms(r['ttft_p50_ms'])} / {_ms(r['ttft_p99_ms'])} | {r['requests_per_s']:.1f} | "
              f"{r['tokens_per_s']:.0f} |")
    for r in rows:
        if r["target"] == "upstream":
            met = r["error_rate"] == 0
            print(f"\ngoal: zero errors at {args.concurrency} concurrent streams on the fake upstream: "
                  f"{'met' if met else 'NOT met'}")


def plot(rows: list[dict[str, Any]], path: Path, args: argparse.Namespace) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = [TARGETS[str(r["target"])] for r in rows]
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 3.8))
    width = 0.2
    series = [("latency_p50_ms", "latency p50"), ("latency_p99_ms", "latency p99"),
              ("ttft_p50_ms", "TTFT p50"), ("ttft_p99_ms", "TTFT p99")]
    for i, (key, label) in enumerate(series):
        left.bar([x + (i - 1.5) * width for x in range(len(rows))], [r[key] or 0 for r in rows],
                 width, label=label)
    left.set_xticks(range(len(rows)), names)
    left.set_yscale("log")
    left.set_ylabel("ms (log scale)")
    left.legend(fontsize=8)
    left.set_title("latency per request")
    bars = right.bar(names, [r["requests_per_s"] for r in rows], color="#3b6ea5")
    for bar, r in zip(bars, rows, strict=True):
        right.annotate(f"errors {r['error_rate']:.1%}", (bar.get_x() + bar.get_width() / 2, bar.get_height()),
                       ha="center", va="bottom", fontsize=8)
    right.set_ylabel("completed requests / s")
    right.set_title("throughput")
    fig.suptitle(f"Keel under load: {args.concurrency} concurrent streams, {args.duration:.0f} s, "
                 f"guards {'on' if args.guards else 'off'}")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    loads = [load_average()]
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="keel-bench-load-") as tmp_name:
        tmp = Path(tmp_name)
        home = bench_home(tmp)
        for target in args.targets:
            print(f"starting {TARGETS[target]} ...", file=sys.stderr)
            services = start_target(target, tmp, home, args)
            try:
                run = measure(services[-1], "tiny-random" if target == "tiny" else "fake-upstream", args)
                if not all(r.ok for r in run.results):  # the logs go with the temporary directory: show them now
                    for service in services:
                        print(f"--- {service.name} log (tail):\n{service.log.read_text()[-2000:]}", file=sys.stderr)
            finally:
                for service in reversed(services):
                    service.stop()
            rows.append(summarize(target, args.concurrency, run))
            print(f"  {TARGETS[target]}: {rows[-1]['requests']} requests, "
                  f"{rows[-1]['error_rate']:.2%} errors", file=sys.stderr)
    loads.append(load_average())
    print_table(rows, args, loads)
    if args.json:
        Path(args.json).write_text(json.dumps({"args": vars(args), "load": loads, "rows": rows}, indent=2))
    if args.png:
        plot(rows, Path(args.png), args)
        print(f"\nchart: {args.png}")


if __name__ == "__main__":
    main()
