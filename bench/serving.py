"""Serving throughput: single-stream and aggregate tokens/s at several concurrencies, side by side in one run.

Starts a real `keel serve` process on a free port, then for each concurrency C runs C clients that each
stream R requests back to back. Reports, per C: aggregate completion tokens/s over the wall time, the
per-stream decode rate, mean time to first token, and the ratio of aggregate tokens/s to C=1. Writes a PNG.

    python bench/serving.py --model smollm2-135m-instruct
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from gateway.auth import KeyStore  # noqa: E402

PROMPTS = [
    "Write a detailed story about a lighthouse keeper who finds a message in a bottle.",
    "Explain, step by step and at length, how a bicycle gear system works.",
    "Describe a week-long hiking trip through the mountains, day by day.",
    "Write a long letter from a sailor to their family about life at sea.",
    "Explain in detail how bread is made, from flour to loaf.",
    "Describe the history of the printing press and its effects on society.",
    "Write a long story about a robot learning to paint.",
    "Explain in depth how rain forms and why some places get more of it.",
]


@dataclass
class Sample:
    tokens: int
    duration: float
    ttft: float


async def one_request(http: httpx.AsyncClient, model: str, prompt: str, max_tokens: int, seed: int) -> Sample:
    body = {
        "model": model,
        "messages": [{"role": "user", "content": prompt}],
        "max_tokens": max_tokens,
        "temperature": 0.7,
        "seed": seed,
        "stream": True,
        "stream_options": {"include_usage": True},
    }
    started = time.perf_counter()
    ttft = None
    tokens = 0
    async with http.stream("POST", "/v1/chat/completions", json=body) as r:
        r.raise_for_status()
        async for line in r.aiter_lines():
            if not line.startswith("data: ") or line == "data: [DONE]":
                continue
            chunk = json.loads(line[6:])
            if chunk.get("choices") and chunk["choices"][0]["delta"].get("content") and ttft is None:
                ttft = time.perf_counter() - started
            if chunk.get("usage"):
                tokens = chunk["usage"]["completion_tokens"]
    return Sample(tokens, time.perf_counter() - started, ttft or 0.0)


async def run_level(base: str, key: str, model: str, concurrency: int, per_client: int, max_tokens: int) -> dict:
    headers = {"Authorization": f"Bearer {key}"}
    async with httpx.AsyncClient(base_url=base, headers=headers, timeout=600) as http:

        async def client(c: int) -> list[Sample]:
            out = []
            for r in range(per_client):
                i = c * per_client + r
                out.append(await one_request(http, model, PROMPTS[i % len(PROMPTS)], max_tokens, seed=i))
            return out

        started = time.perf_counter()
        samples = [s for group in await asyncio.gather(*(client(c) for c in range(concurrency))) for s in group]
        wall = time.perf_counter() - started
    total = sum(s.tokens for s in samples)
    return {
        "concurrency": concurrency,
        "requests": len(samples),
        "tokens": total,
        "wall_s": wall,
        "aggregate_tps": total / wall,
        "stream_tps": statistics.mean(s.tokens / max(s.duration - s.ttft, 1e-9) for s in samples),
        "ttft_s": statistics.mean(s.ttft for s in samples),
    }


def start_server(model: str, threads: int, keys_file: Path, port: int) -> subprocess.Popen:
    env = os.environ | {"KEEL_KEYS_FILE": str(keys_file), "KEEL_THREADS": str(threads), "KEEL_LOG_LEVEL": "warning"}
    return subprocess.Popen(
        [sys.executable, "-m", "gateway.cli", "serve", "--model", model, "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def wait_ready(base: str, proc: subprocess.Popen, timeout: float = 600) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit("the server exited during start-up")
        try:
            if httpx.get(f"{base}/ready", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    raise SystemExit("the server did not become ready")


def print_table(rows: list[dict], model: str, threads: int) -> None:
    base = rows[0]["aggregate_tps"]
    print(f"\nserving benchmark: model={model}, torch threads={threads}, streamed requests through the HTTP gateway\n")
    print("| concurrency | requests | aggregate tok/s | per-stream tok/s | mean TTFT s | aggregate vs C=1 |")
    print("|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        print(
            f"| {r['concurrency']} | {r['requests']} | {r['aggregate_tps']:.1f} | {r['stream_tps']:.1f} | "
            f"{r['ttft_s']:.2f} | {r['aggregate_tps'] / base:.2f}x |"
        )


def plot(rows: list[dict], path: Path, model: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 3.5))
    xs = [str(r["concurrency"]) for r in rows]
    ax.bar(xs, [r["aggregate_tps"] for r in rows], color="#3b6ea5", label="aggregate tok/s")
    ax.plot(xs, [r["stream_tps"] for r in rows], "o-", color="#d9822b", label="per-stream tok/s")
    ax.set_xlabel("concurrent streams")
    ax.set_ylabel("completion tokens / s")
    ax.set_title(f"Keel embedded backend: {model}")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="smollm2-135m-instruct", help="model name or local HF directory")
    parser.add_argument("--concurrency", default="1,4,8", help="comma-separated concurrency levels (first is the baseline)")
    parser.add_argument("--requests-per-client", type=int, default=2, help="requests each client streams back to back")
    parser.add_argument("--max-tokens", type=int, default=64, help="max_tokens per request")
    parser.add_argument("--threads", type=int, default=2, help="torch threads in the server (pinned, and reported)")
    parser.add_argument("--png", default="runs/bench/serving.png", help="where to write the chart")
    args = parser.parse_args()

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    base = f"http://127.0.0.1:{port}"
    with tempfile.TemporaryDirectory() as tmp:
        keys_file = Path(tmp) / "keys.yaml"
        key, _ = KeyStore(keys_file).add("bench", ["user"])
        proc = start_server(args.model, args.threads, keys_file, port)
        try:
            wait_ready(base, proc)
            model_id = httpx.get(f"{base}/v1/models", headers={"Authorization": f"Bearer {key}"}).json()["data"][0]["id"]
            asyncio.run(run_level(base, key, model_id, 1, 1, 8))  # warm-up
            rows = []
            for c in [int(x) for x in args.concurrency.split(",")]:
                rows.append(asyncio.run(run_level(base, key, model_id, c, args.requests_per_client, args.max_tokens)))
                print(f"  concurrency {c}: {rows[-1]['aggregate_tps']:.1f} tok/s", file=sys.stderr)
        finally:
            proc.terminate()
            proc.wait(30)
    print_table(rows, args.model, args.threads)
    png = Path(args.png)
    png.parent.mkdir(parents=True, exist_ok=True)
    plot(rows, png, args.model)
    print(f"\nchart: {png}")


if __name__ == "__main__":
    main()
