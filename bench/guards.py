"""Guard latency: per guard and the whole input + output stack, p50 / p99, for 200, 1,000 and 4,000 characters.

Messages are realistic support-chat text with a few planted PII values. Each guard is timed alone
(awaited the way the stack awaits it: Presidio, the n-gram screen and MiniLM run in the executor), then
the whole shipped stack (data/policies/platform.yaml: size, PII, injection, hazard on input; PII, hazard
on output) on a message and on a reply of the same length. The classifiers are cascades: an n-gram
screen settles clear texts, only unsettled texts and sentences go through MiniLM (int8), and only what
MiniLM leaves borderline goes on to SmolLM2 (20 layers). The ``no screen`` rows send every text and
sentence through MiniLM: the slow path, the worst case of a message the screen cannot settle; the
``deep: false`` row is that worst case without the SmolLM2 stage. For the PII configuration choice, Presidio's stock spaCy NER engine and
its stock phone recognizer are timed side by side in the same run. Writes a PNG.

    python bench/guards.py --repeats 50 --threads 1
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

SIZES = (200, 1000, 4000)
FILLER = (
    "Hi, I have a question about my last invoice and the renewal of our team plan. The dashboard says the "
    "subscription ends next month, but the reminder email mentioned a different date. Could you check what "
    "happened and whether the discount we agreed on is still applied? We would also like to add two seats "
    "for new colleagues who start on Monday, and move the billing contact to our finance team. "
)
PLANTED = (
    " You can reach me at dana.reyes@example.com or (415) 555-0132. The card on file ends badly: "
    "4111 1111 1111 1111. Our office IP is 203.0.113.54. "
)


def message(chars: int) -> str:
    """Filler text with the planted PII in the middle, cut to ``chars`` characters at a word boundary."""
    # Every repetition numbered: repeated sentences would be embedded once and flatter the per-sentence guards.
    body = "".join(FILLER.replace(". ", f" ({k}). ") for k in range(chars // len(FILLER) + 2))
    middle = max(0, chars // 2 - len(PLANTED) // 2)
    text = body[:middle] + PLANTED + body[middle:]
    return text[:chars].rsplit(" ", 1)[0]


def percentiles(samples: list[float]) -> tuple[float, float]:
    ordered = sorted(samples)
    return statistics.median(ordered) * 1e3, ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))] * 1e3


async def time_async(fn, repeats: int) -> tuple[float, float]:  # type: ignore[no-untyped-def]
    await fn()  # warm (first-use loading is not latency)
    samples = []
    for _ in range(repeats):
        started = time.perf_counter()
        await fn()
        samples.append(time.perf_counter() - started)
    return percentiles(samples)


async def run(repeats: int, threads: int, embed_tokens: int) -> list[dict]:
    from alignment.registry import keel_home
    from guardrails.base import GuardContext
    from guardrails.config import GuardSpec, StackConfig, merge
    from guardrails.pii import PiiAnalyzer, PiiGuard
    from guardrails.policy import PolicyStore
    from guardrails.registry import Resources, build_guard
    from guardrails.stack import GuardStack

    resources = Resources(keel_home(), embedding_threads=threads, embedding_max_tokens=embed_tokens)
    stack = GuardStack(PolicyStore(), resources)
    config = stack.policy("bench").config
    slow = {"screen": False}
    no_screen = StackConfig.model_validate(merge(config.model_dump(), {
        "input": [{"name": "injection", **slow}, {"name": "hazard", **slow}], "output": [{"name": "hazard", **slow}]}))
    shallow = {"screen": False, "deep": False}
    no_screen_no_deep = StackConfig.model_validate(merge(config.model_dump(), {
        "input": [{"name": "injection", **shallow}, {"name": "hazard", **shallow}],
        "output": [{"name": "hazard", **shallow}]}))
    await stack.warm(config)
    await stack.warm(no_screen)
    # A cache hit would hide the embedding cost: every timed call gets a text the cache has not seen.
    resources.embeddings.size = 0
    counter = iter(range(10**9))

    def fresh(text: str) -> str:
        return f"{text} ({next(counter)})"

    stock_spacy = PiiGuard(PiiAnalyzer(nlp="spacy"), executor=resources.executor)
    rows = []
    for chars in SIZES:
        text = message(chars)
        cases = {
            "size": (build_guard(GuardSpec(name="size"), resources), "input"),
            "pii (tokens, digit-run phone)": (build_guard(GuardSpec(name="pii"), resources), "input"),
            "pii (stock spaCy NER engine)": (stock_spacy, "input"),
            "injection (rules + n-gram screen/MiniLM)": (build_guard(GuardSpec(name="injection"), resources), "input"),
            "hazard input (n-gram screen/MiniLM)": (build_guard(GuardSpec(name="hazard"), resources), "input"),
            "hazard output (per sentence)": (build_guard(GuardSpec(name="hazard"), resources), "output"),
            "  injection, no screen (all MiniLM)": (build_guard(GuardSpec(name="injection", **slow), resources), "input"),
            "  hazard output, no screen (all MiniLM)": (build_guard(GuardSpec(name="hazard", **slow), resources), "output"),
        }
        for name, (guard, stage) in cases.items():
            ctx = GuardContext(stage)  # type: ignore[arg-type]
            p50, p99 = await time_async(lambda g=guard, c=ctx: g.check(fresh(text), c), repeats)
            rows.append({"chars": chars, "what": name, "p50_ms": p50, "p99_ms": p99})

        for label, stage_config in (("WHOLE STACK (input + output)", config), ("  whole stack, no screen (all MiniLM)", no_screen),
                                    ("  whole stack, no screen, deep: false", no_screen_no_deep)):

            async def whole(c: StackConfig = stage_config) -> None:
                verdict = await stack.check_input([("user", fresh(text))], GuardContext("input", "bench"), c)
                await stack.check_output(fresh(verdict.texts[0]), GuardContext("output", "bench"), c)

            p50, p99 = await time_async(whole, repeats)
            rows.append({"chars": chars, "what": label, "p50_ms": p50, "p99_ms": p99})
        stock = _stock_presidio_phone()
        p50, p99 = await time_async(lambda: asyncio.to_thread(stock, fresh(text)), max(5, repeats // 5))
        rows.append({"chars": chars, "what": "  ref: Presidio stock phone recognizer", "p50_ms": p50, "p99_ms": p99})
    return rows


def _stock_presidio_phone():  # type: ignore[no-untyped-def]
    from presidio_analyzer.predefined_recognizers import PhoneRecognizer

    recognizer = PhoneRecognizer()
    return lambda text: recognizer.analyze(text, ["PHONE_NUMBER"], None)


def print_table(rows: list[dict], threads: int, embed_tokens: int) -> None:
    print(f"\nguard latency (ms): onnxruntime threads={threads}, MiniLM max tokens={embed_tokens}, "
          f"cpus={os.cpu_count()}, load avg {os.getloadavg()[0]:.1f}\n")
    names = list(dict.fromkeys(r["what"] for r in rows))
    header = f"{'':42s}" + "".join(f"{f'{c} chars p50 / p99':>24s}" for c in SIZES)
    print(header)
    for name in names:
        cells = []
        for chars in SIZES:
            row = next(r for r in rows if r["what"] == name and r["chars"] == chars)
            cells.append(f"{row['p50_ms']:9.1f} / {row['p99_ms']:7.1f}     ")
        print(f"{name:42s}" + "".join(f"{c:>24s}" for c in cells))


def plot(rows: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(dict.fromkeys(r["what"] for r in rows))
    fig, ax = plt.subplots(figsize=(10, 5))
    width = 0.8 / len(SIZES)
    for k, chars in enumerate(SIZES):
        values = [next(r["p50_ms"] for r in rows if r["what"] == n and r["chars"] == chars) for n in names]
        ax.barh([i + k * width for i in range(len(names))], values, height=width, label=f"{chars} chars")
    ax.set_yticks([i + width for i in range(len(names))], names)
    ax.invert_yaxis()
    ax.axvline(15, color="grey", linestyle="--", linewidth=1, label="15 ms goal (whole stack, 1,000 chars)")
    ax.set_xlabel("p50 latency (ms)")
    ax.set_title("Keel guard latency, p50")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=50, help="timed calls per guard and size")
    parser.add_argument("--threads", type=int, default=1, help="onnxruntime threads for MiniLM (pinned, reported)")
    parser.add_argument("--embed-tokens", type=int, default=128, help="MiniLM truncation for the classifiers")
    parser.add_argument("--png", default="runs/bench/guards.png", help="where to write the chart")
    args = parser.parse_args()
    rows = asyncio.run(run(args.repeats, args.threads, args.embed_tokens))
    print_table(rows, args.threads, args.embed_tokens)
    png = Path(args.png)
    png.parent.mkdir(parents=True, exist_ok=True)
    plot(rows, png)
    print(f"\nchart: {png}")


if __name__ == "__main__":
    main()
