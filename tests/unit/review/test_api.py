"""/v1/review: roles, tenant isolation, claims with leases, decisions, extra candidates, stats, metrics."""

from __future__ import annotations

import pytest

from telemetry import metrics
from tests.unit.review.conftest import MARKER, auth


async def _queued(gateway, text: str = MARKER, key: str | None = None) -> str:
    assert (await gateway.chat(text, key=key)).status_code == 200
    return gateway.store.list(None, status="pending")[0].id


@pytest.mark.parametrize("path", ["/v1/review/items", "/v1/review/stats", "/v1/review/items/x"])
async def test_a_user_key_gets_403_and_no_key_401(gateway, path):
    assert (await gateway.http.get(path, headers=auth(gateway.keys.user))).status_code == 403
    assert (await gateway.http.get(path)).status_code == 401


async def test_a_user_key_cannot_claim_or_decide(gateway):
    item = await _queued(gateway)
    for action in ("claim", "release", "candidates"):
        assert (await gateway.http.post(f"/v1/review/items/{item}/{action}", headers=auth(gateway.keys.user))).status_code == 403
    decision = await gateway.http.post(f"/v1/review/items/{item}/decision", json={"action": "approve"},
                                       headers=auth(gateway.keys.user))
    assert decision.status_code == 403


async def test_reviewers_see_only_their_tenant_and_admins_see_all(gateway):
    acme_item = await _queued(gateway)  # the user key belongs to acme
    globex_user = gateway.keys.globex  # a reviewer key may also chat: it queues a globex item
    await gateway.chat(MARKER, key=globex_user)
    globex_item = next(i.id for i in gateway.store.list("globex"))

    def ids(response):
        assert response.status_code == 200
        return {item["id"] for item in response.json()["data"]}

    assert ids(await gateway.http.get("/v1/review/items", headers=auth(gateway.keys.acme))) == {acme_item}
    assert ids(await gateway.http.get("/v1/review/items", headers=auth(gateway.keys.globex))) == {globex_item}
    assert ids(await gateway.http.get("/v1/review/items", headers=auth(gateway.keys.admin))) == {acme_item, globex_item}
    assert ids(await gateway.http.get("/v1/review/items?tenant=globex", headers=auth(gateway.keys.admin))) == {globex_item}
    # a reviewer asking for another tenant still gets only their own
    assert ids(await gateway.http.get("/v1/review/items?tenant=globex", headers=auth(gateway.keys.acme))) == {acme_item}


async def test_another_tenants_item_cannot_be_read_claimed_or_decided(gateway):
    item = await _queued(gateway)
    other = auth(gateway.keys.globex)
    assert (await gateway.http.get(f"/v1/review/items/{item}", headers=other)).status_code == 404
    assert (await gateway.http.post(f"/v1/review/items/{item}/claim", headers=other)).status_code == 404
    decided = await gateway.http.post(f"/v1/review/items/{item}/decision", json={"action": "reject"}, headers=other)
    assert decided.status_code == 404
    assert gateway.store.get(item, None).status == "pending"
    stats = (await gateway.http.get("/v1/review/stats", headers=other)).json()
    assert stats["items"]["pending"] == 0


async def test_claim_is_exclusive_until_it_lapses(make):
    gateway = make(review={"claim_lease_s": 60})
    clock = [1_000.0]
    gateway.store.clock = lambda: clock[0]
    item = await _queued(gateway)
    admin, acme = auth(gateway.keys.admin), auth(gateway.keys.acme)
    claimed = await gateway.http.post(f"/v1/review/items/{item}/claim", headers=acme)
    assert claimed.status_code == 200 and claimed.json()["claim_expires_at"] == 1_060.0
    taken = await gateway.http.post(f"/v1/review/items/{item}/claim", headers=admin)
    assert taken.status_code == 409 and taken.json()["error"]["code"] == "review_conflict"
    assert (await gateway.http.post(f"/v1/review/items/{item}/decision", json={"action": "reject"}, headers=admin)).status_code == 409
    clock[0] = 1_061.0  # the lease lapsed: the item is back in the queue and the first reviewer may not decide
    assert [i["id"] for i in (await gateway.http.get("/v1/review/items?status=pending", headers=acme)).json()["data"]] == [item]
    late = await gateway.http.post(f"/v1/review/items/{item}/decision", json={"action": "reject"}, headers=acme)
    assert late.status_code == 409
    assert (await gateway.http.post(f"/v1/review/items/{item}/claim", headers=admin)).status_code == 200
    done = await gateway.http.post(f"/v1/review/items/{item}/decision", json={"action": "reject"}, headers=admin)
    assert done.status_code == 200 and done.json()["status"] == "decided"
    assert (await gateway.http.post(f"/v1/review/items/{item}/claim", headers=acme)).status_code == 409


