"""The continuous-batching engine on a real (tiny, random) model."""

import asyncio

import pytest
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

from gateway.backends.base import GenerationRequest, Message
from gateway.backends.transformers import EngineOptions, TransformersBackend
from gateway.errors import BackendOverloaded, BackendUnavailable


@pytest.fixture
async def backend(tiny_model_dir):
    b = TransformersBackend(tiny_model_dir, EngineOptions(max_batch_size=8, batch_window_ms=30))
    await b.start()
    yield b
    await b.aclose()


def _req(text, **kw):
    return GenerationRequest(messages=[Message("user", text)], **({"max_tokens": 12, "temperature": 0} | kw))


PROMPTS = ["hi", "tell me a long story about the sea and ships", "2+2?", "what is the capital of France, briefly?"]


def _hf_greedy(model_dir, text, max_new):
    tok = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModelForCausalLM.from_pretrained(model_dir).eval()
    ids = tok.apply_chat_template([{"role": "user", "content": text}], add_generation_prompt=True, return_tensors="pt")
    ids = ids["input_ids"] if hasattr(ids, "keys") else ids
    out = model.generate(ids, max_new_tokens=max_new, do_sample=False, eos_token_id=tok.eos_token_id)
    return tok.decode(out[0, ids.shape[1]:], skip_special_tokens=True)


async def test_solo_greedy_matches_transformers_generate(backend, tiny_model_dir):
    got = await backend.generate(_req(PROMPTS[1]))
    assert got.choices[0].text == _hf_greedy(tiny_model_dir, PROMPTS[1], 12)


async def test_batched_outputs_equal_solo_outputs(backend):
    solo = [(await backend.generate(_req(p))).choices[0].text for p in PROMPTS]
    before = backend.engine.stats.prefill_forwards
    together = await asyncio.gather(*(backend.generate(_req(p)) for p in PROMPTS))
    assert [c.choices[0].text for c in together] == solo
    assert backend.engine.stats.prefill_forwards - before < len(PROMPTS)


async def test_requests_joining_a_running_batch_get_the_same_text(backend):
    solo_long = (await backend.generate(_req(PROMPTS[1], max_tokens=40))).choices[0].text
    solo_short = (await backend.generate(_req(PROMPTS[0], max_tokens=10))).choices[0].text

    async def late():
        await asyncio.sleep(0.15)  # the long request is mid-decode when this one is admitted
        return await backend.generate(_req(PROMPTS[0], max_tokens=10))

    long, short = await asyncio.gather(backend.generate(_req(PROMPTS[1], max_tokens=40)), late())
    assert (long.choices[0].text, short.choices[0].text) == (solo_long, solo_short)


async def test_eight_concurrent_requests_share_forward_passes(backend):
    stats = backend.engine.stats
    p0, d0 = stats.prefill_forwards, stats.decode_forwards
    results = await asyncio.gather(*(backend.generate(_req(f"question {i}", max_tokens=16)) for i in range(8)))
    assert all(r.choices[0].text for r in results)
    assert stats.prefill_forwards - p0 < 8
    assert stats.max_batch_seen > 1
    assert stats.decode_forwards - d0 < sum(r.completion_tokens for r in results)


async def test_same_seed_same_text_different_seed_differs(backend):
    a = await backend.generate(_req("hello", temperature=1.0, seed=7, max_tokens=16))
    b = await backend.generate(_req("hello", temperature=1.0, seed=7, max_tokens=16))
    c = await backend.generate(_req("hello", temperature=1.0, seed=8, max_tokens=16))
    assert a.choices[0].text == b.choices[0].text
    assert a.choices[0].text != c.choices[0].text


async def test_n_choices_differ_and_usage_counts_all(backend):
    out = await backend.generate(_req("hello", temperature=1.0, seed=1, n=3, max_tokens=8))
    assert [c.index for c in out.choices] == [0, 1, 2]
    assert len({c.text for c in out.choices}) > 1
    assert out.completion_tokens == 24 and out.prompt_tokens > 0


