"""A two-stage text classifier: n-gram logistic regression first, MiniLM only for what it cannot settle.

``quick`` scores a text from its character/word n-grams (microseconds). A text (or sentence) whose quick
score is under ``skip_below`` is allowed without an embedding; the rest are scored by ``full``, a
logistic regression on the n-grams and the MiniLM embedding together. ``skip_below``, the regularisation
and the decision ``threshold`` all come from out-of-fold scores on the training set (the n-gram
vocabulary is refitted inside each fold too); held-out sets are never looked at here. Training uses
scikit-learn; inference is numpy and scipy.sparse.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from scipy.sparse import csr_matrix, hstack

from guardrails.text_features import NgramFeatures


@dataclass
class LinearClassifier:
    """Multinomial logistic regression; ``score`` is the summed probability of the ``positive`` classes."""

    classes: list[str]
    coef: np.ndarray  # (classes, features)
    intercept: np.ndarray  # (classes,)
    positive: list[str]

    def probabilities(self, X: Any) -> np.ndarray:
        logits = np.asarray(X @ self.coef.T) + self.intercept
        logits -= logits.max(axis=1, keepdims=True)
        exp = np.exp(logits)
        return exp / exp.sum(axis=1, keepdims=True)

    def score(self, X: Any) -> np.ndarray:
        probs = self.probabilities(X)
        return probs[:, [self.classes.index(c) for c in self.positive]].sum(axis=1)

    def top_positive(self, X: Any) -> list[str]:
        """The most likely positive class per row (the category a block reports)."""
        probs = self.probabilities(X)
        idx = [self.classes.index(c) for c in self.positive]
        return [self.positive[i] for i in probs[:, idx].argmax(axis=1)]


@dataclass
class Scored:
    """Scores of a text's units (the text, or the text and its sentences); ``embedded`` marks the MiniLM-scored ones."""

    scores: np.ndarray
    labels: list[str]
    embedded: np.ndarray

    def worst(self, threshold: float) -> tuple[int, bool]:
        """The unit that decides (the highest-scoring MiniLM-scored one, if any) and whether it is over ``threshold``.

        Units the screen settled are never flagged, whatever ``threshold`` a tenant sets.
        """
        if not self.embedded.any():
            return int(self.scores.argmax()), False
        i = int(np.where(self.embedded, self.scores, -np.inf).argmax())
        return i, bool(self.scores[i] > threshold)


