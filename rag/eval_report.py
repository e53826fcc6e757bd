"""Write `keel rag eval` results: report.md, report.json and a PNG of scores and thresholds."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from rag.evaluate import THRESHOLDS, EvalReport, NotFoundScore, Ranked, not_found_score


def write_report(report: EvalReport, ranked: Sequence[Ranked], out: Path, context: dict[str, str]) -> Path:
    """Write the three files under ``out``; returns the Markdown report's path."""
    out.mkdir(parents=True, exist_ok=True)
    (out / "report.json").write_text(report.to_json() + "\n")
    _plot(report, ranked, out / "scores.png")
    path = out / "report.md"
    path.write_text(markdown(report, context))
    return path


def _row(name: str, s: NotFoundScore) -> str:
    return f"| {name} | {s.threshold:.2f} | {s.precision:.3f} | {s.recall:.3f} | {s.f1:.3f} | {s.false_refusals:.3f} |"


def markdown(report: EvalReport, context: dict[str, str]) -> str:
    cap = (
        f"at most {report.max_false_refusals:.0%} of the tuning split's answerable questions refused"
        if report.max_false_refusals is not None
        else "no cap on refusals"
    )
    lines = [
        "# RAG evaluation",
        "",
        *(f"- {k}: {v}" for k, v in context.items()),
        f"- questions: {report.questions} ({report.answerable} answerable, {report.unanswerable} unanswerable); "
        f"split {report.split.get('tune', 0)} tune / {report.split.get('test', 0)} test, stratified",
        "",
        "## Retrieval (answerable questions, all of them)",
        "",
        "| metric | value | goal |",
        "|---|---|---|",
        f"| recall@1 | {report.recall_at_1:.3f} | |",
        f"| recall@{report.k} | {report.recall_at_k:.3f} | ≥ 0.90 |",
        f"| MRR | {report.mrr:.3f} | |",
        "",
        "## Not found (the gateway answers \"not found in the sources\" when no top-k chunk clears the threshold)",
        "",
        f"Threshold chosen on the tuning split by best not-found F1 ({cap}); reported on the held-out test split.",
        "Positives are the unanswerable questions; *false refusals* are answerable questions declared not found.",
        "",
        "| split | threshold | precision | recall | F1 | false refusals |",
        "|---|---|---|---|---|---|",
        _row("tune (chosen here)", report.tune),
        _row("**test (held out)**", report.test),
        _row("all questions", report.overall),
        _row("best single threshold on all (upper bound)", report.best_f1_overall),
        "",
        f"Goal: not-found F1 ≥ 0.85. With the chosen threshold, {report.grounded_recall:.3f} of the test split's "
        f"answerable questions keep their gold clause among the sources given to the model.",
        "",
        "![scores](scores.png)",
        "",
    ]
    return "\n".join(lines)


def _plot(report: EvalReport, ranked: Sequence[Ranked], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    top = {True: [], False: []}  # type: dict[bool, list[float]]
    for r in ranked:
        top[r.item.answerable].append(r.chunks[0].score if r.chunks else 0.0)
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4))
    bins = [i * 0.025 for i in range(41)]
    left.hist(top[True], bins=bins, alpha=0.6, label=f"answerable ({len(top[True])})")
    left.hist(top[False], bins=bins, alpha=0.6, label=f"unanswerable ({len(top[False])})")
    left.axvline(report.threshold, color="k", linestyle="--", label=f"threshold {report.threshold:.2f}")
    left.set_xlabel("top-1 cosine similarity")
    left.set_ylabel("questions")
    left.set_title("Top-1 retrieval score")
    left.legend()
    scores = [not_found_score(ranked, t, report.k) for t in THRESHOLDS]
    xs = [s.threshold for s in scores]
    right.plot(xs, [s.f1 for s in scores], label="not-found F1")
    right.plot(xs, [s.precision for s in scores], label="precision")
    right.plot(xs, [s.recall for s in scores], label="recall")
    right.plot(xs, [s.false_refusals for s in scores], label="false refusals", linestyle=":")
    right.axvline(report.threshold, color="k", linestyle="--")
    right.set_xlabel("relevance threshold")
    right.set_title("Not-found decision vs threshold (all questions)")
    right.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
