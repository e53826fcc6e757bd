"""Overhead against a peer: what Keel and the LiteLLM proxy add on top of the same zero-latency upstream.

Starts tests/fake_upstream.py (a fixed five-word answer at once, streamed or not) and, in front of it,
each as a real process with one worker: Keel with the full guard stack (KEEL_GUARDS enabled: the shipped
data/policies/platform.yaml, input size/PII/injection/hazard and output PII/hazard/response_format, plus
the platform system prompt), Keel with guards off, the LiteLLM proxy plain, and LiteLLM with its Presidio
guardrail (pre and post call) against Presidio's REST API served offline from this venv
(bench/_presidio_service.py; LiteLLM is installed by this script into .bench/litellm-venv).

Every target gets the same client and payload: a ~1,000-character support message with one planted e-mail
address, different in every request (see ``payload``); a request Keel refuses or holds for review counts
as an error and stays out of the percentiles. Warm-up requests are excluded. Latency: sequential requests (concurrency 1) in rounds; each
round sends one request to every target in a shuffled order, so background noise hits all alike.
"Added" latency is the proxy's pN minus the direct path's pN (distributions), and, as a check, the median
of per-round differences (paired). Throughput: N closed-loop clients for a few seconds per target, in
shuffled interleaved rounds; max requests/s is completed requests over wall time.

    .venv/bin/python bench/overhead.py                           # 300 rounds, 16 clients × 3 × 5 s
    .venv/bin/python bench/overhead.py --requests 1000 --concurrency 32 --no-presidio
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import random
import sys
from collections import Counter
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench import _litellm  # noqa: E402
from bench._client import Result, chat_body, client, closed_loop, timed_request  # noqa: E402
from bench._servers import Service, bench_home, load_average, start_fake_upstream, start_keel  # noqa: E402
from bench._stats import Spread, added, format_ratio, ratio  # noqa: E402
from bench.guards import FILLER  # noqa: E402

MODEL = "fake-upstream"
ANSWER = "Hello from the upstream replica."  # tests/fake_upstream.py's words: anything else means a refusal
LABELS = {"direct": "direct to upstream", "keel-guards": "Keel, full guard stack", "keel-plain": "Keel, guards off",
          "litellm": "LiteLLM, plain", "litellm-presidio": "LiteLLM + Presidio guardrail"}
PROXIES = [name for name in LABELS if name != "direct"]
# One planted PII value, which both guard stacks mask. bench/guards.py's message (card and phone numbers
# planted) was blocked by Keel's hazard classifier when this was written (S7/S14 false positives), and
# a blocked request never reaches the upstream: the payload has to be one the guards let through.
PLANTED = "My email is dana.reyes@example.com (ticket {request}). "


def payload(chars: int, request: int = 0) -> str:
    """Support-chat filler of about ``chars`` characters, the email in the middle, every sentence numbered.

    The numbers carry ``request``, so no sentence repeats across requests: Keel's guards reuse the
    embeddings of texts seen recently, and the same message sent again would measure that cache.
    """
    body = "".join(FILLER.replace(". ", f" ({request}.{k}). ").replace("? ", f" ({request}.{k})? ")
                   for k in range(chars // len(FILLER) + 2))
    head, _, tail = body[: chars // 2].rpartition(". ")
    text = head + ". " + PLANTED.format(request=request) + tail + body[chars // 2:]
    return text[:chars].rsplit(" ", 1)[0]


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=300, help="latency rounds: requests per target and kind")
    parser.add_argument("--warmup", type=int, default=20, help="warm-up requests per target and kind, not counted")
    parser.add_argument("--concurrency", type=int, default=16, help="closed-loop clients in the throughput phase")
    parser.add_argument("--duration", type=float, default=5.0, help="seconds per target and throughput round")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved throughput rounds")
    parser.add_argument("--chars", type=int, default=1000, help="characters of the user message (default 1000)")
    parser.add_argument("--max-tokens", type=int, default=16, help="max_tokens per request (the fake answers 5)")
    parser.add_argument("--no-litellm", action="store_true", help="leave LiteLLM out (Keel against direct only)")
    parser.add_argument("--no-presidio", action="store_true", help="run LiteLLM plain only, without its Presidio guardrail")
    parser.add_argument("--seed", type=int, default=0, help="seed of the shuffled target orders")
    parser.add_argument("--png", default="docs/bench/overhead.png", help="chart path ('' to skip)")
    parser.add_argument("--json", default="", help="also write every sample and the summary to this JSON file")
    args = parser.parse_args(argv)
    if min(args.requests, args.concurrency, args.rounds, args.chars) < 1 or args.duration <= 0 or args.warmup < 0:
        parser.error("--requests, --concurrency, --rounds and --chars must be ≥ 1, --duration > 0, --warmup ≥ 0")
    return args


def bodies(chars: int, max_tokens: int, stream: bool) -> Callable[[], dict[str, Any]]:
    """A new request body per call, each with its own message (see ``payload``)."""
    numbers = itertools.count(1)
    return lambda: chat_body(MODEL, payload(chars, next(numbers)), max_tokens, stream)


def start_targets(tmp: Path, args: argparse.Namespace, targets: dict[str, Service]) -> None:
    """Start every proxy in front of ``targets['direct']`` (the upstream), adding each as it runs."""
    home = bench_home(tmp)
    upstream = targets["direct"]
    upstream_env = {"KEEL_BACKEND": "upstream", "KEEL_UPSTREAM_URLS": upstream.url}
    targets["keel-guards"] = start_keel("keel-guards", tmp, home, MODEL, upstream_env | {"KEEL_GUARDS": '{"enabled": true}'})
    targets["keel-plain"] = start_keel("keel-plain", tmp, home, MODEL, upstream_env | {"KEEL_GUARDS": '{"enabled": false}'})
    if not args.no_litellm:
        cli = _litellm.ensure_installed()
        targets["litellm"] = _litellm.start_proxy("litellm", cli, tmp, upstream.url, MODEL)
        if not args.no_presidio:
            targets["presidio"] = _litellm.start_presidio(tmp)  # a helper service, not a target
            targets["litellm-presidio"] = _litellm.start_proxy("litellm-presidio", cli, tmp, upstream.url, MODEL,
                                                               targets["presidio"].url)


def guard_decisions(keel: Service) -> list[str]:
    metrics = httpx.get(f"{keel.url}/metrics", timeout=10).text
    return [line for line in metrics.splitlines() if line.startswith("keel_guard_decisions_total{")]


def check_targets(targets: dict[str, Service], chars: int) -> None:
    """Each target relays the upstream's words, and the guards really ran where they are meant to.

    Keel's guard classifiers refuse or escalate a few percent of these benign messages (counted in the
    run); it has to relay at least one of five.
    """
    for name in (n for n in LABELS if n in targets):
        service, answers = targets[name], []
        for request in range(1, 6):
            r = httpx.post(f"{service.url}/v1/chat/completions", json=chat_body(MODEL, payload(chars, -request), 16, False),
                           headers=service.headers, timeout=120)
            answers.append(r.json()["choices"][0]["message"]["content"] if r.status_code == 200 else r.text[:300])
            if answers[-1] == ANSWER:
                break
        else:
            raise SystemExit(f"{LABELS[name]} did not relay the upstream's answer (guard refusal?): {answers}\n"
                             + "\n".join(guard_decisions(targets["keel-guards"])))
    decisions = guard_decisions(targets["keel-guards"])
    stages = {stage for stage in ("input", "output") if any(f'stage="{stage}"' in line for line in decisions)}
    if stages != {"input", "output"}:
        raise SystemExit(f"Keel's guard stack did not run on input and output (stages seen: {sorted(stages)})")
    if "presidio" in targets and not httpx.get(f"{targets['presidio'].url}/stats", timeout=10).json()["analyze"]:
        raise SystemExit("LiteLLM did not call the Presidio analyzer")


async def latency_rounds(targets: dict[str, Service], names: list[str], body: Callable[[], dict[str, Any]], rounds: int,
                         rng: random.Random) -> dict[str, list[Result]]:
    samples: dict[str, list[Result]] = {name: [] for name in names}
    async with client(4) as http:
        for _ in range(rounds):
            for name in rng.sample(names, len(names)):
                service = targets[name]
                samples[name].append(await timed_request(http, f"{service.url}/v1/chat/completions", body(),
                                                         service.headers, expect=ANSWER))
    return samples


async def throughput_rounds(targets: dict[str, Service], names: list[str], body: Callable[[], dict[str, Any]],
                            args: argparse.Namespace, rng: random.Random) -> dict[str, dict[str, float]]:
    done = {name: {"ok": 0.0, "errors": 0.0, "wall_s": 0.0} for name in names}
    for round_ in range(args.rounds + 1):  # round 0 is the warm-up
        for name in rng.sample(names, len(names)):
            service = targets[name]
            run = await closed_loop(f"{service.url}/v1/chat/completions", body, service.headers, args.concurrency,
                                    1.0 if round_ == 0 else args.duration, expect=ANSWER)
            if round_:
                done[name]["ok"] += sum(r.ok for r in run.results)
                done[name]["errors"] += sum(not r.ok for r in run.results)
                done[name]["wall_s"] += run.wall_s
    return {name: {"rps": d["ok"] / d["wall_s"], "errors": d["errors"]} for name, d in done.items()}


def _ms(result: Result, stream: bool) -> float:
    return (result.ttft if stream and result.ttft is not None else result.latency) * 1e3


def summarize(latency: dict[bool, dict[str, list[Result]]], throughput: dict[str, dict[str, float]]) -> dict[str, Any]:
    """Per target and kind: p50/p99 and what it adds over direct; throughput; the Keel/LiteLLM ratios."""
    out: dict[str, Any] = {"targets": {}, "ratios": {}}
    for name, rps in throughput.items():
        row: dict[str, Any] = {"label": LABELS[name], "rps": rps["rps"], "throughput_errors": rps["errors"]}
        for stream, kind in ((False, "latency"), (True, "ttft")):
            results = latency[stream][name]
            row[f"{kind}_errors"] = dict(Counter(r.error for r in results if not r.ok))
            # Only rounds where both this target and direct succeeded: a refused request never reaches the
            # upstream, and its shorter time would flatter the proxy.
            pairs = [(r, d) for r, d in zip(results, latency[stream]["direct"], strict=True) if r.ok and d.ok]
            ms = [_ms(r, stream) for r, _ in pairs]
            row[kind] = vars(Spread.of(ms))
            row[f"{kind}_added"] = None if name == "direct" else vars(added(ms, [_ms(d, stream) for _, d in pairs]))
        out["targets"][name] = row
    t = out["targets"]
    for keel in ("keel-guards", "keel-plain"):
        for peer in ("litellm", "litellm-presidio"):
            if keel in t and peer in t:
                out["ratios"][f"{keel}/{peer}"] = {
                    "added_p50": ratio(t[keel]["latency_added"]["p50"], t[peer]["latency_added"]["p50"]),
                    "added_p99": ratio(t[keel]["latency_added"]["p99"], t[peer]["latency_added"]["p99"]),
                    "ttft_added_p50": ratio(t[keel]["ttft_added"]["p50"], t[peer]["ttft_added"]["p50"]),
                    "rps": ratio(t[keel]["rps"], t[peer]["rps"]),
                }
    return out


def print_report(summary: dict[str, Any], args: argparse.Namespace, loads: list[str]) -> None:
    t = summary["targets"]
    presidio = "litellm-presidio" in t
    print(f"\noverhead benchmark: {args.chars}-character user message, max_tokens {args.max_tokens}, "
          f"{args.requests} sequential rounds per kind; throughput {args.concurrency} clients × {args.rounds} "
          f"rounds × {args.duration:.0f} s per target; 1 worker per proxy; LiteLLM {_litellm.VERSION} "
          f"{'plain AND with its Presidio guardrail (offline Presidio REST service)' if presidio else 'plain only'}"
          f"\nload average before/after: {loads[0]} → {loads[1]}")
    for kind, title in (("latency", "non-streamed request, full latency"), ("ttft", "streamed request, time to first token")):
        print(f"\n{title} (ms; added = proxy minus direct; percentiles over rounds where both succeeded):\n")
        print("| target | p50 | p99 | added p50 | added p99 | added p50, paired | errors |")
        print("|---|---:|---:|---:|---:|---:|---:|")
        for row in t.values():
            a = row[f"{kind}_added"]
            extra = f"{a['p50']:.1f} | {a['p99']:.1f} | {a['paired_p50']:.1f}" if a else "- | - | -"
            errors = ", ".join(f"{n} {e}" for e, n in row[f"{kind}_errors"].items()) or "0"
            print(f"| {row['label']} | {row[kind]['p50']:.1f} | {row[kind]['p99']:.1f} | {extra} | {errors} |")
    print(f"\nthroughput ({args.concurrency} concurrent non-streamed clients):\n")
    print("| target | max req/s | vs direct | errors |")
    print("|---|---:|---:|---:|")
    for row in t.values():
        print(f"| {row['label']} | {row['rps']:.0f} | {format_ratio(ratio(row['rps'], t['direct']['rps']))} | "
              f"{row['throughput_errors']:.0f} |")
    if summary["ratios"]:
        print("\nKeel / LiteLLM (added latency: lower is better for Keel below 1.00x; req/s: higher is better above 1.00x):\n")
        print("| Keel / LiteLLM | added p50 | added p99 | added TTFT p50 | max req/s |")
        print("|---|---:|---:|---:|---:|")
        for pair, r in summary["ratios"].items():
            keel, peer = pair.split("/")
            print(f"| {LABELS[keel]} / {LABELS[peer]} | {format_ratio(r['added_p50'])} | {format_ratio(r['added_p99'])} | "
                  f"{format_ratio(r['ttft_added_p50'])} | {format_ratio(r['rps'])} |")
    if "litellm" in t:
        keel, peer = t["keel-guards"]["latency_added"]["p50"], t["litellm"]["latency_added"]["p50"]
        print(f"\ngoal: Keel's added p50 with the full guard stack ({keel:.1f} ms) ≤ LiteLLM's added p50 without "
              f"guards ({peer:.1f} ms): {'met' if keel <= peer else 'NOT met'}")


def plot(summary: dict[str, Any], path: Path, args: argparse.Namespace) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    t = summary["targets"]
    proxies = [n for n in PROXIES if n in t]
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4))
    for i, (key, label) in enumerate((("p50", "added p50"), ("p99", "added p99"))):
        left.bar([x + (i - 0.5) * 0.38 for x in range(len(proxies))],
                 [max(t[n]["latency_added"][key], 0.01) for n in proxies], 0.38, label=label)
    left.set_xticks(range(len(proxies)), [LABELS[n].replace(", ", ",\n").replace(" + ", "\n+ ") for n in proxies], fontsize=8)
    left.set_yscale("log")
    left.set_ylabel("ms added over direct (log scale)")
    left.set_title(f"added latency, {args.chars}-char message, sequential")
    left.legend(fontsize=8)
    names = [n for n in LABELS if n in t]
    right.bar([LABELS[n].replace(", ", ",\n").replace(" + ", "\n+ ") for n in names], [t[n]["rps"] for n in names],
              color=["#888888"] + ["#3b6ea5"] * 2 + ["#d9822b"] * (len(names) - 3))
    right.tick_params(axis="x", labelsize=8)
    right.set_ylabel("completed requests / s")
    right.set_title(f"max throughput, {args.concurrency} clients")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    rng = random.Random(args.seed)
    loads = [load_average()]
    with tempfile.TemporaryDirectory(prefix="keel-bench-overhead-") as tmp_name:
        tmp = Path(tmp_name)
        targets = {"direct": start_fake_upstream(tmp, MODEL)}
        try:
            start_targets(tmp, args, targets)
            check_targets(targets, args.chars)
            names = [n for n in LABELS if n in targets]
            latency: dict[bool, dict[str, list[Result]]] = {}
            for stream in (False, True):
                body = bodies(args.chars, args.max_tokens, stream)
                print(f"latency rounds ({'streamed' if stream else 'non-streamed'}) ...", file=sys.stderr)
                asyncio.run(latency_rounds(targets, names, body, args.warmup, rng))
                latency[stream] = asyncio.run(latency_rounds(targets, names, body, args.requests, rng))
            print("throughput rounds ...", file=sys.stderr)
            throughput = asyncio.run(throughput_rounds(targets, names, bodies(args.chars, args.max_tokens, False),
                                                       args, rng))
        finally:
            for service in reversed(targets.values()):
                service.stop()
    loads.append(load_average())
    summary = summarize(latency, throughput)
    print_report(summary, args, loads)
    if args.json:
        raw = {str(s): {n: [vars(r) for r in rs] for n, rs in latency[s].items()} for s in latency}
        Path(args.json).write_text(json.dumps({"args": vars(args), "load": loads, "summary": summary,
                                               "samples": raw}, indent=2))
    if args.png:
        plot(summary, Path(args.png), args)
        print(f"\nchart: {args.png}")


if __name__ == "__main__":
    main()
