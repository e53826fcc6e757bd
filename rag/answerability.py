"""Is a question answerable from what retrieval found? A small logistic model over retrieval features.

A score threshold alone cannot tell an unanswerable question that sits near a real clause ("how much does
the cruise add-on cost?" retrieves the cruise clause at cosine 0.65) from an answerable one. The model
also reads the retrieved text: how much of the question's vocabulary (weighted by rarity in the tenant's
knowledge base) the top chunks contain, how many of its words the knowledge base never uses, and whether
the kind of answer the question asks for (a price, a phone number, a year, a name, a percentage) appears in
the sentences that match it. Weights are fitted by ``rag/answerability_training.py`` on
``data/kb/qa-train.jsonl`` only and shipped as JSON; this module needs numpy alone.
"""

from __future__ import annotations

import json
import math
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from rag.base import Chunk

DEFAULT_MODEL = Path(__file__).with_name("answerability.json")
DEPTH = 5  # features read the top five chunks, whatever top_k the request uses

STOPWORDS = frozenset(
    """a an the and or but if of to in on at by for with from as is are was were be been being do does did done
    doing have has had i me my mine we us our you your yours he she it its they them their this that these those
    there here what which who whom whose when where why how can could will would shall should may might must not no
    nor so than too very just also any all some each every more most other such own same about into over under after
    before between through during up down out off again further then once only both few many much get got am s t
    don isn aren wasn weren hasn haven hadn doesn didn won wouldn shan shouldn mustn ll ve re d m""".split()
)
_WORD = re.compile(r"[a-z0-9]+")
_SENTENCE = re.compile(r"(?<=[.!?])\s+")

# (kind, the question asks for it, the text states it): a question asking for a price is only answered
# by a sentence that gives one. Checked in the three sentences of the top chunks sharing most query words.
ANSWER_KINDS: tuple[tuple[str, re.Pattern[str], re.Pattern[str]], ...] = (
    ("price",
     re.compile(r"\b(cost|costs|price|priced|premium for|charge for|how much (?:is|are) (?:the )?(?:fee|premium))\b", re.I),
     re.compile(r"(costs?|price|fee|charge[sd]?|premium)[^.]{0,40}\$\s?\d|\$\s?\d[\d,.]*\s*(a|per) (year|month)"
                r"|\$\s?\d[^.]{0,30}\b(fee|charge)", re.I)),
    ("phone", re.compile(r"\b(phone|telephone|fax|number (?:do i|to) (?:call|ring)|call centre number|helpline)\b", re.I),
     re.compile(r"\+?\d[\d ]{7,}\d")),
    ("email", re.compile(r"\be-?mail address\b", re.I), re.compile(r"\S+@\S+")),
    ("person", re.compile(r"\b(who is|who are|name of|who chairs|who runs)\b", re.I),
     re.compile(r"\b(Mr|Ms|Mrs|Dr)\.? [A-Z]|[A-Z][a-z]+ [A-Z][a-z]+, (?:our|the) ")),
    ("year", re.compile(r"\b(what|which) year\b|\bwhen was\b", re.I), re.compile(r"\b(19|20)\d\d\b")),
    ("count", re.compile(r"\bhow many\b", re.I),
     re.compile(r"\b(\d[\d,]*|one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve)\b", re.I)),
    ("percent", re.compile(r"\b(percentage|percent|rate)\b", re.I), re.compile(r"\d+(\.\d+)?\s?%|\bper cent\b")),
)

FEATURES = (
    "top1_score", "margin_1_2", "top1_minus_mean", "score_std", "mean_score",
    "idf_coverage_top1", "idf_coverage_topk", "coverage_top1", "coverage_topk",
    "unknown_words", "unknown_share", "idf_unknown_share", "max_idf_missing", "query_words",
    "asks_for_kind", "kind_found",
)


def stem(word: str) -> str:
    """A light suffix stripper: enough for "floods"/"flood", "policies"/"policy"."""
    for suffix in ("ies", "es", "s", "ing", "ed", "ly"):
        if word.endswith(suffix) and len(word) - len(suffix) >= 3:
            return word[: -len(suffix)] + ("y" if suffix == "ies" else "")
    return word


