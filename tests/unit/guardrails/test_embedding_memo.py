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
    cache.lm_features["hazard"] = FakeLm()  # type: ignore[assignment]
    return cache


@pytest.fixture
def lm(cache):
    return cache.lm("hazard")


async def test_two_guards_asking_for_the_same_sentence_compute_it_once(cache, lm):
    first = asyncio.create_task(cache.embed_deep("hazard", ["borderline one", "shared"]))
    second = asyncio.create_task(cache.embed_deep("hazard", ["shared", "borderline two"]))
    await asyncio.sleep(0.05)
    lm.gate.set()
    a, b = await asyncio.gather(first, second)
    assert sorted(t for call in lm.calls for t in call) == ["borderline one", "borderline two", "shared"]
    assert a[1][0] == b[0][0] == len("shared") and a.shape == (2, 576)
    again = await cache.embed_deep("hazard", ["shared"])  # a streamed reply's sentence already checked
    assert len(lm.calls) == 2 and again[0][0] == len("shared")


async def test_a_failure_reaches_every_waiter_and_is_not_cached(cache, lm):
    lm.fail = True
    first = asyncio.create_task(cache.embed_deep("hazard", ["same text"]))
    second = asyncio.create_task(cache.embed_deep("hazard", ["same text"]))
    await asyncio.sleep(0.05)
    lm.gate.set()
    results = await asyncio.gather(first, second, return_exceptions=True)
    assert all(isinstance(r, RuntimeError) for r in results) and len(lm.calls) == 1
    lm.fail = False
    assert (await cache.embed_deep("hazard", ["same text"]))[0][0] == len("same text")
    assert len(lm.calls) == 2


async def test_a_cache_of_size_zero_keeps_nothing_and_minilm_has_its_own(cache, lm, monkeypatch):
    lm.gate.set()
    cache.size = 0
    await cache.embed_deep("hazard", ["a text"])
    await cache.embed_deep("hazard", ["a text"])
    assert len(lm.calls) == 2
    cache.size = 8
    minilm: list[list[str]] = []
    monkeypatch.setattr(cache, "embed_sync", lambda texts: minilm.append(list(texts)) or np.ones((len(texts), 384)))
    await cache.embed_deep("hazard", ["a text"])
    vectors = await cache.embed(["a text"])  # the same text, the other model: computed, not taken from SmolLM2's cache
    assert minilm == [["a text"]] and vectors.shape == (1, 384)
    assert (await cache.embed([])).shape == (0, 384) and (await cache.embed_deep("hazard", [])).shape == (0, 576)


async def test_each_task_keeps_its_own_features(cache, lm):
    """The hazard stage reads a text inside its prompt, the injection stage reads it alone: not interchangeable."""
    other = cache.lm_features["injection"] = FakeLm()  # type: ignore[assignment]
    lm.gate.set()
    other.gate.set()
    await cache.embed_deep("hazard", ["the same sentence"])
    await cache.embed_deep("injection", ["the same sentence"])
    await cache.embed_deep("injection", ["the same sentence"])
    assert lm.calls == [["the same sentence"]] and other.calls == [["the same sentence"]]


def test_tasks_share_one_model_and_only_hazard_is_prompted(tmp_path):
    cache = EmbeddingCache(tmp_path)
    hazard, injection = cache.lm("hazard"), cache.lm("injection")
    assert hazard.body is injection.body is cache.lm_body and cache.lm("hazard") is hazard
    assert hazard.prompt is not None and injection.prompt is None
    assert hazard.version != injection.version and hazard.prompt.name in hazard.version
