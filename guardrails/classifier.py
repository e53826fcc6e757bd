"""Logistic regression over MiniLM embeddings: trained in-repo, thresholded by cross-validation on train.

Training (scikit-learn) happens once, at first use or with ``keel guards train``; the artifact is a
small ``.npz`` under ``$KEEL_HOME/guards`` and inference is a numpy softmax (no scikit-learn import).
The decision threshold is chosen on out-of-fold scores of the training set so that the false-positive
rate on the chosen negatives stays under ``target_fp``; held-out sets are never looked at here.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np


@dataclass
class LinearClassifier:
    """Multinomial logistic regression; ``score`` is the summed probability of the ``positive`` classes."""

    classes: list[str]
    coef: np.ndarray  # (classes, 384)
    intercept: np.ndarray  # (classes,)
    positive: list[str]
    threshold: float
    meta: dict[str, Any] = field(default_factory=dict)

    def probabilities(self, X: np.ndarray) -> np.ndarray:
        logits = X @ self.coef.T + self.intercept
        logits -= logits.max(axis=1, keepdims=True)
        exp = np.exp(logits)
        return exp / exp.sum(axis=1, keepdims=True)

    def score(self, X: np.ndarray) -> np.ndarray:
        probs = self.probabilities(X)
        return probs[:, [self.classes.index(c) for c in self.positive]].sum(axis=1)

    def top_positive(self, X: np.ndarray) -> list[str]:
        """The most likely positive class per row (the category a block reports)."""
        probs = self.probabilities(X)
        idx = [self.classes.index(c) for c in self.positive]
        return [self.positive[i] for i in probs[:, idx].argmax(axis=1)]

    def save(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp.npz")
        meta = {"classes": self.classes, "positive": self.positive, "threshold": self.threshold, "meta": self.meta}
        np.savez(tmp, coef=self.coef, intercept=self.intercept, meta=np.array(json.dumps(meta)))
        tmp.replace(path)

    @classmethod
    def load(cls, path: Path) -> LinearClassifier:
        with np.load(path) as data:
            meta = json.loads(str(data["meta"]))
            return cls(meta["classes"], data["coef"], data["intercept"], meta["positive"], float(meta["threshold"]), meta["meta"])


# Scores each row from its out-of-fold classifier: (classifier, row indices) -> scores. The injection
# guard uses it to score a text's sentences too, exactly as it does at inference.
OofScorer = Callable[[LinearClassifier, np.ndarray], np.ndarray]


def train(
    X: np.ndarray,
    labels: Sequence[str],
    positive: Sequence[str],
    fp_mask: np.ndarray,
    target_fp: float,
    Cs: Sequence[float] = (3.0, 10.0, 30.0),
    folds: int = 5,
    seed: int = 0,
    oof_scorer: OofScorer | None = None,
) -> LinearClassifier:
    """Fit on all of ``X``; C and the threshold come from ``folds``-fold out-of-fold scores on ``X``.

    ``fp_mask`` marks the negatives whose false-positive rate must stay under ``target_fp`` (hazard:
    the benign-but-edgy prompts; injection: every benign text). Among the Cs, the one with the best
    out-of-fold recall at that rate wins.
    """
    from threadpoolctl import threadpool_limits

    # One BLAS thread: these fits take ~0.1 s each; more threads on a busy 2-core machine took 30x longer.
    with threadpool_limits(1):
        return _train(X, labels, positive, fp_mask, target_fp, Cs, folds, seed, oof_scorer)


def _train(
    X: np.ndarray,
    labels: Sequence[str],
    positive: Sequence[str],
    fp_mask: np.ndarray,
    target_fp: float,
    Cs: Sequence[float],
    folds: int,
    seed: int,
    oof_scorer: OofScorer | None,
) -> LinearClassifier:
    from sklearn.model_selection import StratifiedKFold

    y = np.asarray(labels)
    is_pos = np.isin(y, list(positive))
    best: tuple[float, float, float] | None = None  # (recall, C, threshold)
    for C in Cs:
        scores = np.zeros(len(y))
        for train_idx, test_idx in StratifiedKFold(folds, shuffle=True, random_state=seed).split(X, y):
            fold = _fit(X[train_idx], y[train_idx], positive, C, seed)
            scores[test_idx] = oof_scorer(fold, test_idx) if oof_scorer else fold.score(X[test_idx])
        threshold = float(np.quantile(scores[fp_mask], 1.0 - target_fp, method="higher"))
        recall = float(np.mean(scores[is_pos] > threshold))
        if best is None or recall > best[0]:
            best = (recall, C, threshold)
    assert best is not None
    recall, C, threshold = best
    model = _fit(X, y, positive, C, seed)
    model.threshold = threshold
    model.meta = {"C": C, "cv_recall": round(recall, 4), "target_fp": target_fp, "folds": folds, "rows": int(len(y))}
    return model


def _fit(X: np.ndarray, y: np.ndarray, positive: Sequence[str], C: float, seed: int) -> LinearClassifier:
    from sklearn.linear_model import LogisticRegression

    clf = LogisticRegression(C=C, max_iter=5000, random_state=seed).fit(X, y)
    classes = [str(c) for c in clf.classes_]
    coef, intercept = clf.coef_, clf.intercept_
    if len(classes) == 2:  # scikit-learn keeps one row for two classes: softmax([0, z]) is sigmoid(z)
        coef, intercept = np.vstack([np.zeros_like(coef), coef]), np.concatenate([[0.0], intercept])
    return LinearClassifier(classes, coef.astype(np.float32), intercept.astype(np.float32), list(positive), 0.5)
