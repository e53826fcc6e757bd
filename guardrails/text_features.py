"""Character and word n-gram TF-IDF features: fitted on a train set, computed in pure Python at inference.

Character n-grams (2–5, inside word boundaries, like scikit-learn's ``char_wb``) catch phrasing,
obfuscation (leetspeak, split words) and other languages; word uni- and bigrams catch the wording.
A text costs tens of microseconds per hundred characters, against milliseconds for a MiniLM forward.
The vocabulary and IDF weights are plain arrays stored with the classifier (no scikit-learn at inference).
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from scipy.sparse import csr_matrix

_WORD = re.compile(r"\w+(?:'\w+)?")
CHAR_RANGE = (2, 5)
_WORD_CACHE = 50_000  # distinct words whose columns are kept (cleared when full)


def ngrams(text: str) -> Counter[str]:
    """The text's n-gram counts: ``c:`` character n-grams of each padded word, ``w:`` word uni- and bigrams."""
    lowered = text.lower()
    counts: Counter[str] = Counter()
    low, high = CHAR_RANGE
    for word in lowered.split():
        padded = f" {word} "
        size = len(padded)
        for n in range(low, min(high, size) + 1):
            counts.update("c:" + padded[i : i + n] for i in range(size - n + 1))
    words = _WORD.findall(lowered)
    counts.update("w:" + w for w in words)
    counts.update(f"w:{a} {b}" for a, b in zip(words, words[1:], strict=False))
    return counts


@dataclass
class NgramFeatures:
    """A fitted vocabulary with IDF weights; ``transform`` gives sublinear-TF × IDF rows, L2-normalised."""

    vocabulary: dict[str, int]
    idf: np.ndarray  # (features,)
    _words: dict[str, list[int]] = field(default_factory=dict, repr=False, compare=False)  # word -> its char n-gram columns
    _unigrams: dict[str, int] | None = field(default=None, repr=False, compare=False)
    _bigrams: dict[tuple[str, ...], int] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def fit(cls, texts: Sequence[str], min_df: int = 2) -> NgramFeatures:
        df: Counter[str] = Counter()
        for text in texts:
            df.update(ngrams(text).keys())
        kept = sorted(g for g, n in df.items() if n >= min_df)
        total = len(texts)
        idf = np.array([math.log((1 + total) / (1 + df[g])) + 1.0 for g in kept], dtype=np.float32)
        return cls({g: i for i, g in enumerate(kept)}, idf)

    @property
    def size(self) -> int:
        return len(self.vocabulary)

    def transform(self, texts: Sequence[str]) -> csr_matrix:
        """One row per text: the same n-grams as ``ngrams``, looked up per word (words repeat: their columns are cached)."""
        if self._unigrams is None:
            self._unigrams = {g[2:]: i for g, i in self.vocabulary.items() if g.startswith("w:") and " " not in g}
            self._bigrams = {tuple(g[2:].split(" ")): i for g, i in self.vocabulary.items() if g.startswith("w:") and " " in g}
        unigrams, bigrams, cache = self._unigrams, self._bigrams, self._words
        lengths: list[int] = []
        cols: list[int] = []
        for text in texts:
            lowered = text.lower()
            start = len(cols)
            for word in lowered.split():
                found = cache.get(word)
                cols.extend(found if found is not None else self._word_columns(word))
            words = _WORD.findall(lowered)
            cols.extend(c for c in map(unigrams.get, words) if c is not None)
            cols.extend(c for c in map(bigrams.get, zip(words, words[1:], strict=False)) if c is not None)
            lengths.append(len(cols) - start)
        # Counting with numpy on (row, column) keys: scipy's coo -> csr -> multiply chain cost more than the lookups.
        n, size = len(texts), self.size
        keys = np.repeat(np.arange(n, dtype=np.int64), lengths) * size + np.array(cols, dtype=np.int64)
        unique, counts = np.unique(keys, return_counts=True)
        rows, columns = np.divmod(unique, size)
        data = (1.0 + np.log(counts.astype(np.float32))) * self.idf[columns]
        norms = np.sqrt(np.bincount(rows, weights=data * data, minlength=n))
        norms[norms == 0] = 1.0
        data = (data / norms[rows]).astype(np.float32)
        indptr = np.searchsorted(rows, np.arange(n + 1))
        return csr_matrix((data, columns.astype(np.int32), indptr), shape=(n, size))

    def _word_columns(self, word: str) -> list[int]:
        cols = self._words.get(word)
        if cols is None:
            padded = f" {word} "
            size = len(padded)
            low, high = CHAR_RANGE
            vocabulary = self.vocabulary
            grams = (f"c:{padded[i : i + n]}" for n in range(low, min(high, size) + 1) for i in range(size - n + 1))
            cols = [c for c in map(vocabulary.get, grams) if c is not None]
            if len(self._words) >= _WORD_CACHE:
                self._words.clear()
            self._words[word] = cols
        return cols

    def to_arrays(self) -> dict[str, np.ndarray]:
        grams = sorted(self.vocabulary, key=self.vocabulary.__getitem__)
        return {"vocabulary": np.array("\n".join(grams)), "idf": self.idf}

    @classmethod
    def from_arrays(cls, vocabulary: np.ndarray, idf: np.ndarray) -> NgramFeatures:
        grams = str(vocabulary).split("\n") if idf.size else []
        return cls({g: i for i, g in enumerate(grams)}, idf.astype(np.float32))
