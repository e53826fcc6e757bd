"""EmbeddingCache's sharing of MiniLM and SmolLM2 vectors between concurrent guards (fake models)."""

import asyncio
import threading

import numpy as np
import pytest

from guardrails.embedding_cache import EmbeddingCache


class FakeLm:
    """Counts the texts it is asked for; waits on ``gate`` so concurrent askers overlap."""

    dimensions = 576

    def __init__(self) -> None:
        self.calls: list[list[str]] = []
        self.gate = threading.Event()
        self.fail = False

    def embed_sync(self, texts):
        self.calls.append(list(texts))
        self.gate.wait(5)
        if self.fail:
            raise RuntimeError("SmolLM2 crashed")
        return np.stack([np.full(576, len(t), dtype=np.float32) for t in texts])


@pytest.fixture
def cache(tmp_path):
    cache = EmbeddingCache(tmp_path)
    cache.lm = FakeLm()  # type: ignore[assignment]
    return cache


async def test_two_guards_asking_for_the_same_sentence_compute_it_once(cache):
    first = asyncio.create_task(cache.embed_deep(["borderline one", "shared"]))
    second = asyncio.create_task(cache.embed_deep(["shared", "borderline two"]))
    await asyncio.sleep(0.05)
    cache.lm.gate.set()
    a, b = await asyncio.gather(first, second)
    assert sorted(t for call in cache.lm.calls for t in call) == ["borderline one", "borderline two", "shared"]
    assert a[1][0] == b[0][0] == len("shared") and a.shape == (2, 576)
    again = await cache.embed_deep(["shared"])  # a streamed reply's sentence already checked
    assert len(cache.lm.calls) == 2 and again[0][0] == len("shared")


async def test_a_failure_reaches_every_waiter_and_is_not_cached(cache):
    cache.lm.fail = True
    first = asyncio.create_task(cache.embed_deep(["same text"]))
    second = asyncio.create_task(cache.embed_deep(["same text"]))
    await asyncio.sleep(0.05)
    cache.lm.gate.set()
    results = await asyncio.gather(first, second, return_exceptions=True)
    assert all(isinstance(r, RuntimeError) for r in results) and len(cache.lm.calls) == 1
    cache.lm.fail = False
    assert (await cache.embed_deep(["same text"]))[0][0] == len("same text")
    assert len(cache.lm.calls) == 2


async def test_a_cache_of_size_zero_keeps_nothing_and_minilm_has_its_own(cache, monkeypatch):
    cache.lm.gate.set()
    cache.size = 0
    await cache.embed_deep(["a text"])
    await cache.embed_deep(["a text"])
    assert len(cache.lm.calls) == 2
    cache.size = 8
    minilm: list[list[str]] = []
    monkeypatch.setattr(cache, "embed_sync", lambda texts: minilm.append(list(texts)) or np.ones((len(texts), 384)))
    await cache.embed_deep(["a text"])
    vectors = await cache.embed(["a text"])  # the same text, the other model: computed, not taken from SmolLM2's cache
    assert minilm == [["a text"]] and vectors.shape == (1, 384)
    assert (await cache.embed([])).shape == (0, 384) and (await cache.embed_deep([])).shape == (0, 576)
