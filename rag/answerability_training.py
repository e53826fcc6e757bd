"""Fit the answerability model on training questions only, choosing its threshold by cross-validation."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from rag.answerability import FEATURES, AnswerabilityModel

THRESHOLDS = tuple(round(t, 2) for t in np.arange(0.20, 0.81, 0.02))
MIN_SCORES = (0.0, 0.2, 0.3, 0.35, 0.4, 0.42)


@dataclass(frozen=True)
class CrossValidation:
    """Out-of-fold results on the training questions: what the chosen operating point did there."""

    folds: int
    repeats: int
    threshold: float
    min_score: float
    precision: float
    recall: float
    f1: float
    false_refusals: float


def fit(
    x: np.ndarray,
    unanswerable: np.ndarray,
    top_scores: np.ndarray,
    *,
    c: float = 1.0,
    folds: int = 5,
    repeats: int = 10,
    max_false_refusals: float | None = 0.10,
    trained_on: str = "",
    seed: int = 0,
) -> tuple[AnswerabilityModel, CrossValidation]:
    """Logistic regression on standardised features; threshold and relevance floor chosen on out-of-fold predictions.

    ``top_scores`` is each question's top-1 cosine: a question whose best chunk is under the relevance floor
    is not found whatever the model says, so the floor is chosen together with the model's threshold.
    """
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold
    from sklearn.preprocessing import StandardScaler

    if x.shape[1] != len(FEATURES):
        raise ValueError(f"expected {len(FEATURES)} features, got {x.shape[1]}")
    y = unanswerable.astype(int)
    oof = np.zeros((repeats, len(y)))
    for r in range(repeats):
        for train, test in StratifiedKFold(folds, shuffle=True, random_state=seed + r).split(x, y):
            scaler = StandardScaler().fit(x[train])
            model = LogisticRegression(C=c, max_iter=5000, class_weight="balanced").fit(scaler.transform(x[train]), y[train])
            oof[r, test] = model.predict_proba(scaler.transform(x[test]))[:, 1]
    best: CrossValidation | None = None
    for floor in MIN_SCORES:
        for threshold in THRESHOLDS:
            said = (oof >= threshold) | (top_scores[None, :] < floor)
            p, rec, f1, refusals = (float(np.mean(v)) for v in zip(*(_score(s, y) for s in said)))
            if max_false_refusals is not None and refusals > max_false_refusals:
                continue
            if best is None or f1 > best.f1 + 1e-9:
                best = CrossValidation(folds, repeats, threshold, floor, p, rec, f1, refusals)
    if best is None:
        raise ValueError("no operating point satisfies the false-refusal cap")
    scaler = StandardScaler().fit(x)
    final = LogisticRegression(C=c, max_iter=5000, class_weight="balanced").fit(scaler.transform(x), y)
    model = AnswerabilityModel(
        features=FEATURES,
        mean=tuple(float(v) for v in scaler.mean_),
        scale=tuple(float(v) for v in scaler.scale_),
        coef=tuple(float(v) for v in final.coef_[0]),
        intercept=float(final.intercept_[0]),
        threshold=best.threshold,
        trained_on=trained_on,
    )
    return model, best


def _score(said: Sequence[bool], truth: Sequence[int]) -> tuple[float, float, float, float]:
    """Precision, recall and F1 of "not found" against the unanswerable questions; share of answerable refused."""
    said_a, truth_a = np.asarray(said, dtype=bool), np.asarray(truth, dtype=bool)
    tp = int(np.sum(said_a & truth_a))
    fp = int(np.sum(said_a & ~truth_a))
    fn = int(np.sum(~said_a & truth_a))
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    answerable = int(np.sum(~truth_a))
    return precision, recall, f1, fp / answerable if answerable else 0.0
