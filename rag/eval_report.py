"""Write `keel rag eval` results: report.md, report.json and a PNG of the held-out decisions."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from rag.answerability import AnswerabilityModel, Vocabulary, features
from rag.evaluate import EvalReport, NotFoundScore, Ranked


def write_report(
    report: EvalReport,
    test: Sequence[Ranked],
    out: Path,
    context: dict[str, str],
    model: AnswerabilityModel,
    vocabulary: Vocabulary,
) -> Path:
    """Write the three files under ``out``; returns the Markdown report's path."""
    out.mkdir(parents=True, exist_ok=True)
    (out / "report.json").write_text(report.to_json() + "\n")
    _plot(report, test, model, vocabulary, out / "scores.png")
    path = out / "report.md"
    path.write_text(markdown(report, context, model))
    return path


def _row(name: str, s: NotFoundScore, how: str) -> str:
    return f"| {name} | {how} | {s.precision:.3f} | {s.recall:.3f} | {s.f1:.3f} | {s.false_refusals:.3f} |"


def markdown(report: EvalReport, context: dict[str, str], model: AnswerabilityModel) -> str:
    cap = (
        f"at most {report.max_false_refusals:.0%} of the training questions' answerable ones refused (out of fold)"
        if report.max_false_refusals is not None
        else "no cap on refusals"
    )
    cv = report.train
    weights = sorted(zip(model.features, model.coef), key=lambda fw: -abs(fw[1]))
    lines = [
        "# RAG evaluation",
        "",
        *(f"- {k}: {v}" for k, v in context.items()),
        f"- held-out questions: {report.questions} ({report.answerable} answerable, {report.unanswerable} unanswerable); "
        f"training questions: {report.split.get('train', 0)}",
        "",
        "## Retrieval (held-out answerable questions)",
        "",
        "| metric | value | goal |",
        "|---|---|---|",
        f"| recall@1 | {report.recall_at_1:.3f} | |",
        f"| recall@{report.k} | {report.recall_at_k:.3f} | ≥ 0.90 |",
        f"| MRR | {report.mrr:.3f} | |",
        "",
        "## Not found (held-out questions)",
        "",
        "The gateway answers \"not found in the sources\" when no top-k chunk reaches the relevance floor, or when the",
        "answerability model (logistic regression on retrieval scores, lexical coverage of the question by the retrieved",
        "text weighted by rarity in the knowledge base, words the knowledge base never uses, and whether the kind of",
        "answer asked for appears in the best-matching sentences) puts P(unanswerable) at or above its threshold.",
        f"Both were chosen by {cv.get('repeats', 0):.0f}× repeated {cv.get('folds', 0):.0f}-fold cross-validation on the training "
        f"questions only ({cap}). Positives are the unanswerable questions; *false refusals* are answerable questions "
        "declared not found.",
        "",
        "| decision | operating point | precision | recall | F1 | false refusals |",
        "|---|---|---|---|---|---|",
        _row("**answerability model + floor** (`rag.answerability: true`)", report.test,
             f"P ≥ {report.threshold:.2f}, floor {report.min_score:.2f}"),
        _row("score threshold alone (the default)", report.baseline, f"top-k cosine < {report.baseline.threshold:.2f}"),
        f"| training questions, out of fold | P ≥ {cv.get('threshold', 0):.2f}, floor {cv.get('min_score', 0):.2f} | "
        f"{cv.get('precision', 0):.3f} | {cv.get('recall', 0):.3f} | {cv.get('f1', 0):.3f} | {cv.get('false_refusals', 0):.3f} |",
        "",
        f"Goal: not-found F1 ≥ 0.85 (held out). {report.grounded_recall:.3f} of the held-out answerable questions are "
        "answered (not refused) with their gold clause among the sources given to the model.",
        "",
        "Model weights (standardised features, largest first): "
        + ", ".join(f"{name} {w:+.2f}" for name, w in weights),
        "",
        "![scores](scores.png)",
        "",
    ]
    return "\n".join(lines)


def _plot(
    report: EvalReport, test: Sequence[Ranked], model: AnswerabilityModel, vocabulary: Vocabulary, path: Path
) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    prob: dict[bool, list[float]] = {True: [], False: []}
    top: dict[bool, list[float]] = {True: [], False: []}
    for r in test:
        prob[r.item.answerable].append(model.probability(features(r.item.question, r.chunks[: report.k], vocabulary)))
        top[r.item.answerable].append(r.chunks[0].score if r.chunks else 0.0)
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4))
    for ax, values, bins, line, label in (
        (left, prob, [i * 0.025 for i in range(41)], report.threshold, "answerability model: P(unanswerable)"),
        (right, top, [i * 0.025 for i in range(41)], report.baseline.threshold, "top-1 cosine similarity"),
    ):
        ax.hist(values[True], bins=bins, alpha=0.6, label=f"answerable ({len(values[True])})")
        ax.hist(values[False], bins=bins, alpha=0.6, label=f"unanswerable ({len(values[False])})")
        ax.axvline(line, color="k", linestyle="--", label=f"threshold {line:.2f}")
        ax.set_xlabel(label)
        ax.set_ylabel("held-out questions")
        ax.legend()
    left.set_title(f"Answerability model (F1 {report.test.f1:.2f})")
    right.set_title(f"Score threshold alone (F1 {report.baseline.f1:.2f})")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