def terms(text: str) -> list[str]:
    """Content-word stems of a text, in order (stop words and one-letter tokens dropped)."""
    return [stem(w) for w in _WORD.findall(text.lower()) if w not in STOPWORDS and len(w) > 1]


class Vocabulary:
    """Document frequencies of stems over one tenant's chunks (the rarity weights of the features)."""

    def __init__(self, frequencies: Counter[str], documents: int) -> None:
        self.frequencies = frequencies
        self.documents = documents

    @classmethod
    def from_texts(cls, texts: Iterable[str]) -> Vocabulary:
        frequencies: Counter[str] = Counter()
        documents = 0
        for text in texts:
            frequencies.update(set(terms(text)))
            documents += 1
        return cls(frequencies, documents)

    def __contains__(self, term: str) -> bool:
        return term in self.frequencies

    def idf(self, term: str) -> float:
        return math.log((self.documents + 1) / (self.frequencies.get(term, 0) + 0.5))


def features(query: str, chunks: Sequence[Chunk], vocabulary: Vocabulary) -> list[float]:
    """The model's inputs (named by ``FEATURES``) for a question and its retrieved chunks, best first."""
    top = list(chunks[:DEPTH])
    if not top:
        return [0.0] * len(FEATURES)
    words = list(dict.fromkeys(terms(query))) or ["?"]
    scores = np.array([c.score for c in top] + [top[-1].score] * (DEPTH - len(top)))
    first = set(terms(top[0].text))
    seen = {t for c in top for t in terms(c.text)}
    weights = np.array([vocabulary.idf(w) for w in words])
    total = float(weights.sum()) or 1.0
    in_first = np.array([w in first for w in words])
    in_top = np.array([w in seen for w in words])
    unknown = np.array([w not in vocabulary for w in words])
    missing = [float(x) for x, hit in zip(weights, in_top) if not hit]
    return [
        float(scores[0]), float(scores[0] - scores[1]), float(scores[0] - scores.mean()), float(scores.std()),
        float(scores.mean()),
        float((weights * in_first).sum() / total), float((weights * in_top).sum() / total),
        float(in_first.mean()), float(in_top.mean()),
        float(unknown.sum()), float(unknown.mean()), float((weights * unknown).sum() / total),
        max(missing, default=0.0), float(len(words)),
        *_answer_kind(query, words, top),
    ]


def _answer_kind(query: str, words: list[str], top: Sequence[Chunk]) -> tuple[float, float]:
    """(asks for a kind of answer, and that kind appears in the best-matching sentences); (0, 1) when it asks for none."""
    kinds = [states for _, asks, states in ANSWER_KINDS if asks.search(query)]
    if not kinds:
        return 0.0, 1.0
    wanted = set(words)
    sentences = sorted(
        ((len(wanted & set(terms(s))), s) for c in top for s in _SENTENCE.split(c.text)), key=lambda x: -x[0]
    )
    best = [s for shared, s in sentences[:3] if shared]
    return 1.0, float(any(states.search(s) for states in kinds for s in best))


@dataclass(frozen=True)
class AnswerabilityModel:
    """Standardised logistic regression: P(unanswerable) from ``features``; refuse at ``threshold`` or above."""

    features: tuple[str, ...]
    mean: tuple[float, ...]
    scale: tuple[float, ...]
    coef: tuple[float, ...]
    intercept: float
    threshold: float
    trained_on: str = ""  # what the weights were fitted on (the training file and its counts)

    def probability(self, values: Sequence[float]) -> float:
        x = (np.asarray(values, dtype=np.float64) - np.asarray(self.mean)) / np.asarray(self.scale)
        z = float(x @ np.asarray(self.coef) + self.intercept)
        return 1.0 / (1.0 + math.exp(-max(-50.0, min(50.0, z))))

    def unanswerable(self, query: str, chunks: Sequence[Chunk], vocabulary: Vocabulary) -> tuple[bool, float]:
        """Whether the question should get the not-found answer, and P(unanswerable)."""
        p = self.probability(features(query, chunks, vocabulary))
        return p >= self.threshold, p

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2)

    @classmethod
    def load(cls, path: Path = DEFAULT_MODEL) -> AnswerabilityModel:
        data = json.loads(Path(path).read_text())
        model = cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in data.items()})
        if model.features != FEATURES:
            raise ValueError(f"{path}: fitted for features {model.features}, this code computes {FEATURES}")
        return model