async def test_decide_without_claim_is_refused(gateway):
    item = await _queued(gateway)
    response = await gateway.http.post(f"/v1/review/items/{item}/decision", json={"action": "approve"},
                                       headers=auth(gateway.keys.acme))
    assert response.status_code == 409


async def test_release_puts_the_item_back(gateway):
    item = await _queued(gateway)
    acme = auth(gateway.keys.acme)
    await gateway.http.post(f"/v1/review/items/{item}/claim", headers=acme)
    released = await gateway.http.post(f"/v1/review/items/{item}/release", headers=acme)
    assert released.json()["status"] == "pending" and released.json()["claimed_by"] is None


@pytest.mark.parametrize("body, status", [
    ({"action": "approve"}, 200),
    ({"action": "approve", "chosen": 5}, 400),
    ({"action": "reject", "note": "rude"}, 200),
    ({"action": "edit", "answer": "  "}, 400),
    ({"action": "edit", "answer": "A better answer."}, 200),
    ({"action": "rank", "ranking": [0]}, 400),
    ({"action": "rank", "ranking": [0, 0]}, 400),
    ({"action": "shrug"}, 400),
])
async def test_decisions_are_validated(gateway, body, status):
    item = await _queued(gateway)
    acme = auth(gateway.keys.acme)
    await gateway.http.post(f"/v1/review/items/{item}/claim", headers=acme)
    response = await gateway.http.post(f"/v1/review/items/{item}/decision", json=body, headers=acme)
    assert response.status_code == status, response.text
    if status == 200:
        assert response.json()["decision"] == body["action"]


async def test_extra_candidate_comes_from_the_backend_and_can_be_ranked(gateway):
    item = await _queued(gateway)
    acme = auth(gateway.keys.acme)
    assert (await gateway.http.post(f"/v1/review/items/{item}/candidates", headers=acme)).status_code == 409  # unclaimed
    await gateway.http.post(f"/v1/review/items/{item}/claim", headers=acme)
    gateway.backend.words = ["Another", " answer."]
    more = await gateway.http.post(f"/v1/review/items/{item}/candidates", headers=acme)
    assert more.status_code == 200
    assert [c["content"] for c in more.json()["candidates"]] == ["Hello from the fake model.", "Another answer."]
    sent = gateway.backend.requests[-1]
    assert [m.content for m in sent.messages] == [MARKER] and sent.n == 1
    ranked = await gateway.http.post(f"/v1/review/items/{item}/decision", json={"action": "rank", "ranking": [1, 0]},
                                     headers=acme)
    assert ranked.status_code == 200 and ranked.json()["ranking"] == [1, 0]


async def test_stats_and_metrics_follow_decisions(gateway):
    before = metrics.REVIEW_DECISIONS.labels(decision="edit")._value.get()
    first, acme = await _queued(gateway), auth(gateway.keys.acme)
    await _queued(gateway, MARKER + " again")
    await gateway.http.post(f"/v1/review/items/{first}/claim", headers=acme)
    await gateway.http.post(f"/v1/review/items/{first}/decision", json={"action": "edit", "answer": "Fixed."}, headers=acme)
    stats = (await gateway.http.get("/v1/review/stats", headers=acme)).json()
    assert stats["items"] == {"pending": 1, "claimed": 0, "decided": 1}
    assert stats["decisions"]["edit"] == 1 and stats["oldest_pending_s"] >= 0
    assert metrics.REVIEW_DECISIONS.labels(decision="edit")._value.get() == before + 1
    assert metrics.REVIEW_QUEUE_ITEMS.labels(status="pending")._value.get() == 1
    exposition = (await gateway.http.get("/metrics")).text
    assert "keel_review_time_to_decision_seconds_count" in exposition
