"""RAG benchmark: ingest chunks/s and query p50/p95 at several store sizes, printed side by side.

The store holds the handbook plus synthetic filler (handbook sentences shuffled and renumbered). Embedding
50k chunks on 2 cores takes longer than a benchmark should, so only ``--real`` filler chunks are embedded
for real; the rest get vectors perturbed from real ones (clustered like text, not uniform noise). Ingest
rates say which part they measure; queries always embed the question for real, cold (no cache), with the
int8 query graph (the gateway default) and the fp32 graph side by side in the same loop. A last column
repeats the int8 queries through an LRU query cache (warm: the honest number is the cold one).

    python bench/rag.py                      # 1k, 10k, 50k
    python bench/rag.py --sizes 1000,10000   # smaller
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from alignment.registry import keel_home  # noqa: E402
from rag.base import Chunk  # noqa: E402
from rag.chunking import chunk_id  # noqa: E402
from rag.embeddings import load_embedder  # noqa: E402
from rag.evaluate import load_qa  # noqa: E402
from rag.ingest import ingest_path  # noqa: E402
from rag.store import ChunkStore, connect  # noqa: E402


def filler(handbook: list[Chunk], n: int, seed: int = 0) -> list[Chunk]:
    """``n`` synthetic chunks: a handbook clause's sentences shuffled, numbers changed, a new clause id."""
    rng = random.Random(seed)
    out = []
    for i in range(n):
        base = rng.choice(handbook)
        body = base.text.split("\n\n", 1)[-1]
        sentences = re.split(r"(?<=[.!?])\s+", body)
        rng.shuffle(sentences)
        text = re.sub(r"\d+", lambda m: str(rng.randint(1, 5000)), " ".join(sentences))
        cid = f"FILL-{i // 100}.{i % 100}"
        full = f"{cid} {base.title} (variant)\n\n{text}"
        out.append(Chunk(source_id=cid, text=full, title=base.title, uri=f"filler.md#{cid}", clause=cid,
                         source=f"filler-{i // 1000}.md", chunk_id=chunk_id("filler", full)))
    return out


