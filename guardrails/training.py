"""Training the hazard and injection classifiers from the shipped train sets; artifacts cached under home.

An artifact's name carries the embedding version and a hash of its train file, so a changed set or
embedder retrains (seconds: ~1,300 embeddings and a few logistic regressions) instead of misloading.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from guardrails.classifier import LinearClassifier, train
from guardrails.embedding_cache import EmbeddingCache

log = logging.getLogger(__name__)
DATA = Path(__file__).resolve().parents[1] / "data" / "guards"
HAZARD_LABELS = tuple(f"S{i}" for i in range(1, 15))
# Target false-positive rates on train (out of fold); held-out is measured by `keel guards eval` only.
HAZARD_TARGET_FP = 0.04  # on benign-but-edgy prompts
INJECTION_TARGET_FP = 0.04  # on benign texts, rules and classifier together
_SENTENCE = re.compile(r"(?<=[.!?])\s+|\n+")


SEGMENTS = "s1"  # how texts are cut for per-sentence scoring; part of artifact names (thresholds depend on it)


def sentences(text: str, limit: int = 16) -> list[str]:
    """The text's sentences worth scoring alone (a planted instruction hides in one sentence of a page).

    Grouping short sentences into ~100-character runs halved the embeddings per message but cost the
    injection classifier 8 points of out-of-fold recall (0.64 → 0.55): quality wins here.
    """
    parts = [p.strip() for p in _SENTENCE.split(text) if len(p.strip()) >= 12]
    return parts[:limit] if len(parts) > 1 else []


def read_rows(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def hazard_label(row: dict[str, Any]) -> str:
    """16 training classes: S1..S14, and safe split into edgy and plain (the edgy ones are the hard part)."""
    if row["label"] != "safe":
        return str(row["label"])
    return "safe_edgy" if row.get("edgy") else "safe_plain"


def train_hazard(embeddings: EmbeddingCache, path: Path) -> LinearClassifier:
    rows = read_rows(path)
    X = embeddings.embed_sync([r["text"] for r in rows])
    labels = [hazard_label(r) for r in rows]
    edgy = np.array([lab == "safe_edgy" for lab in labels])
    return train(X, labels, HAZARD_LABELS, fp_mask=edgy, target_fp=HAZARD_TARGET_FP)


def train_injection(embeddings: EmbeddingCache, path: Path) -> LinearClassifier:
    from guardrails.injection_rules import InjectionRules

    rows = read_rows(path)
    texts = [r["text"] for r in rows]
    X = embeddings.embed_sync(texts)
    pieces = [sentences(t) for t in texts]
    flat = [p for ps in pieces for p in ps]
    S = embeddings.embed_sync(flat)
    owner = np.array([i for i, ps in enumerate(pieces) for _ in ps], dtype=int)
    labels = [f"{r['label']}_{r['where']}" for r in rows]  # where the text arrives changes what it looks like
    benign = np.array([r["label"] == "benign" for r in rows])
    ruled = np.array([bool(InjectionRules().matches(t)) for t in texts])
    # The rules' own false positives count against the target: the classifier gets what is left.
    rules_fp = float(ruled[benign].mean())
    target = max(0.005, (INJECTION_TARGET_FP - rules_fp) / (1.0 - rules_fp))

    def oof(model: LinearClassifier, idx: np.ndarray) -> np.ndarray:
        doc = model.score(X[idx])
        per_sentence = model.score(S) if len(S) else np.zeros(0)
        return np.array([max([d, *per_sentence[owner == i]]) for d, i in zip(doc, idx, strict=True)])

    model = train(X, labels, ("injection_user", "injection_document"), fp_mask=benign & ~ruled, target_fp=target, oof_scorer=oof)
    model.meta["rules_train_fp"] = round(rules_fp, 4)
    return model


@dataclass(frozen=True)
class Task:
    train_file: Path
    trainer: Callable[[EmbeddingCache, Path], LinearClassifier]


TASKS: dict[str, Task] = {
    "hazard": Task(DATA / "hazard" / "train.jsonl", train_hazard),
    "injection": Task(DATA / "injection" / "train.jsonl", train_injection),
}


class ClassifierStore:
    """Loads each task's classifier from ``home/guards``, training it there first when it is missing."""

    def __init__(self, home: Path, embeddings: EmbeddingCache) -> None:
        self.home = Path(home)
        self.embeddings = embeddings
        self._lock = threading.Lock()
        self._models: dict[str, LinearClassifier] = {}

    def path(self, task: str) -> Path:
        digest = hashlib.sha256(TASKS[task].train_file.read_bytes()).hexdigest()[:12]
        return self.home / "guards" / f"{task}-{self.embeddings.version}-{SEGMENTS}-{digest}.npz"

    def get(self, task: str, retrain: bool = False) -> LinearClassifier:
        """The task's classifier (blocking: call from an executor or a CLI)."""
        with self._lock:
            if task in self._models and not retrain:
                return self._models[task]
            path = self.path(task)
            if path.is_file() and not retrain:
                model = LinearClassifier.load(path)
            else:
                log.info("training the %s classifier (once)", task, extra={"artifact": str(path)})
                model = TASKS[task].trainer(self.embeddings, TASKS[task].train_file)
                model.save(path)
            self._models[task] = model
            return model
