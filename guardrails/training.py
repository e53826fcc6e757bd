"""Training the hazard and injection classifiers from the shipped train sets; artifacts cached under home.

An artifact's name carries the embedding version and a digest of its train files and of the training
code, so a changed set, embedder or trainer retrains (about a minute) instead of misloading.
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

from guardrails.classifier import CascadeClassifier, TrainSet, train
from guardrails.embedding_cache import EmbeddingCache

log = logging.getLogger(__name__)
DATA = Path(__file__).resolve().parents[1] / "data" / "guards"
HAZARD_LABELS = tuple(f"S{i}" for i in range(1, 15))
# Target false-positive rates on train (out of fold, over one pool of all the train negatives): the goals
# themselves. Held-out is measured by `keel guards eval` only. (Until the hand-written hard negatives of
# train_more.jsonl, the target was 4% and had to hold on each source of negatives separately.)
HAZARD_TARGET_FP = 0.05  # on benign-but-edgy prompts
INJECTION_TARGET_FP = 0.05  # on benign texts, rules and classifier together
# Positives (out of fold, on train) the n-gram screen may let through without a MiniLM look. At 1% the
# hazard screen still sent most sentences of an ordinary support message to MiniLM (~50 ms on this CPU).
SCREEN_MAX_LOSS = 0.03
# How much the SmolLM2 features weigh in the hazard stage, chosen by cross-validation like C (layer 16 on its
# train set: 0.05 0.907, 0.1 0.915, 0.2 0.915). The injection stage keeps the classifier's default (0.05).
HAZARD_DEEP_WEIGHTS = (0.05, 0.1, 0.2)
_SENTENCE = re.compile(r"(?<=[.!?])\s+|\n+")
# The code whose changes change an artifact: its source is part of the artifact's name.
_CODE = ("training.py", "classifier.py", "text_features.py", "injection_rules.py", "lm_features.py")


def sentences(text: str, limit: int = 16) -> list[str]:
    """The text's sentences worth scoring alone (a planted instruction hides in one sentence of a page)."""
    parts = [p.strip() for p in _SENTENCE.split(text) if len(p.strip()) >= 12]
    return parts[:limit] if len(parts) > 1 else []


def units(text: str) -> list[str]:
    """What a classifier scores for one text: the text and its sentences; the text is judged by the worst."""
    return [text, *sentences(text)]


def read_rows(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def hazard_label(row: dict[str, Any]) -> str:
    """16 training classes: S1..S14, and safe split into edgy and plain (the edgy ones are the hard part)."""
    if row["label"] != "safe":
        return str(row["label"])
    return "safe_edgy" if row.get("edgy") else "safe_plain"


def groups(rows: list[dict[str, Any]]) -> list[str]:
    """Cross-validation groups: a generated row's template subject; every hand-written row alone."""
    return [f"g:{r['group']}" if "group" in r else f"r:{i}" for i, r in enumerate(rows)]


def train_set(embeddings: EmbeddingCache, rows: list[dict[str, Any]], labels: list[str]) -> TrainSet:
    texts = [r["text"] for r in rows]
    pieces = [units(t) for t in texts]
    return TrainSet(texts, labels, pieces, embeddings.embed_sync([u for us in pieces for u in us]))


def _lm_features(embeddings: EmbeddingCache, task: str) -> Callable[[list[str]], np.ndarray]:
    return lambda texts: embeddings.lm(task).embed_sync(texts, progress=f"{task}: SmolLM2 features")


def train_hazard(embeddings: EmbeddingCache, paths: tuple[Path, ...]) -> CascadeClassifier:
    rows = [r for path in paths for r in read_rows(path)]
    labels = [hazard_label(r) for r in rows]
    edgy = np.array([lab == "safe_edgy" for lab in labels])
    return train(train_set(embeddings, rows, labels), HAZARD_LABELS, fp_mask=edgy, target_fp=HAZARD_TARGET_FP,
                 groups=groups(rows), max_skip_loss=SCREEN_MAX_LOSS, deep_features=_lm_features(embeddings, "hazard"),
                 deep_weights=HAZARD_DEEP_WEIGHTS)


def train_injection(embeddings: EmbeddingCache, paths: tuple[Path, ...]) -> CascadeClassifier:
    from guardrails.injection_rules import InjectionRules

    rows = [r for path in paths for r in read_rows(path)]
    labels = [f"{r['label']}_{r['where']}" for r in rows]  # where the text arrives changes what it looks like
    benign = np.array([r["label"] == "benign" for r in rows])
    rules = InjectionRules()
    ruled = np.array([bool(rules.matches(r["text"])) for r in rows])
    # The rules' own false positives count against the target: the classifier gets what is left.
    rules_fp = float(ruled[benign].mean())
    target = max(0.005, (INJECTION_TARGET_FP - rules_fp) / (1.0 - rules_fp))
    model = train(train_set(embeddings, rows, labels), ("injection_user", "injection_document"),
                  fp_mask=benign & ~ruled, target_fp=target, caught=ruled, groups=groups(rows),
                  max_skip_loss=SCREEN_MAX_LOSS, deep_features=_lm_features(embeddings, "injection"))
    model.meta["rules_train_fp"] = round(rules_fp, 4)
    return model


@dataclass(frozen=True)
class Task:
    train_files: tuple[Path, ...]  # hand-written train sets, then the rows build.py renders (templates, Keel's own data)
    trainer: Callable[[EmbeddingCache, tuple[Path, ...]], CascadeClassifier]


TASKS: dict[str, Task] = {
    "hazard": Task((DATA / "hazard" / "train.jsonl", DATA / "hazard" / "train_more.jsonl",
                    DATA / "hazard" / "train_varied.jsonl", DATA / "hazard" / "train_generated.jsonl",
                    DATA / "hazard" / "train_corpus.jsonl"), train_hazard),
    "injection": Task((DATA / "injection" / "train.jsonl", DATA / "injection" / "train_more.jsonl",
                       DATA / "injection" / "train_generated.jsonl"), train_injection),
}


class ClassifierStore:
    """Loads each task's classifier from ``home/guards``, training it there first when it is missing."""

    def __init__(self, home: Path, embeddings: EmbeddingCache) -> None:
        self.home = Path(home)
        self.embeddings = embeddings
        self._lock = threading.Lock()
        self._models: dict[str, CascadeClassifier] = {}

    def path(self, task: str) -> Path:
        digest = hashlib.sha256()
        for path in TASKS[task].train_files:
            digest.update(path.read_bytes())
        for name in _CODE:
            digest.update((Path(__file__).parent / name).read_bytes())
        digest.update(self.embeddings.lm(task).version.encode())
        return self.home / "guards" / f"{task}-{self.embeddings.version}-{digest.hexdigest()[:12]}.npz"

    def loaded(self) -> list[tuple[str, CascadeClassifier]]:
        """The tasks whose classifiers are loaded, with them."""
        with self._lock:
            return list(self._models.items())

    def get(self, task: str, retrain: bool = False) -> CascadeClassifier:
        """The task's classifier (blocking: call from an executor or a CLI)."""
        with self._lock:
            if task in self._models and not retrain:
                return self._models[task]
            path = self.path(task)
            if path.is_file() and not retrain:
                model = CascadeClassifier.load(path)
            else:
                log.info("training the %s classifier (once)", task, extra={"artifact": str(path)})
                model = TASKS[task].trainer(self.embeddings, TASKS[task].train_files)
                model.save(path)
            self._models[task] = model
            return model
