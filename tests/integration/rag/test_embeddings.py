"""The ONNX embedder matches the packaged model run by transformers, with dynamic padding."""

import numpy as np
import torch

from rag.embeddings import DIMENSIONS
from rag.onnx_export import packaged_model_dir, sentence_encoder

TEXTS = [
    "What excess will I pay if the river floods my house?",
    "x",
    "HOME-2.3 Flood\n\nWe cover damage caused by flood water entering your home from outside. " * 3,
    "Travel cancellation after a delayed flight",
]


def test_onnx_matches_transformers(embedder):
    from transformers import AutoTokenizer

    got = embedder.embed(TEXTS)
    assert got.shape == (len(TEXTS), DIMENSIONS) and got.dtype == np.float32
    assert np.allclose(np.linalg.norm(got, axis=1), 1.0, atol=1e-4)
    tokenizer = AutoTokenizer.from_pretrained(packaged_model_dir())
    batch = tokenizer(TEXTS, padding=True, truncation=True, max_length=256, return_tensors="pt")
    with torch.no_grad():
        want = sentence_encoder(packaged_model_dir())(**batch).numpy()
    cosine = (got * want).sum(axis=1)
    assert cosine.min() > 0.999, cosine


def test_padding_does_not_change_a_vector(embedder):
    alone = embedder.embed_one(TEXTS[0])
    batched = embedder.embed(TEXTS)[0]  # padded next to a much longer text
    assert float(alone @ batched) > 0.9999