async def test_stream_matches_generate_and_is_token_by_token(backend):
    whole = await backend.generate(_req(PROMPTS[3], max_tokens=10))
    pieces = [d async for d in backend.stream(_req(PROMPTS[3], max_tokens=10))]
    assert "".join(d.text for d in pieces) == whole.choices[0].text
    assert len(pieces) >= 5
    assert pieces[-1].finish_reason == "length" and pieces[-1].completion_tokens == 10


async def test_stop_string_cuts_output(backend):
    sampled = {"temperature": 1.0, "seed": 11, "max_tokens": 20}
    full = (await backend.generate(_req(PROMPTS[1], **sampled))).choices[0].text
    word = full.split()[3]
    cut = await backend.generate(_req(PROMPTS[1], stop=[word], **sampled))
    assert cut.choices[0].finish_reason == "stop"
    assert cut.choices[0].text == full[: full.index(word)]


async def test_top_p_tiny_equals_greedy(backend):
    greedy = await backend.generate(_req("hello", max_tokens=10))
    nucleus = await backend.generate(_req("hello", temperature=1.0, top_p=1e-6, seed=3, max_tokens=10))
    assert nucleus.choices[0].text == greedy.choices[0].text


async def test_cancelled_stream_leaves_the_batch(backend):
    engine = backend.engine
    stream = backend.stream(_req("a long one", max_tokens=500))
    await anext(stream)
    await stream.aclose()  # what a client disconnect does
    for _ in range(100):
        if not engine._seqs:
            break
        await asyncio.sleep(0.02)
    assert engine._seqs == []
    assert engine.stats.decode_forwards < 500


async def test_prompt_longer_than_context_is_refused(backend):
    from gateway.errors import ContextLengthExceeded

    with pytest.raises(ContextLengthExceeded):
        await backend.generate(_req("word " * 3000))


async def test_full_queue_is_overloaded(tiny_model_dir):
    b = TransformersBackend(tiny_model_dir, EngineOptions(max_batch_size=1, max_waiting=1))
    await b.start()
    try:
        tasks = [asyncio.create_task(b.generate(_req("x", max_tokens=200))) for _ in range(6)]
        results = await asyncio.gather(*tasks, return_exceptions=True)
        assert any(isinstance(r, BackendOverloaded) for r in results)
        assert any(not isinstance(r, Exception) for r in results)
    finally:
        await b.aclose()


async def test_a_failing_forward_fails_its_request_and_the_engine_keeps_serving(backend):
    model = backend.engine.model
    original = model.forward
    calls = {"n": 0}

    def flaky(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 2:
            raise RuntimeError("simulated kernel failure")
        return original(*args, **kwargs)

    model.forward = flaky
    try:
        with pytest.raises(BackendUnavailable, match="simulated"):
            await backend.generate(_req("hello", max_tokens=5))
    finally:
        model.forward = original
    out = await backend.generate(_req("hello", max_tokens=5))
    assert out.completion_tokens == 5


async def test_a_failing_prefill_fails_the_requests_it_admitted_at_once(backend):
    """A request taken off the queue whose first forward fails gets the error, not an endless wait."""
    model = backend.engine.model
    original = model.forward

    def broken(*args, **kwargs):
        raise RuntimeError("simulated prefill failure")

    model.forward = broken
    try:
        with pytest.raises(BackendUnavailable, match="simulated prefill failure"):
            await asyncio.wait_for(backend.generate(_req("hello", max_tokens=5)), timeout=10)
    finally:
        model.forward = original
    out = await backend.generate(_req("hello", max_tokens=5))
    assert out.completion_tokens == 5


async def test_any_int64_seed_samples(backend):
    for seed in (2**63 - 1, -(2**63)):
        out = await backend.generate(_req("hello", max_tokens=3, temperature=1.0, seed=seed, n=2))
        assert out.completion_tokens == 6


async def test_stopped_engine_is_unavailable(tiny_model_dir):
    b = TransformersBackend(tiny_model_dir)
    await b.start()
    await b.aclose()
    assert not b.ready
    with pytest.raises(BackendUnavailable):
        await b.generate(_req("x"))
