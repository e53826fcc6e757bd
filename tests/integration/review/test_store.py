"""The review store on SQLite and PostgreSQL: migrations, idempotent intake, claim races, leases, export."""

from __future__ import annotations

import json
import threading

import pytest
from sqlalchemy import inspect, text

from alignment.data import validate_comparison
from gateway.review.export import comparisons, export
from gateway.review.store import ClaimConflict, InvalidDecision, ItemNotFound, NewItem, ReviewStore, Verdict

PROMPT = [{"role": "user", "content": "How do I reset my password?"}]


class Clock:
    def __init__(self, now: float = 1_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock():
    return Clock()


@pytest.fixture
def store(store_url, clock):
    s = ReviewStore(store_url, lease_s=60, clock=clock)
    s.migrate()
    yield s
    s.close()


def new(key: str = "req-1", tenant: str = "acme", candidates=("Flagged answer.",), source="escalation") -> NewItem:
    return NewItem(key, tenant, source, PROMPT, list(candidates), [{"action": "escalate", "guard": "hazard",
                   "category": "S6", "score": 0.9, "reason": "advice"}], reason="hazard/S6", priority=10, model="m")


def test_migrations_create_the_schema_once_and_are_idempotent(store, store_url):
    store.migrate()  # again: nothing to do
    other = ReviewStore(store_url)
    other.migrate()
    with store.engine.connect() as conn:
        assert conn.execute(text("select version_num from alembic_version")).scalar() == "0001"
        tables = set(inspect(conn).get_table_names())
    assert {"review_items", "review_sessions", "alembic_version"} <= tables
    other.close()


def test_concurrent_start_ups_migrate_safely(store_url):
    stores = [ReviewStore(store_url) for _ in range(3)]
    errors = []

    def run(s):
        try:
            s.migrate()
        except Exception as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(s,)) for s in stores]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert stores[0].submit(new())[1] is True
    for s in stores:
        s.close()


def test_submit_is_idempotent_per_tenant_and_request(store):
    first, created = store.submit(new())
    again, created_again = store.submit(new())
    other_tenant, _ = store.submit(new(tenant="globex"))
    assert created and not created_again and first == again and other_tenant != first
    assert len(store.list(None)) == 2 and len(store.list("acme")) == 1


def test_scope_hides_other_tenants(store):
    item, _ = store.submit(new())
    with pytest.raises(ItemNotFound):
        store.get(item, "globex")
    with pytest.raises(ItemNotFound):
        store.claim(item, "globex", "gus")
    assert store.stats("globex")["items"]["pending"] == 0 and store.stats("acme")["items"]["pending"] == 1


def test_exactly_one_of_many_racing_reviewers_wins_a_claim(store):
    item, _ = store.submit(new())
    wins, conflicts = [], []
    barrier = threading.Barrier(6)

    def race(name):
        barrier.wait()
        try:
            store.claim(item, "acme", name)
            wins.append(name)
        except ClaimConflict:
            conflicts.append(name)

    threads = [threading.Thread(target=race, args=(f"r{i}",)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(wins) == 1 and len(conflicts) == 5
    assert store.get(item, None).claimed_by == wins[0]


def test_a_lapsed_claim_returns_to_the_queue(store, clock):
    item, _ = store.submit(new())
    store.claim(item, "acme", "ann")
    clock.now += 30
    store.claim(item, "acme", "ann")  # renewing extends the lease
    assert store.get(item, None).claim_expires_at == clock.now + 60
    clock.now += 61
    assert [i.id for i in store.list("acme", status="pending")] == [item]
    with pytest.raises(ClaimConflict):
        store.decide(item, "acme", "ann", Verdict("reject"))
    store.claim(item, "acme", "bob")
    store.decide(item, "acme", "bob", Verdict("reject"))
    assert store.get(item, None).reviewer == "bob"


def test_decisions_are_checked_against_the_candidates(store):
    item, _ = store.submit(new(candidates=("a", "b")))
    store.claim(item, "acme", "ann")
    for bad in (Verdict("approve", chosen=7), Verdict("edit", answer=""), Verdict("rank", ranking=[0, 9]), Verdict("nope")):
        with pytest.raises(InvalidDecision):
            store.decide(item, "acme", "ann", bad)
    store.decide(item, "acme", "ann", Verdict("rank", ranking=[1, 0]))
    with pytest.raises(ClaimConflict):
        store.decide(item, "acme", "ann", Verdict("reject"))


def _decide(store, key, verdict, candidates=("Flagged answer.",), extra=()):
    item, _ = store.submit(new(key, candidates=candidates))
    store.claim(item, "acme", "ann")
    for text_ in extra:
        store.add_candidate(item, "acme", "ann", text_)
    return store.decide(item, "acme", "ann", verdict)


def test_comparison_records_follow_the_decision(store):
    edit = comparisons(_decide(store, "e", Verdict("edit", answer="Use the reset link.")))
    assert [(r["chosen"][0]["content"], r["rejected"][0]["content"]) for r in edit] == [("Use the reset link.", "Flagged answer.")]
    ranked = comparisons(_decide(store, "r", Verdict("rank", ranking=[2, 0, 1]), extra=("B", "C")))
    assert [(r["chosen"][0]["content"], r["rejected"][0]["content"]) for r in ranked] == [
        ("C", "Flagged answer."), ("C", "B"), ("Flagged answer.", "B")]
    approved = comparisons(_decide(store, "a", Verdict("approve", chosen=1), extra=("Better",)))
    assert [(r["chosen"][0]["content"], r["rejected"][0]["content"]) for r in approved] == [("Better", "Flagged answer.")]
    assert comparisons(_decide(store, "x", Verdict("reject"))) == []
    assert comparisons(_decide(store, "y", Verdict("approve"))) == []
    for record in edit + ranked + approved:
        assert validate_comparison(record) == record
        assert record["prompt"] == PROMPT and record["source"] == "review" and record["meta"]["guards"] == ["hazard"]


def test_export_is_idempotent_unless_asked(store, clock, tmp_path):
    import io

    _decide(store, "one", Verdict("edit", answer="Better one."))
    store.submit(new("pending"))  # undecided: never exported
    first = io.StringIO()
    assert export(store, first) == (1, 1)
    assert json.loads(first.getvalue())["chosen"][0]["content"] == "Better one."
    assert export(store, io.StringIO()) == (0, 0)
    clock.now += 100
    _decide(store, "two", Verdict("edit", answer="Better two."))
    second = io.StringIO()
    assert export(store, second) == (1, 1) and "Better two." in second.getvalue()
    everything = io.StringIO()
    assert export(store, everything, include_exported=True) == (2, 2)
    recent = io.StringIO()
    assert export(store, recent, since=clock.now - 1, include_exported=True) == (1, 1)


def test_sessions_expire_and_close(store, clock):
    token, csrf = store.open_session("key1", ttl_s=10)
    found = store.find_session(token)
    assert found.key_id == "key1" and found.csrf == csrf and found.token_hash != token
    clock.now += 11
    assert store.find_session(token) is None
    token, _ = store.open_session("key1", ttl_s=10)
    store.close_session(token)
    assert store.find_session(token) is None
