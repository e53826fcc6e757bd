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


def test_int8_query_graph_stays_close_to_fp32_and_finds_the_same_clause(embedder, handbook_store):
    from alignment.registry import keel_home
    from rag.embeddings import load_embedder
    from rag.retriever import ChromaRetriever

    int8 = load_embedder(keel_home(), threads=1, quantized=True)
    assert int8.path.name == "model-int8.onnx" and int8.path.stat().st_size < embedder.path.stat().st_size * 0.7  # the token table stays fp32
    cosine = (int8.embed(TEXTS) * embedder.embed(TEXTS)).sum(axis=1)
    assert cosine.min() > 0.97, cosine
    question = "What excess will I pay if the river floods my house?"
    assert ChromaRetriever(handbook_store, int8).search(question, "acme", 1)[0].clause == "HOME-2.3"


def test_the_query_cache_returns_the_same_vector_without_running_the_graph(embedder):
    from rag.embeddings import OnnxEmbedder

    cached = OnnxEmbedder(embedder.path, threads=1, cache_size=2)
    first = cached.embed_one(TEXTS[0])
    assert cached.embed_one(TEXTS[0]) is first and cached.cache_hits == 1
    cached.embed_one(TEXTS[1]), cached.embed_one(TEXTS[3])  # evicts TEXTS[0]
    assert cached.embed_one(TEXTS[0]) is not first and cached.cache_hits == 1
    assert float(first @ embedder.embed_one(TEXTS[0])) > 0.9999
