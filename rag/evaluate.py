"""`keel rag eval`: recall@k, MRR and not-found precision/recall/F1 on a QA set; tunes the relevance threshold."""

from __future__ import annotations

import json
import random
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

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
    questions: int
    answerable: int
    unanswerable: int
    k: int
    recall_at_1: float
    recall_at_k: float
    mrr: float
    threshold: float
    tune: NotFoundScore
    test: NotFoundScore
    overall: NotFoundScore
    grounded_recall: float  # answerable questions whose gold clause survives the threshold in the top k (test split)
    best_f1_overall: NotFoundScore  # the best any single threshold does on all questions (an upper bound, not a result)
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


def split(ranked: Sequence[Ranked], seed: int = 0, tune_share: float = 0.5) -> tuple[list[Ranked], list[Ranked]]:
    """A stratified split (answerable and unanswerable alike) into a tuning part and a test part."""
    rng = random.Random(seed)
    tune: list[Ranked] = []
    test: list[Ranked] = []
    for answerable in (True, False):
        group = [r for r in ranked if r.item.answerable == answerable]
        rng.shuffle(group)
        cut = round(len(group) * tune_share)
        tune.extend(group[:cut])
        test.extend(group[cut:])
    return tune, test


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
    said = [r.not_found(threshold, k) for r in ranked]
    truth = [not r.item.answerable for r in ranked]
    tp = sum(1 for s, t in zip(said, truth) if s and t)
    fp = sum(1 for s, t in zip(said, truth) if s and not t)
    fn = sum(1 for s, t in zip(said, truth) if not s and t)
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    answerable = sum(1 for t in truth if not t)
    return NotFoundScore(threshold, precision, recall, f1, fp / answerable if answerable else 0.0)


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


def grounded_recall(ranked: Sequence[Ranked], threshold: float, k: int) -> float:
    answerable = [r for r in ranked if r.item.answerable]
    if not answerable:
        return 0.0
    hits = 0
    for r in answerable:
        kept, _ = select(r.chunks[:k], threshold)
        hits += any((c.clause or c.source_id) in r.item.gold for c in kept)
    return hits / len(answerable)


def evaluate(
    ranked: Sequence[Ranked], k: int = 5, seed: int = 0, max_false_refusals: float | None = None
) -> EvalReport:
    tune, test = split(ranked, seed)
    chosen = tune_threshold(tune, k, max_false_refusals)
    at1, atk, mrr = retrieval_scores(ranked, k)
    answerable = sum(1 for r in ranked if r.item.answerable)
    return EvalReport(
        questions=len(ranked),
        answerable=answerable,
        unanswerable=len(ranked) - answerable,
        k=k,
        recall_at_1=at1,
        recall_at_k=atk,
        mrr=mrr,
        threshold=chosen.threshold,
        tune=chosen,
        test=not_found_score(test, chosen.threshold, k),
        overall=not_found_score(ranked, chosen.threshold, k),
        grounded_recall=grounded_recall(test, chosen.threshold, k),
        best_f1_overall=tune_threshold(ranked, k),
        split={"tune": len(tune), "test": len(test)},
        max_false_refusals=max_false_refusals,
    )
