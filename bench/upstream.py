"""Gateway overhead on the upstream path: the same requests sent directly to an OpenAI-compatible server
and through a `keel serve` process in front of it, interleaved so background load hits both alike.

    .venv/bin/python bench/upstream.py                          # against tests/fake_upstream.py (no model time)
    .venv/bin/python bench/upstream.py --upstream http://127.0.0.1:8080 --model smollm2   # e.g. llama.cpp

Prints latency percentiles for non-streamed requests and time to first token for streamed ones, and the
gateway's added milliseconds (median of paired differences).
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from gateway.auth import KeyStore


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait(url: str, process: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"process exited:\n{log.read_text()[-2000:]}")
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            time.sleep(0.2)
    raise SystemExit(f"{url} not ready")


def _timed(http: httpx.Client, url: str, body: dict, headers: dict, stream: bool) -> float:
    started = time.perf_counter()
    if not stream:
        r = http.post(url, json=body, headers=headers)
        r.raise_for_status()
        return time.perf_counter() - started
    ttft = None
    with http.stream("POST", url, json=body | {"stream": True}, headers=headers) as r:
        r.raise_for_status()
        for line in r.iter_lines():
            if ttft is None and line.startswith("data: {"):
                choices = json.loads(line[6:]).get("choices") or [{}]
                if (choices[0].get("delta") or {}).get("content"):
                    ttft = time.perf_counter() - started
    if ttft is None:
        raise RuntimeError("stream carried no content")
    return ttft


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--upstream", help="base URL of an OpenAI-compatible server (default: start the fake one)")
    parser.add_argument("--model", default="fake-upstream", help="model id the upstream serves")
    parser.add_argument("--requests", type=int, default=200, help="requests per mode and kind")
    parser.add_argument("--max-tokens", type=int, default=8)
    args = parser.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="keel-bench-upstream-"))
    processes: list[subprocess.Popen] = []
    try:
        upstream = args.upstream
        if upstream is None:
            port = _free_port()
            log = tmp / "upstream.log"
            processes.append(subprocess.Popen([sys.executable, str(ROOT / "tests" / "fake_upstream.py"), "--port",
                                               str(port), "--model", args.model], stdout=log.open("w"),
                                              stderr=subprocess.STDOUT))
            upstream = f"http://127.0.0.1:{port}"
            _wait(f"{upstream}/v1/models", processes[-1], log)
        key, _ = KeyStore(tmp / "keys.yaml").add("bench", ["user"])
        port = _free_port()
        log = tmp / "gateway.log"
        env = os.environ | {"KEEL_KEYS_FILE": str(tmp / "keys.yaml"), "KEEL_BACKEND": "upstream",
                            "KEEL_UPSTREAM_URLS": upstream, "KEEL_LOG_LEVEL": "warning"}
        processes.append(subprocess.Popen([sys.executable, "-m", "gateway.cli", "serve", "--model", args.model,
                                           "--port", str(port)], env=env, cwd=ROOT, stdout=log.open("w"),
                                          stderr=subprocess.STDOUT))
        gateway = f"http://127.0.0.1:{port}"
        _wait(f"{gateway}/ready", processes[-1], log)

        body = {"model": args.model, "max_tokens": args.max_tokens, "temperature": 0,
                "messages": [{"role": "user", "content": "Name three colours."}]}
        targets = {"direct": (f"{upstream}/v1/chat/completions", {}),
                   "via gateway": (f"{gateway}/v1/chat/completions", {"Authorization": f"Bearer {key}"})}
        results: dict[tuple[str, bool], list[float]] = {(m, s): [] for m in targets for s in (False, True)}
        with httpx.Client(timeout=120) as http:
            for stream in (False, True):
                for name, (url, headers) in targets.items():
                    _timed(http, url, body, headers, stream)  # warm-up: connections, caches
                for _ in range(args.requests):
                    for name, (url, headers) in targets.items():
                        results[(name, stream)].append(_timed(http, url, body, headers, stream))

        print(f"upstream {upstream} model {args.model}, {args.requests} requests per row, "
              f"max_tokens {args.max_tokens}, sequential, 1 gateway worker\n")
        print("| kind | path | p50 ms | p95 ms | gateway adds (median of pairs) ms |")
        print("|---|---|---:|---:|---:|")
        for stream in (False, True):
            kind = "TTFT (stream)" if stream else "latency (non-stream)"
            direct, via = results[("direct", stream)], results[("via gateway", stream)]
            added = statistics.median(v - d for v, d in zip(via, direct, strict=True)) * 1000
            for name, values in (("direct", direct), ("via gateway", via)):
                q = statistics.quantiles(values, n=20)
                extra = f"{added:.1f}" if name == "via gateway" else ""
                print(f"| {kind} | {name} | {statistics.median(values) * 1000:.1f} | {q[18] * 1000:.1f} | {extra} |")
    finally:
        for process in reversed(processes):
            process.terminate()
            process.wait(20)


if __name__ == "__main__":
    main()
