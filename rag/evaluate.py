"""`keel rag eval`: recall@k, MRR and not-found precision/recall/F1 on held-out questions; fits answerability on training ones."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from rag.answerability import AnswerabilityModel, Vocabulary, features
from rag.answerability_training import CrossValidation
from rag.base import Chunk
from rag.grounding import select

THRESHOLDS = [round(t * 0.01, 2) for t in range(0, 91)]


@dataclass(frozen=True)
class QAItem:
    id: str
    question: str
    gold: tuple[str, ...]
    answerable: bool


@dataclass(frozen=True)
class Ranked:
    """One question and the chunks retrieval returned for it, best first."""

    item: QAItem
    chunks: tuple[Chunk, ...]

    def gold_rank(self, depth: int) -> int | None:
        """1-based rank of the first chunk citing a gold clause within ``depth``, or None."""
        for rank, chunk in enumerate(self.chunks[:depth], start=1):
            if (chunk.clause or chunk.source_id) in self.item.gold:
                return rank
        return None

    def not_found(self, threshold: float, k: int) -> bool:
        """The gateway's decision: nothing in the top ``k`` clears the threshold."""
        kept, _ = select(self.chunks[:k], threshold)
        return not kept


@dataclass
class NotFoundScore:
    threshold: float
    precision: float
    recall: float
    f1: float
    false_refusals: float  # share of answerable questions the gateway would refuse


@dataclass
class EvalReport:
    """Held-out results: retrieval on every held-out answerable question, not-found on every held-out question."""

    questions: int
    answerable: int
    unanswerable: int
    k: int
    recall_at_1: float
    recall_at_k: float
    mrr: float
    min_score: float  # the relevance floor (chunks under it are dropped; none left means not found)
    threshold: float  # the answerability model's P(unanswerable) at which it refuses
    test: NotFoundScore  # the gateway's decision (floor + model) on the held-out questions
    baseline: NotFoundScore  # score threshold alone, chosen on the training questions, on the held-out questions
    grounded_recall: float  # held-out answerable questions answered (not refused) with the gold clause among the sources
    train: dict[str, float] = field(default_factory=dict)  # cross-validated on the training questions
    split: dict[str, int] = field(default_factory=dict)
    max_false_refusals: float | None = None

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2)


def load_qa(path: Path) -> list[QAItem]:
    items = []
    for line in Path(path).read_text().splitlines():
        if line.strip():
            row = json.loads(line)
            items.append(QAItem(row["id"], row["question"], tuple(row.get("gold") or ()), bool(row["answerable"])))
    return items


def rank_all(items: Sequence[QAItem], search: Callable[[str], list[Chunk]]) -> list[Ranked]:
    return [Ranked(item, tuple(search(item.question))) for item in items]


def retrieval_scores(ranked: Sequence[Ranked], k: int) -> tuple[float, float, float]:
    """recall@1, recall@k and MRR (over the retrieved depth) on the answerable questions."""
    answerable = [r for r in ranked if r.item.answerable]
    if not answerable:
        return 0.0, 0.0, 0.0
    depth = max(len(r.chunks) for r in answerable)
    ranks = [r.gold_rank(depth) for r in answerable]
    at1 = sum(1 for x in ranks if x == 1) / len(ranks)
    atk = sum(1 for x in ranks if x is not None and x <= k) / len(ranks)
    mrr = sum(1.0 / x for x in ranks if x is not None) / len(ranks)
    return at1, atk, mrr


def not_found_score(ranked: Sequence[Ranked], threshold: float, k: int) -> NotFoundScore:
    """Not-found as a classifier of unanswerable questions: precision, recall, F1; and false refusals."""
    return score_decisions(ranked, [r.not_found(threshold, k) for r in ranked], threshold)


def tune_threshold(
    ranked: Sequence[Ranked], k: int, max_false_refusals: float | None = None
) -> NotFoundScore:
    """The threshold with the best not-found F1 (ties: the lower one), optionally capping false refusals."""
    best: NotFoundScore | None = None
    for threshold in THRESHOLDS:
        score = not_found_score(ranked, threshold, k)
        if max_false_refusals is not None and score.false_refusals > max_false_refusals:
            continue
        if best is None or score.f1 > best.f1 + 1e-12:
            best = score
    return best or not_found_score(ranked, THRESHOLDS[0], k)


def decisions(
    ranked: Sequence[Ranked], model: AnswerabilityModel, vocabulary: Vocabulary, min_score: float, k: int
) -> list[bool]:
    """The gateway's not-found decision per question: no top-k chunk clears ``min_score``, or the model refuses."""
    return [
        r.not_found(min_score, k) or model.unanswerable(r.item.question, r.chunks[:k], vocabulary)[0] for r in ranked
    ]


def score_decisions(ranked: Sequence[Ranked], said: Sequence[bool], threshold: float) -> NotFoundScore:
    """Precision, recall and F1 of not-found decisions against the gold labels; and false refusals."""
    truth = [not r.item.answerable for r in ranked]
    tp = sum(1 for s, t in zip(said, truth) if s and t)
    fp = sum(1 for s, t in zip(said, truth) if s and not t)
    fn = sum(1 for s, t in zip(said, truth) if not s and t)
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    answerable = sum(1 for t in truth if not t)
    return NotFoundScore(threshold, precision, recall, f1, fp / answerable if answerable else 0.0)


def feature_matrix(ranked: Sequence[Ranked], vocabulary: Vocabulary) -> np.ndarray:
    return np.array([features(r.item.question, r.chunks, vocabulary) for r in ranked], dtype=np.float64)


def train_answerability(
    train: Sequence[Ranked], vocabulary: Vocabulary, max_false_refusals: float | None = 0.10, trained_on: str = ""
) -> tuple[AnswerabilityModel, CrossValidation]:
    """Fit the model on the training questions (cross-validated threshold and relevance floor)."""
    from rag.answerability_training import fit

    x = feature_matrix(train, vocabulary)
    y = np.array([not r.item.answerable for r in train])
    top = np.array([r.chunks[0].score if r.chunks else 0.0 for r in train])
    return fit(x, y, top, max_false_refusals=max_false_refusals, trained_on=trained_on)


def evaluate(
    train: Sequence[Ranked],
    test: Sequence[Ranked],
    model: AnswerabilityModel,
    vocabulary: Vocabulary,
    *,
    min_score: float,
    k: int = 5,
    cv: CrossValidation | None = None,
    max_false_refusals: float | None = 0.10,
) -> EvalReport:
    """Score the held-out ``test`` questions; ``train`` only chooses the baseline's threshold."""
    at1, atk, mrr = retrieval_scores(test, k)
    said = decisions(test, model, vocabulary, min_score, k)
    baseline = tune_threshold(train, k, max_false_refusals)
    answerable = [(r, s) for r, s in zip(test, said) if r.item.answerable]
    grounded = 0
    for r, refused in answerable:
        kept, _ = select(r.chunks[:k], min_score)
        grounded += not refused and any((c.clause or c.source_id) in r.item.gold for c in kept)
    return EvalReport(
        questions=len(test),
        answerable=len(answerable),
        unanswerable=len(test) - len(answerable),
        k=k,
        recall_at_1=at1,
        recall_at_k=atk,
        mrr=mrr,
        min_score=min_score,
        threshold=model.threshold,
        test=score_decisions(test, said, model.threshold),
        baseline=not_found_score(test, baseline.threshold, k),
        grounded_recall=grounded / len(answerable) if answerable else 0.0,
        train=asdict(cv) if cv else {},
        split={"train": len(train), "test": len(test)},
        max_false_refusals=max_false_refusals,
    )