def perturbed(vectors: np.ndarray, n: int, rng: np.random.Generator, sigma: float = 0.35) -> np.ndarray:
    picks = vectors[rng.integers(0, len(vectors), n)]
    noisy = picks + rng.normal(0, sigma / np.sqrt(vectors.shape[1]), picks.shape).astype(np.float32)
    return (noisy / np.linalg.norm(noisy, axis=1, keepdims=True)).astype(np.float32)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="1000,10000,50000", help="store sizes in chunks, comma-separated")
    parser.add_argument("--real", type=int, default=1000, help="filler chunks embedded for real (ingest rate)")
    parser.add_argument("--queries", type=int, default=200, help="timed queries per size (QA questions, cycled)")
    parser.add_argument("--threads", type=int, default=1, help="onnxruntime threads for queries (the gateway's default)")
    parser.add_argument("--ingest-threads", type=int, default=0, help="onnxruntime threads for ingestion (0: all cores)")
    parser.add_argument("--k", type=int, default=5)
    parser.add_argument("--out", type=Path, default=Path("/tmp/keel-bench-rag.json"), help="rows as JSON")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    embedder = load_embedder(keel_home(), threads=args.threads, quantized=True)
    fp32 = load_embedder(keel_home(), threads=args.threads)
    cached = load_embedder(keel_home(), threads=args.threads, quantized=True, cache_size=4096)
    batch_embedder = load_embedder(keel_home(), threads=args.ingest_threads)
    qa = load_qa(Path("data/kb/qa.jsonl"))
    tmp = Path(tempfile.mkdtemp(prefix="keel-bench-rag-"))

    # Handbook through the real ingest path (load, chunk, embed, store): the end-to-end rate.
    store = ChunkStore(connect(tmp / "handbook"))
    report = ingest_path(Path("data/kb/handbook"), "bench", store, batch_embedder, progress=False)
    handbook_rate = report.added / report.seconds
    got = store.collection("bench").get(include=["documents", "metadatas", "embeddings"])
    handbook = [Chunk(source_id=m["source_id"], text=d, title=m["title"], uri=m["uri"], clause=m["clause"],
                      source=m["source"], chunk_id=i) for i, d, m in zip(got["ids"], got["documents"], got["metadatas"])]
    handbook_vectors = np.asarray(got["embeddings"], dtype=np.float32)

    extra = filler(handbook, max(sizes) - len(handbook))
    real = extra[: args.real]
    started = time.perf_counter()
    real_vectors = batch_embedder.embed([c.text for c in real])
    embed_rate = len(real) / (time.perf_counter() - started)
    rng = np.random.default_rng(0)
    vectors = np.concatenate([real_vectors, perturbed(real_vectors, len(extra) - len(real), rng)])

    questions = list(qa)
    rows = []
    for size in sizes:
        sized = ChunkStore(connect(tmp / f"size-{size}"))
        chunks = handbook + extra[: size - len(handbook)]
        matrix = np.concatenate([handbook_vectors, vectors[: size - len(handbook)]])
        started = time.perf_counter()
        for start in range(0, len(chunks), 1000):
            sized.add("bench", chunks[start : start + 1000], matrix[start : start + 1000])
        store_rate = len(chunks) / (time.perf_counter() - started)
        ingest_rate = 1.0 / (1.0 / embed_rate + 1.0 / store_rate)
        for q in questions[:10]:  # warm-up
            sized.query("bench", embedder.embed_one(q.question), args.k)
        totals, embeds, searches, totals32, warm = [], [], [], [], []
        for q in questions:
            cached.embed_one(q.question)  # fills the cache for the warm column
        for i in range(args.queries):
            q = questions[i % len(questions)]
            t0 = time.perf_counter()
            vector = embedder.embed_one(q.question)
            t1 = time.perf_counter()
            sized.query("bench", vector, args.k)
            t2 = time.perf_counter()
            totals.append(t2 - t0)
            embeds.append(t1 - t0)
            searches.append(t2 - t1)
            t0 = time.perf_counter()
            sized.query("bench", fp32.embed_one(q.question), args.k)
            totals32.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            sized.query("bench", cached.embed_one(q.question), args.k)
            warm.append(time.perf_counter() - t0)
        rows.append({
            "chunks": sized.count("bench"),
            "ingest_chunks_per_s": round(ingest_rate, 1),
            "store_chunks_per_s": round(store_rate, 1),
            "query_p50_ms": round(1000 * statistics.median(totals), 2),
            "query_p95_ms": round(1000 * float(np.percentile(totals, 95)), 2),
            "embed_p50_ms": round(1000 * statistics.median(embeds), 2),
            "search_p50_ms": round(1000 * statistics.median(searches), 2),
            "fp32_query_p50_ms": round(1000 * statistics.median(totals32), 2),
            "cached_query_p50_ms": round(1000 * statistics.median(warm), 2),
        })
        print(f"measured {size} chunks", file=sys.stderr, flush=True)

    head = (f"handbook ingest end to end: {report.added} chunks at {handbook_rate:.1f} chunks/s; "
            f"embedding alone {embed_rate:.1f} chunks/s ({len(real)} filler chunks); "
            f"queries: int8 graph (fp32 alongside); onnxruntime threads: queries {args.threads}, ingest {args.ingest_threads or 'all'}; cores={os.cpu_count()}; "
            f"load average at the end {os.getloadavg()[0]:.1f}; k={args.k}; {args.queries} queries per size")
    print(head)
    print()
    print("| chunks | ingest chunks/s (embed+store) | store-only chunks/s | query p50 ms (int8, cold) | query p95 ms | "
          "embed p50 ms | search p50 ms | fp32 query p50 ms | int8/fp32 | cached query p50 ms |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        print(f"| {r['chunks']} | {r['ingest_chunks_per_s']} | {r['store_chunks_per_s']} | {r['query_p50_ms']} | "
              f"{r['query_p95_ms']} | {r['embed_p50_ms']} | {r['search_p50_ms']} | {r['fp32_query_p50_ms']} | "
              f"{r['query_p50_ms'] / r['fp32_query_p50_ms']:.2f} | {r['cached_query_p50_ms']} |")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"note": head, "rows": rows}, indent=2) + "\n")


if __name__ == "__main__":
    main()