@dataclass
class CascadeClassifier:
    """``quick`` (n-grams) decides the clear cases; ``full`` (n-grams + MiniLM) scores the rest."""

    features: NgramFeatures
    quick: LinearClassifier
    full: LinearClassifier
    skip_below: float  # quick score under which a unit is allowed without an embedding
    threshold: float  # full score above which a unit is flagged
    meta: dict[str, Any] = field(default_factory=dict)

    def screen(self, units: Sequence[str]) -> tuple[csr_matrix, np.ndarray]:
        """N-gram features and quick scores of each unit; units at or over ``skip_below`` need an embedding."""
        F = self.features.transform(units)
        return F, self.quick.score(F)

    def needs_embedding(self, quick: np.ndarray) -> np.ndarray:
        return np.flatnonzero(quick >= self.skip_below)

    def finish(self, F: csr_matrix, quick: np.ndarray, picked: np.ndarray, E: np.ndarray) -> Scored:
        """Unit scores: ``full`` for the ``picked`` units (embedded as ``E``), quick capped at the threshold elsewhere."""
        scores = np.minimum(quick, self.threshold)
        labels = self.quick.top_positive(F)
        embedded = np.zeros(len(quick), dtype=bool)
        if len(picked):
            joint = hstack([F[picked], csr_matrix(E)]).tocsr()
            scores[picked] = self.full.score(joint)
            for i, label in zip(picked, self.full.top_positive(joint), strict=True):
                labels[i] = label
            embedded[picked] = True
        return Scored(scores, labels, embedded)

    def score_sync(self, units: Sequence[str], embed: Callable[[list[str]], np.ndarray]) -> Scored:
        """The whole cascade with a blocking ``embed`` (training, evaluation, benchmarks)."""
        F, quick = self.screen(units)
        picked = self.needs_embedding(quick)
        E = embed([units[i] for i in picked]) if len(picked) else np.zeros((0, 384), dtype=np.float32)
        return self.finish(F, quick, picked, E)

    def save(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp.npz")
        meta = {"classes": self.quick.classes, "positive": self.quick.positive, "skip_below": self.skip_below,
                "threshold": self.threshold, "meta": self.meta}
        np.savez(tmp, quick_coef=self.quick.coef, quick_intercept=self.quick.intercept, full_coef=self.full.coef,
                 full_intercept=self.full.intercept, meta=np.array(json.dumps(meta)), **self.features.to_arrays())
        tmp.replace(path)

    @classmethod
    def load(cls, path: Path) -> CascadeClassifier:
        with np.load(path) as data:
            meta = json.loads(str(data["meta"]))
            classes, positive = meta["classes"], meta["positive"]
            return cls(NgramFeatures.from_arrays(data["vocabulary"], data["idf"]),
                       LinearClassifier(classes, data["quick_coef"], data["quick_intercept"], positive),
                       LinearClassifier(classes, data["full_coef"], data["full_intercept"], positive),
                       float(meta["skip_below"]), float(meta["threshold"]), meta["meta"])


@dataclass
class TrainSet:
    """Texts with labels; ``units`` of each text (the text, or the text and its sentences) and their embeddings."""

    texts: list[str]
    labels: list[str]
    units: list[list[str]]  # units[i][0] is texts[i]
    embeddings: np.ndarray  # one row per unit, in order, flattened

    @property
    def flat(self) -> list[str]:
        return [u for us in self.units for u in us]

    def owners(self) -> np.ndarray:
        return np.array([i for i, us in enumerate(self.units) for _ in us], dtype=int)


def train(
    data: TrainSet,
    positive: Sequence[str],
    fp_mask: np.ndarray,
    target_fp: float,
    caught: np.ndarray | None = None,
    groups: Sequence[str] | None = None,
    Cs: Sequence[float] = (10.0, 30.0),
    folds: int = 5,
    seed: int = 0,
    max_skip_loss: float = 0.01,
) -> CascadeClassifier:
    """Fit on all of ``data``; C, ``skip_below`` and the threshold come from ``folds``-fold out-of-fold scores.

    ``fp_mask`` marks the negatives whose false-positive rate must stay under ``target_fp`` (hazard: the
    benign-but-edgy prompts; injection: benign texts the rules leave alone). ``caught`` marks rows another
    detector (the injection rules) already flags: they count towards recall. ``skip_below`` lets at most
    ``max_skip_loss`` of the positives through unembedded. ``groups`` (rows rendered from one template
    subject) stay within one fold. The target holds over all of ``fp_mask`` together. Among the Cs, the best
    out-of-fold recall wins.
    """
    from threadpoolctl import threadpool_limits

    # One BLAS thread: on a busy 2-core machine more threads made these small fits many times slower.
    with threadpool_limits(1):
        return _train(data, positive, fp_mask, target_fp, caught, groups, Cs, folds, seed, max_skip_loss)


def _train(data: TrainSet, positive: Sequence[str], fp_mask: np.ndarray, target_fp: float, caught: np.ndarray | None,
           groups: Sequence[str] | None, Cs: Sequence[float], folds: int, seed: int,
           max_skip_loss: float) -> CascadeClassifier:
    from sklearn.model_selection import StratifiedGroupKFold

    y = np.asarray(data.labels)
    is_pos = np.isin(y, list(positive))
    caught = np.zeros(len(y), dtype=bool) if caught is None else caught
    owner, flat = data.owners(), data.flat
    starts = np.flatnonzero(np.r_[True, owner[1:] != owner[:-1]])  # each text's own unit (the first of its units)
    group_ids = list(groups) if groups is not None else [str(i) for i in range(len(y))]
    splits = list(StratifiedGroupKFold(folds, shuffle=True, random_state=seed).split(data.texts, y, group_ids))
    best: tuple[float, float, float, float] | None = None  # (recall, C, skip_below, threshold)
    for C in Cs:
        quick = np.zeros(len(owner))
        full = np.zeros(len(owner))
        for train_idx, test_idx in splits:
            model = _fit(data, train_idx, starts, y[train_idx], positive, C, seed)
            units = np.flatnonzero(np.isin(owner, test_idx))
            F, quick[units] = model.screen([flat[j] for j in units])
            full[units] = model.full.score(hstack([F, csr_matrix(data.embeddings[units])]).tocsr())
        row_quick = _row_max(quick, owner, len(y))
        skip_below = float(np.quantile(row_quick[is_pos & ~caught], max_skip_loss, method="lower"))
        row = _row_max(np.where(quick >= skip_below, full, 0.0), owner, len(y))
        threshold = calibrated_threshold(row, fp_mask, target_fp=target_fp)
        recall = float(np.mean(((row > threshold) | caught)[is_pos]))
        if best is None or recall > best[0]:
            best = (recall, C, skip_below, threshold)
    assert best is not None
    recall, C, skip_below, threshold = best
    model = _fit(data, np.arange(len(y)), starts, y, positive, C, seed)
    model.skip_below, model.threshold = skip_below, threshold
    model.meta = {"C": C, "cv_recall": round(recall, 4), "target_fp": target_fp, "folds": folds, "rows": int(len(y)),
                  "features": model.features.size, "max_skip_loss": max_skip_loss}
    return model


def calibrated_threshold(scores: np.ndarray, fp_mask: np.ndarray, sources: np.ndarray | None = None,
                         target_fp: float = 0.05) -> float:
    """The lowest threshold that keeps every source's negatives (``fp_mask``) under ``target_fp``, and never under 0.5.

    The floor: when the screen settles nearly every negative, the quantile alone would flag whatever it lets through.
    """
    sources = np.zeros(len(scores), dtype=int) if sources is None else np.asarray(sources)
    per_source = (float(np.quantile(scores[fp_mask & (sources == s)], 1.0 - target_fp, method="higher"))
                  for s in np.unique(sources[fp_mask]))
    return max(0.5, *per_source)


def _row_max(values: np.ndarray, owner: np.ndarray, rows: int) -> np.ndarray:
    out = np.full(rows, -np.inf)
    np.maximum.at(out, owner, values)
    return out


def _fit(data: TrainSet, rows: np.ndarray, starts: np.ndarray, y: np.ndarray, positive: Sequence[str], C: float,
         seed: int) -> CascadeClassifier:
    texts = [data.texts[i] for i in rows]
    features = NgramFeatures.fit(texts)
    F = features.transform(texts)
    quick = _logistic(F, y, positive, C, seed)
    full = _logistic(hstack([F, csr_matrix(data.embeddings[starts[rows]])]).tocsr(), y, positive, C, seed)
    return CascadeClassifier(features, quick, full, skip_below=0.0, threshold=0.5)


def _logistic(X: Any, y: np.ndarray, positive: Sequence[str], C: float, seed: int) -> LinearClassifier:
    from sklearn.linear_model import LogisticRegression

    clf = LogisticRegression(C=C, max_iter=5000, random_state=seed).fit(X, y)
    classes = [str(c) for c in clf.classes_]
    coef, intercept = clf.coef_, clf.intercept_
    if len(classes) == 2:  # scikit-learn keeps one row for two classes: softmax([0, z]) is sigmoid(z)
        coef, intercept = np.vstack([np.zeros_like(coef), coef]), np.concatenate([[0.0], intercept])
    return LinearClassifier(classes, coef.astype(np.float32), intercept.astype(np.float32), list(positive))
