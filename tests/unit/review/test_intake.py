"""The review stage of the pipeline: escalations are queued before the client is answered."""

from __future__ import annotations

import json

from tests.unit.review.conftest import MARKER


async def test_escalated_reply_is_queued_and_the_client_gets_the_holding_message(gateway):
    response = await gateway.chat(f"please {MARKER} now")
    assert response.status_code == 200
    reply = response.json()["choices"][0]["message"]["content"]
    assert reply == gateway.settings.review.holding_message
    [item] = gateway.store.list(None)
    assert (item.tenant, item.source, item.status, item.client_saw) == ("acme", "escalation", "pending", "holding")
    assert item.candidates == [{"id": 0, "content": "Hello from the fake model.", "origin": "model"}]
    assert item.conversation == [{"role": "user", "content": f"please {MARKER} now"}]  # no platform layer
    assert item.guard_decisions[0]["guard"] == "marker" and "marker" in item.reason
    assert item.request_key == response.headers["x-request-id"]


async def test_output_mode_shows_the_model_reply(make):
    gateway = make(review={"escalation_response": "output"})
    response = await gateway.chat(MARKER)
    assert response.json()["choices"][0]["message"]["content"] == "Hello from the fake model."
    assert gateway.store.list(None)[0].client_saw == "output"


async def test_allowed_traffic_is_not_queued_unless_sampled(make):
    quiet = make()
    for _ in range(3):
        assert (await quiet.chat("hello")).status_code == 200
    assert quiet.store.list(None) == []


async def test_audit_sampling_at_rate_one_queues_every_allowed_reply(make):
    gateway = make(review={"audit_sample_rate": 1.0})
    await gateway.chat("hello")
    [item] = gateway.store.list(None)
    assert item.source == "audit" and item.client_saw == "output" and item.priority == 0


async def test_a_retried_request_id_is_queued_once(gateway):
    headers = {"Authorization": f"Bearer {gateway.keys.user}", "X-Request-Id": "retry-1"}
    body = {"model": "fake-model", "messages": [{"role": "user", "content": MARKER}]}
    for _ in range(2):
        assert (await gateway.http.post("/v1/chat/completions", json=body, headers=headers)).status_code == 200
    assert len(gateway.store.list(None)) == 1


async def test_an_escalation_the_store_cannot_record_is_a_503_not_an_answer(gateway, monkeypatch):
    def broken(item):
        raise OSError("disk full")

    monkeypatch.setattr(gateway.store, "submit", broken)
    response = await gateway.chat(MARKER)
    assert response.status_code == 503
    assert "review queue" in response.json()["error"]["message"]
    assert (await gateway.chat("hello")).status_code == 200  # allowed traffic is unaffected


async def test_streamed_escalation_known_before_text_is_held_and_queued_before_done(gateway):
    body = {"model": "fake-model", "messages": [{"role": "user", "content": MARKER}], "stream": True}
    async with gateway.http.stream("POST", "/v1/chat/completions", json=body,
                                   headers={"Authorization": f"Bearer {gateway.keys.user}"}) as response:
        lines = [line async for line in response.aiter_lines() if line.startswith("data: ")]
    assert lines[-1] == "data: [DONE]"
    text = "".join(json.loads(line[6:])["choices"][0]["delta"].get("content") or ""
                   for line in lines[:-1] if json.loads(line[6:])["choices"])
    assert text == gateway.settings.review.holding_message
    [item] = gateway.store.list(None)
    assert item.candidates[0]["content"] == "Hello from the fake model." and item.client_saw == "holding"
