"""A two-stage text classifier: n-gram logistic regression first, MiniLM only for what it cannot settle.

``quick`` scores a text from its character/word n-grams (microseconds). A text (or sentence) whose quick
score is under ``skip_below`` is allowed without an embedding; the rest are scored by ``full``, a
logistic regression on the n-grams and the MiniLM embedding together. With a third stage (``deep``), the
units ``full`` scores at or over ``deep_above`` are scored once more with SmolLM2 hidden states added
(``guardrails.lm_features``), and that score decides. ``skip_below``, ``deep_above``, the regularisation
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

from guardrails.lm_features import DIMENSIONS as LM_DIMENSIONS
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
    final: np.ndarray  # units the last stage scores (only these may be flagged)
    deep: np.ndarray  # units scored with SmolLM2 features too

    def worst(self, threshold: float) -> tuple[int, bool]:
        """The unit that decides (the highest-scoring one of the last stage, if any) and whether it is over ``threshold``.

        Units an earlier stage settled are never flagged, whatever ``threshold`` a tenant sets.
        """
        if not self.final.any():
            return int(self.scores.argmax()), False
        i = int(np.where(self.final, self.scores, -np.inf).argmax())
        return i, bool(self.scores[i] > threshold)


@dataclass
class CascadeClassifier:
    """``quick`` (n-grams) decides the clear cases; ``full`` (n-grams + MiniLM) scores the rest."""

    features: NgramFeatures
    quick: LinearClassifier
    full: LinearClassifier
    skip_below: float  # quick score under which a unit is allowed without an embedding
    threshold: float  # score of the last stage above which a unit is flagged
    meta: dict[str, Any] = field(default_factory=dict)
    deep: LinearClassifier | None = None  # n-grams + MiniLM + SmolLM2 features, for units full finds borderline
    deep_above: float = 1.0  # full score from which a unit goes to ``deep``
    deep_center: np.ndarray | None = None  # SmolLM2 feature standardisation (mean, and scale incl. weight)
    deep_scale: np.ndarray | None = None
    full_threshold: float | None = None  # the threshold for ``full`` scores when the deep stage is turned off

    def __post_init__(self) -> None:
        if self.full_threshold is None:
            self.full_threshold = self.threshold

    def threshold_for(self, deep: bool = True) -> float:
        """The cross-validated threshold of the cascade as run: with its deep stage or without."""
        assert self.full_threshold is not None
        return self.threshold if deep and self.deep is not None else self.full_threshold

    def screen(self, units: Sequence[str]) -> tuple[csr_matrix, np.ndarray]:
        """N-gram features and quick scores of each unit; units at or over ``skip_below`` need an embedding."""
        F = self.features.transform(units)
        return F, self.quick.score(F)

    def needs_embedding(self, quick: np.ndarray) -> np.ndarray:
        return np.flatnonzero(quick >= self.skip_below)

    def finish(self, F: csr_matrix, quick: np.ndarray, picked: np.ndarray, E: np.ndarray, deep: bool = True) -> Scored:
        """Unit scores: ``full`` for the ``picked`` units (embedded as ``E``), quick capped at the threshold elsewhere.

        With a ``deep`` stage (and ``deep``), ``full`` scores under ``deep_above`` are capped at the threshold
        too (settled), and the rest wait for :meth:`finish_deep`.
        """
        threshold = self.threshold_for(deep)
        scores = np.minimum(quick, threshold)
        labels = self.quick.top_positive(F)
        embedded = np.zeros(len(quick), dtype=bool)
        if len(picked):
            joint = hstack([F[picked], csr_matrix(E)]).tocsr()
            scores[picked] = self.full.score(joint)
            for i, label in zip(picked, self.full.top_positive(joint), strict=True):
                labels[i] = label
            embedded[picked] = True
        final = embedded.copy()
        if deep and self.deep is not None:
            final &= scores >= self.deep_above
            scores[embedded & ~final] = np.minimum(scores[embedded & ~final], threshold)
        return Scored(scores, labels, embedded, final, np.zeros(len(quick), dtype=bool))

    def needs_deep(self, scored: Scored, deep: bool = True) -> np.ndarray:
        """Units whose ``full`` score sends them to the ``deep`` stage (none without one, or with it off)."""
        if self.deep is None or not deep:
            return np.zeros(0, dtype=int)
        return np.flatnonzero(scored.final)

    def deep_features(self, F: csr_matrix, E: np.ndarray, L: np.ndarray) -> csr_matrix:
        assert self.deep_center is not None and self.deep_scale is not None
        return hstack([F, csr_matrix(E), csr_matrix((L - self.deep_center) / self.deep_scale)]).tocsr()

    def finish_deep(self, scored: Scored, F: csr_matrix, units: np.ndarray, E: np.ndarray, L: np.ndarray) -> Scored:
        """``deep`` scores (and categories) for ``units``, given their MiniLM (``E``) and SmolLM2 (``L``) features."""
        if self.deep is None or not len(units):
            return scored
        X = self.deep_features(F[units], E, L)
        scored.scores[units] = self.deep.score(X)
        for i, label in zip(units, self.deep.top_positive(X), strict=True):
            scored.labels[i] = label
        scored.deep[units] = True
        return scored

    def score_sync(self, units: Sequence[str], embed: Callable[[list[str]], np.ndarray],
                   deep: Callable[[list[str]], np.ndarray] | None = None) -> Scored:
        """The whole cascade with a blocking ``embed`` (and ``deep`` features: training, evaluation, benchmarks)."""
        F, quick = self.screen(units)
        picked = self.needs_embedding(quick)
        E = embed([units[i] for i in picked]) if len(picked) else np.zeros((0, 384), dtype=np.float32)
        scored = self.finish(F, quick, picked, E)
        later = self.needs_deep(scored)
        if len(later):
            if deep is None:
                raise ValueError("this classifier has a deep stage: pass its features")
            L = deep([units[i] for i in later])
            scored = self.finish_deep(scored, F, later, E[np.searchsorted(picked, later)], L)
        return scored

    def save(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp.npz")
        meta = {"classes": self.quick.classes, "positive": self.quick.positive, "skip_below": self.skip_below,
                "threshold": self.threshold, "meta": self.meta, "deep_above": self.deep_above,
                "full_threshold": self.full_threshold}
        deep = {}
        if self.deep is not None:
            assert self.deep_center is not None and self.deep_scale is not None
            deep = {"deep_coef": self.deep.coef, "deep_intercept": self.deep.intercept,
                    "deep_center": self.deep_center, "deep_scale": self.deep_scale}
        np.savez(tmp, quick_coef=self.quick.coef, quick_intercept=self.quick.intercept, full_coef=self.full.coef,
                 full_intercept=self.full.intercept, meta=np.array(json.dumps(meta)), **self.features.to_arrays(), **deep)
        tmp.replace(path)

    @classmethod
    def load(cls, path: Path) -> CascadeClassifier:
        with np.load(path) as data:
            meta = json.loads(str(data["meta"]))
            classes, positive = meta["classes"], meta["positive"]
            model = cls(NgramFeatures.from_arrays(data["vocabulary"], data["idf"]),
                        LinearClassifier(classes, data["quick_coef"], data["quick_intercept"], positive),
                        LinearClassifier(classes, data["full_coef"], data["full_intercept"], positive),
                        float(meta["skip_below"]), float(meta["threshold"]), meta["meta"],
                        full_threshold=float(meta.get("full_threshold", meta["threshold"])))
            if "deep_coef" in data:
                model.deep = LinearClassifier(classes, data["deep_coef"], data["deep_intercept"], positive)
                model.deep_above = float(meta["deep_above"])
                model.deep_center, model.deep_scale = data["deep_center"], data["deep_scale"]
            return model


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
    deep_features: Callable[[list[str]], np.ndarray] | None = None,
    max_deep_loss: float = 0.02,
    deep_weights: Sequence[float] = (0.05,),
) -> CascadeClassifier:
    """Fit on all of ``data``; C, ``skip_below`` and the threshold come from ``folds``-fold out-of-fold scores.

    ``fp_mask`` marks the negatives whose false-positive rate must stay under ``target_fp`` (hazard: the
    benign-but-edgy prompts; injection: benign texts the rules leave alone). ``caught`` marks rows another
    detector (the injection rules) already flags: they count towards recall. ``skip_below`` lets at most
    ``max_skip_loss`` of the positives through unembedded. ``groups`` (rows rendered from one template
    subject) stay within one fold. The target holds over all of ``fp_mask`` together. Among the Cs, the best
    out-of-fold recall wins.

    ``deep_features`` (SmolLM2 hidden states) adds the third stage: ``deep_above`` lets at most
    ``max_deep_loss`` of the positives that passed the screen go undecided by it, and the threshold is
    then calibrated on the deep stage's out-of-fold scores. Among ``deep_weights`` (how much the SmolLM2
    features weigh beside the n-grams and MiniLM), the best out-of-fold recall wins, as for C.
    """
    from threadpoolctl import threadpool_limits

    # One BLAS thread: on a busy 2-core machine more threads made these small fits many times slower.
    with threadpool_limits(1):
        model, oof = _train(data, positive, fp_mask, target_fp, caught, groups, Cs, folds, seed, max_skip_loss)
        if deep_features is not None:
            _train_deep(model, oof, data, positive, fp_mask, target_fp, caught, deep_features, max_deep_loss, seed,
                        deep_weights)
        return model


@dataclass
class _OutOfFold:
    """What the deep stage's training reuses from the first two stages' cross-validation."""

    splits: list[tuple[np.ndarray, np.ndarray]]
    models: list[CascadeClassifier]  # one per fold, the chosen C
    quick: np.ndarray  # per unit
    full: np.ndarray
    starts: np.ndarray


def _train(data: TrainSet, positive: Sequence[str], fp_mask: np.ndarray, target_fp: float, caught: np.ndarray | None,
           groups: Sequence[str] | None, Cs: Sequence[float], folds: int, seed: int,
           max_skip_loss: float) -> tuple[CascadeClassifier, _OutOfFold]:
    from sklearn.model_selection import StratifiedGroupKFold

    y = np.asarray(data.labels)
    is_pos = np.isin(y, list(positive))
    caught = np.zeros(len(y), dtype=bool) if caught is None else caught
    owner, flat = data.owners(), data.flat
    starts = np.flatnonzero(np.r_[True, owner[1:] != owner[:-1]])  # each text's own unit (the first of its units)
    group_ids = list(groups) if groups is not None else [str(i) for i in range(len(y))]
    splits = list(StratifiedGroupKFold(folds, shuffle=True, random_state=seed).split(data.texts, y, group_ids))
    best: tuple[float, float, float, float, _OutOfFold] | None = None  # (recall, C, skip_below, threshold, oof)
    for C in Cs:
        quick = np.zeros(len(owner))
        full = np.zeros(len(owner))
        models = []
        for train_idx, test_idx in splits:
            model = _fit(data, train_idx, starts, y[train_idx], positive, C, seed)
            units = np.flatnonzero(np.isin(owner, test_idx))
            F, quick[units] = model.screen([flat[j] for j in units])
            full[units] = model.full.score(hstack([F, csr_matrix(data.embeddings[units])]).tocsr())
            models.append(model)
        row_quick = _row_max(quick, owner, len(y))
        skip_below = float(np.quantile(row_quick[is_pos & ~caught], max_skip_loss, method="lower"))
        row = _row_max(np.where(quick >= skip_below, full, 0.0), owner, len(y))
        threshold = calibrated_threshold(row, fp_mask, target_fp=target_fp)
        recall = float(np.mean(((row > threshold) | caught)[is_pos]))
        if best is None or recall > best[0]:
            best = (recall, C, skip_below, threshold, _OutOfFold(splits, models, quick, full, starts))
    assert best is not None
    recall, C, skip_below, threshold, oof = best
    model = _fit(data, np.arange(len(y)), starts, y, positive, C, seed)
    model.skip_below, model.threshold = skip_below, threshold
    model.meta = {"C": C, "cv_recall": round(recall, 4), "target_fp": target_fp, "folds": folds, "rows": int(len(y)),
                  "features": model.features.size, "max_skip_loss": max_skip_loss}
    return model, oof


def _train_deep(model: CascadeClassifier, oof: _OutOfFold, data: TrainSet, positive: Sequence[str],
                fp_mask: np.ndarray, target_fp: float, caught: np.ndarray | None,
                deep_features: Callable[[list[str]], np.ndarray], max_deep_loss: float, seed: int,
                weights: Sequence[float]) -> None:
    """Adds the deep stage to ``model``: gate, weight and threshold out of fold, then the fit on all of ``data``."""
    y = np.asarray(data.labels)
    is_pos = np.isin(y, list(positive))
    caught = np.zeros(len(y), dtype=bool) if caught is None else caught
    owner, flat, starts, C = data.owners(), data.flat, oof.starts, float(model.meta["C"])
    passed = oof.quick >= model.skip_below
    row_full = _row_max(np.where(passed, oof.full, -np.inf), owner, len(y))
    gated = is_pos & ~caught & np.isfinite(row_full)
    deep_above = float(np.quantile(row_full[gated], max_deep_loss, method="lower"))
    reach = passed & (oof.full >= deep_above)
    # SmolLM2 features for every text (the deep stage trains on texts) and for the sentences that reach it.
    need = np.union1d(starts, np.flatnonzero(reach))
    L = np.zeros((len(owner), LM_DIMENSIONS), dtype=np.float32)
    L[need] = deep_features([flat[j] for j in need])
    best: tuple[float, float, float] | None = None  # (recall, weight, threshold)
    tried = {}
    for weight in weights:
        deep = np.full(len(owner), -np.inf)
        for (train_idx, test_idx), fold in zip(oof.splits, oof.models, strict=True):
            _fit_deep(fold, data, L, starts[train_idx], y[train_idx], positive, C, seed, weight)
            units = np.flatnonzero(np.isin(owner, test_idx) & reach)
            if len(units):
                F = fold.features.transform([flat[j] for j in units])
                assert fold.deep is not None
                deep[units] = fold.deep.score(fold.deep_features(F, data.embeddings[units], L[units]))
        row = _row_max(deep, owner, len(y))
        threshold = calibrated_threshold(row, fp_mask, target_fp=target_fp)
        recall = float(np.mean(((row > threshold) | caught)[is_pos]))
        tried[str(weight)] = round(recall, 4)
        if best is None or recall > best[0]:
            best = (recall, weight, threshold)
    assert best is not None
    recall, weight, threshold = best
    _fit_deep(model, data, L, starts, y, positive, C, seed, weight)
    model.full_threshold = model.threshold  # the two-stage cascade's own, for guards that turn the deep stage off
    model.deep_above, model.threshold = deep_above, threshold
    model.meta.update({"full_cv_recall": model.meta["cv_recall"], "cv_recall": round(recall, 4),
                       "max_deep_loss": max_deep_loss, "deep_units": int(reach.sum()), "units": int(len(owner)),
                       "deep_weight": weight, "deep_weight_cv_recall": tried})


def _fit_deep(model: CascadeClassifier, data: TrainSet, L: np.ndarray, rows: np.ndarray, y: np.ndarray,
              positive: Sequence[str], C: float, seed: int, weight: float) -> None:
    """Fits ``model.deep`` on the texts ``rows`` (unit indices), with ``model``'s own n-gram vocabulary.

    The SmolLM2 features are standardised, then scaled by ``weight`` to sit beside the n-grams and MiniLM.
    """
    center = L[rows].mean(axis=0)
    model.deep_center, model.deep_scale = center, (L[rows].std(axis=0) + 1e-6) / weight
    F = model.features.transform([data.flat[j] for j in rows])
    model.deep = _logistic(model.deep_features(F, data.embeddings[rows], L[rows]), y, positive, C, seed)


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
