"""End to end: a real `keel serve` process, driven with the official openai SDK."""

import asyncio
import re
import threading
import time

import httpx
import openai
import pytest

MODEL = "tiny-random"
MSG = [{"role": "user", "content": "Write a short poem about the sea."}]


@pytest.fixture
def client(server):
    return openai.OpenAI(base_url=f"{server.base_url}/v1", api_key=server.key, max_retries=0)


def test_completion_with_usage(client):
    out = client.chat.completions.create(model=MODEL, messages=MSG, max_tokens=8, seed=1)
    assert out.object == "chat.completion" and out.model == MODEL
    assert out.choices[0].message.role == "assistant" and out.choices[0].message.content
    assert out.usage.completion_tokens == 8 and out.usage.prompt_tokens > 0
    assert out.usage.total_tokens == out.usage.prompt_tokens + 8


def test_stream_reassembled_equals_non_streamed_with_same_seed(client):
    params = {"model": MODEL, "messages": MSG, "max_tokens": 24, "seed": 1234, "temperature": 0.9}
    whole = client.chat.completions.create(**params).choices[0].message.content
    stream = client.chat.completions.create(stream=True, stream_options={"include_usage": True}, **params)
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == whole
    assert sum(1 for c in chunks if c.choices and c.choices[0].delta.content) > 3  # token by token
    assert chunks[-1].usage.completion_tokens == 24


def test_n_equals_two(client):
    out = client.chat.completions.create(model=MODEL, messages=MSG, max_tokens=6, n=2, seed=3)
    assert [c.index for c in out.choices] == [0, 1]
    assert out.usage.completion_tokens == 12


def test_stop_sequence(client):
    base = client.chat.completions.create(model=MODEL, messages=MSG, max_tokens=16, seed=9).choices[0].message.content
    word = base.split()[2]
    out = client.chat.completions.create(model=MODEL, messages=MSG, max_tokens=16, seed=9, stop=[word])
    assert out.choices[0].finish_reason == "stop"
    assert word not in out.choices[0].message.content


def test_bad_key_invalid_body_unknown_model(server, client):
    bad = openai.OpenAI(base_url=f"{server.base_url}/v1", api_key="sk-keel-not-a-key", max_retries=0)
    with pytest.raises(openai.AuthenticationError):
        bad.chat.completions.create(model=MODEL, messages=MSG)
    with pytest.raises(openai.BadRequestError):
        client.chat.completions.create(model=MODEL, messages=[{"role": "user"}], n=-1)
    with pytest.raises(openai.BadRequestError):
        client.chat.completions.create(model=MODEL, messages=[])
    with pytest.raises(openai.NotFoundError):
        client.chat.completions.create(model="gpt-4o", messages=MSG)


def test_models_endpoint(client):
    assert [m.id for m in client.models.list().data] == [MODEL]


def _metric(text: str, name: str) -> float:
    total = 0.0
    for line in text.splitlines():
        if line.startswith(name) and not line.startswith("#"):
            total += float(line.rsplit(" ", 1)[1])
    return total


def test_eight_concurrent_requests_are_batched_and_health_answers_meanwhile(server):
    client = openai.AsyncOpenAI(base_url=f"{server.base_url}/v1", api_key=server.key, max_retries=0)
    before = httpx.get(f"{server.base_url}/metrics").text
    health_latencies: list[float] = []

    async def probe_health(stop: asyncio.Event):
        async with httpx.AsyncClient() as http:
            while not stop.is_set():
                t = time.perf_counter()
                r = await http.get(f"{server.base_url}/health", timeout=5)
                assert r.status_code == 200
                health_latencies.append(time.perf_counter() - t)
                await asyncio.sleep(0.05)

    async def main():
        stop = asyncio.Event()
        prober = asyncio.create_task(probe_health(stop))
        results = await asyncio.gather(
            *(client.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": f"q{i}"}], max_tokens=48,
                                             temperature=0) for i in range(8))
        )
        stop.set()
        await prober
        return results

    results = asyncio.run(main())
    assert all(r.usage.completion_tokens > 0 for r in results)
    after = httpx.get(f"{server.base_url}/metrics").text
    prefills = _metric(after, "keel_engine_prefill_batches_total") - _metric(before, "keel_engine_prefill_batches_total")
    assert 1 <= prefills < 8, f"8 requests took {prefills} prefill forwards"
    batch_sum = _metric(after, "keel_engine_batch_size_sum") - _metric(before, "keel_engine_batch_size_sum")
    batch_count = _metric(after, "keel_engine_batch_size_count") - _metric(before, "keel_engine_batch_size_count")
    assert batch_sum / batch_count > 1.5, "decode steps were not shared"
    assert len(health_latencies) >= 3
    assert max(health_latencies) < 2.0


def test_client_disconnect_cancels_generation(server):
    def in_flight_rows() -> float:
        text = httpx.get(f"{server.base_url}/metrics").text
        return _metric(text, "keel_engine_batch_size_count")

    with httpx.stream(
        "POST", f"{server.base_url}/v1/chat/completions", headers={"Authorization": f"Bearer {server.key}"},
        json={"model": MODEL, "messages": MSG, "max_tokens": 1500, "stream": True, "temperature": 0},
    ) as r:
        for line in r.iter_lines():
            if line.startswith("data: ") and '"content":"' in line and '"content":""' not in line:
                break
    # The connection is closed now; decode steps must stop long before 1500 tokens.
    time.sleep(0.5)
    first = in_flight_rows()
    time.sleep(1.0)
    assert in_flight_rows() == first, "the engine kept decoding after the client left"


def test_metrics_exposition_names(server, client):
    client.chat.completions.create(model=MODEL, messages=MSG, max_tokens=4, stream=False)
    stream = client.chat.completions.create(model=MODEL, messages=MSG, max_tokens=4, stream=True)
    list(stream)
    r = httpx.get(f"{server.base_url}/metrics", follow_redirects=False)
    assert r.status_code == 200
    for name in ("keel_requests_total", "keel_request_duration_seconds_bucket", "keel_time_to_first_token_seconds_bucket",
                 "keel_tokens_total", "keel_in_flight_requests", "keel_inter_token_latency_seconds_bucket"):
        assert re.search(rf"^{name}\{{", r.text, re.M), name


def test_logs_are_json_with_request_ids_and_no_key(server, client):
    client.chat.completions.create(model=MODEL, messages=MSG, max_tokens=2, extra_headers={"X-Request-Id": "trace-42"})
    # The access line is written just after the response is sent: give the server a moment to flush it.
    for _ in range(50):
        log = server.log()
        if '"request_id": "trace-42"' in log:
            break
        time.sleep(0.1)
    assert '"request_id": "trace-42"' in log
    assert server.key not in log
    assert "poem about the sea" not in log
