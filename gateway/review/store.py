"""The review store: items move pending → claimed (a lease) → decided. SQLite (WAL) by default, PostgreSQL by URL.

Every write is one short transaction and conditional where two reviewers could race (a claim is an
``UPDATE ... WHERE`` the item is free, so exactly one of them wins). ``submit`` is idempotent per
(tenant, request key): a retried request never queues a second item. Methods are synchronous; the
gateway calls them from a thread (``anyio.to_thread``), never on the event loop.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event, func, or_, select, update
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from gateway.review.models import DECISIONS, ReviewItem, ReviewSession
from telemetry import metrics

log = logging.getLogger(__name__)
MIGRATIONS = Path(__file__).with_name("migrations")
_PG_MIGRATION_LOCK = 0x6B65656C  # "keel": one migrating process at a time per database


class ReviewError(Exception):
    """Base of the store's errors."""


class ItemNotFound(ReviewError, LookupError):
    """No such item in the caller's scope (another tenant's item is reported the same way)."""


class ClaimConflict(ReviewError):
    """The item is claimed by someone else, already decided, or the caller's claim has lapsed."""


class InvalidDecision(ReviewError, ValueError):
    """The decision does not fit the item (unknown candidate, empty answer, ranking of fewer than two)."""


@dataclass(frozen=True)
class NewItem:
    """What the gateway submits: the conversation, the reply candidates (flagged output first) and why."""

    request_key: str
    tenant: str
    source: str  # escalation | audit
    conversation: list[dict[str, Any]]
    candidates: list[str]
    guard_decisions: list[dict[str, Any]] = field(default_factory=list)
    reason: str = ""
    priority: int = 0
    model: str = ""
    client_saw: str = "output"


@dataclass(frozen=True)
class Verdict:
    """A reviewer's decision: approve (a candidate), reject, edit (a corrected answer) or rank (ids, best first)."""

    action: str
    chosen: int | None = None
    answer: str | None = None
    ranking: list[int] | None = None
    note: str = ""


class ReviewStore:
    """The ``ReviewStore`` seam: one database, reached through SQLAlchemy."""

    def __init__(self, url: str, lease_s: float = 900.0, clock: Callable[[], float] = time.time) -> None:
        self.url = url
        self.lease_s = lease_s
        self.clock = clock
        self.engine = _engine(url)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)
        self._migrated = False
        self._migrating = threading.Lock()

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    def migrate(self) -> None:
        """Bring the schema to the newest Alembic revision (safe to run from several processes at once)."""
        from alembic import command
        from alembic.config import Config

        config = Config()
        config.set_main_option("script_location", str(MIGRATIONS))
        config.set_main_option("path_separator", "os")
        with self.engine.begin() as conn:
            if self.dialect == "postgresql":
                conn.exec_driver_sql(f"SELECT pg_advisory_xact_lock({_PG_MIGRATION_LOCK})")
            config.attributes["connection"] = conn
            command.upgrade(config, "head")
        self._migrated = True

    def close(self) -> None:
        self.engine.dispose()

    # ------------------------------------------------------------------ intake

    def submit(self, new: NewItem) -> tuple[str, bool]:
        """Queue an item, committed before this returns; (id, False) when the request was queued already."""
        item = ReviewItem(
            id=uuid.uuid4().hex, request_key=new.request_key, tenant=new.tenant, source=new.source,
            reason=new.reason[:2000], priority=new.priority, status="pending", model=new.model,
            conversation=new.conversation,
            candidates=[{"id": i, "content": text, "origin": "model"} for i, text in enumerate(new.candidates)],
            guard_decisions=new.guard_decisions, client_saw=new.client_saw, note="", created_at=self.clock(),
        )
        try:
            with self._session() as session:
                session.add(item)
        except IntegrityError:
            with self._session() as session:
                found = session.scalar(select(ReviewItem.id).where(
                    ReviewItem.tenant == new.tenant, ReviewItem.request_key == new.request_key))
            if found is None:
                raise
            return found, False
        self.refresh_gauges()
        return item.id, True

    # ------------------------------------------------------------------ reading

    def list(self, tenant: str | None, status: str | None = None, source: str | None = None,
             limit: int = 50, offset: int = 0) -> list[ReviewItem]:
        """Items in scope (``tenant`` None: every tenant), highest priority and oldest first."""
        self._release_lapsed()
        query = select(ReviewItem)
        if tenant is not None:
            query = query.where(ReviewItem.tenant == tenant)
        if status:
            query = query.where(ReviewItem.status == status)
        if source:
            query = query.where(ReviewItem.source == source)
        order = (ReviewItem.decided_at.desc(),) if status == "decided" else (ReviewItem.priority.desc(), ReviewItem.created_at)
        with self._session() as session:
            return list(session.scalars(query.order_by(*order, ReviewItem.id).limit(limit).offset(offset)))

    def get(self, item_id: str, tenant: str | None) -> ReviewItem:
        with self._session() as session:
            return self._in_scope(session, item_id, tenant)

    def stats(self, tenant: str | None) -> dict[str, Any]:
        """Counts by status and by decision, and the oldest pending item's age in seconds."""
        self._release_lapsed()
        scope = [ReviewItem.tenant == tenant] if tenant is not None else []
        with self._session() as session:
            by_status = dict(session.execute(
                select(ReviewItem.status, func.count()).where(*scope).group_by(ReviewItem.status)).all())
            by_decision = dict(session.execute(
                select(ReviewItem.decision, func.count()).where(*scope, ReviewItem.decision.is_not(None))
                .group_by(ReviewItem.decision)).all())
            oldest = session.scalar(select(func.min(ReviewItem.created_at)).where(*scope, ReviewItem.status == "pending"))
        return {
            "items": {s: int(by_status.get(s, 0)) for s in ("pending", "claimed", "decided")},
            "decisions": {d: int(by_decision.get(d, 0)) for d in DECISIONS},
            "oldest_pending_s": max(0.0, self.clock() - oldest) if oldest is not None else 0.0,
        }

    # ------------------------------------------------------------------ reviewing

    def claim(self, item_id: str, tenant: str | None, reviewer: str) -> ReviewItem:
        """Take (or renew) the lease on an item; ``ClaimConflict`` when someone else holds a live one."""
        now = self.clock()
        with self._session() as session:
            self._in_scope(session, item_id, tenant)
            free = or_(
                ReviewItem.status == "pending",
                (ReviewItem.status == "claimed") & or_(ReviewItem.claim_expires_at < now, ReviewItem.claimed_by == reviewer),
            )
            won = session.execute(
                update(ReviewItem).where(ReviewItem.id == item_id, free)
                .values(status="claimed", claimed_by=reviewer, claimed_at=now, claim_expires_at=now + self.lease_s)
            ).rowcount
            if not won:
                raise ClaimConflict("the item is claimed by another reviewer or already decided")
        self.refresh_gauges()
        return self.get(item_id, tenant)

    def release(self, item_id: str, tenant: str | None, reviewer: str) -> ReviewItem:
        with self._session() as session:
            self._in_scope(session, item_id, tenant)
            done = session.execute(
                update(ReviewItem).where(ReviewItem.id == item_id, ReviewItem.status == "claimed",
                                         ReviewItem.claimed_by == reviewer)
                .values(status="pending", claimed_by=None, claim_expires_at=None)
            ).rowcount
            if not done:
                raise ClaimConflict("you do not hold a claim on this item")
        self.refresh_gauges()
        return self.get(item_id, tenant)

    def add_candidate(self, item_id: str, tenant: str | None, reviewer: str, content: str) -> ReviewItem:
        """Append a candidate answer (an extra sample from the model) to an item the reviewer has claimed."""
        with self._session() as session:
            item = self._held(session, item_id, tenant, reviewer)
            next_id = max((c["id"] for c in item.candidates), default=-1) + 1
            item.candidates = [*item.candidates, {"id": next_id, "content": content, "origin": "extra"}]
        return self.get(item_id, tenant)

    def decide(self, item_id: str, tenant: str | None, reviewer: str, verdict: Verdict) -> ReviewItem:
        """Record the decision on an item the reviewer holds a live claim on."""
        now = self.clock()
        with self._session() as session:
            item = self._held(session, item_id, tenant, reviewer)
            _check_verdict(verdict, {c["id"] for c in item.candidates})
            item.status, item.reviewer, item.decision, item.decided_at = "decided", reviewer, verdict.action, now
            item.chosen = (verdict.chosen or 0) if verdict.action == "approve" else None
            item.answer = verdict.answer.strip() if verdict.action == "edit" and verdict.answer else None
            item.ranking = list(verdict.ranking) if verdict.action == "rank" and verdict.ranking else None
            item.note = verdict.note[:2000]
            item.claimed_by, item.claim_expires_at = None, None
            created = item.created_at
        metrics.REVIEW_DECISIONS.labels(decision=verdict.action).inc()
        metrics.REVIEW_TIME_TO_DECISION.labels(decision=verdict.action).observe(max(0.0, now - created))
        self.refresh_gauges()
        return self.get(item_id, tenant)

    # ------------------------------------------------------------------ export

    def take_export(self, since: float | None = None, include_exported: bool = False,
                    tenant: str | None = None) -> list[ReviewItem]:
        """Decided items not exported yet (or all with ``include_exported``), marked exported in one transaction.

        ``tenant`` scopes the export to that tenant's items (None: every tenant, for the operator)."""
        now = self.clock()
        batch = uuid.uuid4().hex
        window = [ReviewItem.status == "decided"] + ([ReviewItem.decided_at >= since] if since is not None else [])
        if tenant is not None:
            window.append(ReviewItem.tenant == tenant)
        with self._session() as session:
            session.execute(update(ReviewItem).where(*window, ReviewItem.exported_at.is_(None))
                            .values(exported_at=now, export_batch=batch))
            taken = or_(ReviewItem.export_batch == batch, ReviewItem.exported_at.is_not(None)) if include_exported \
                else ReviewItem.export_batch == batch
            return list(session.scalars(select(ReviewItem).where(*window, taken)
                                        .order_by(ReviewItem.decided_at, ReviewItem.id)))

    # ------------------------------------------------------------------ reviewer UI sessions

    def open_session(self, key_id: str, ttl_s: float) -> tuple[str, str]:
        """A new login: (cookie token, CSRF token). Only the cookie's hash is stored."""
        token, csrf, now = secrets.token_urlsafe(32), secrets.token_urlsafe(32), self.clock()
        with self._session() as session:
            session.execute(ReviewSession.__table__.delete().where(ReviewSession.expires_at < now))
            session.add(ReviewSession(token_hash=_digest(token), key_id=key_id, csrf=csrf, created_at=now,
                                      expires_at=now + ttl_s))
        return token, csrf

    def find_session(self, token: str) -> ReviewSession | None:
        with self._session() as session:
            found = session.get(ReviewSession, _digest(token))
        return found if found is not None and found.expires_at > self.clock() else None

    def close_session(self, token: str) -> None:
        with self._session() as session:
            session.execute(ReviewSession.__table__.delete().where(ReviewSession.token_hash == _digest(token)))

    # ------------------------------------------------------------------ metrics

    def refresh_gauges(self) -> None:
        """Queue gauges over every tenant: items by status and the oldest pending item's age."""
        try:
            stats = self.stats(None)
        except Exception:  # noqa: BLE001 (metrics never fail a request)
            log.exception("could not refresh review queue gauges")
            return
        for status, count in stats["items"].items():
            metrics.REVIEW_QUEUE_ITEMS.labels(status=status).set(count)
        metrics.REVIEW_OLDEST_PENDING.set(stats["oldest_pending_s"])

    # ------------------------------------------------------------------ internals

    @contextmanager
    def _session(self) -> Iterator[Session]:
        if not self._migrated:  # an app built without its lifespan (tests) migrates on first use
            with self._migrating:
                if not self._migrated:
                    self.migrate()
        with self._sessions.begin() as session:
            yield session

    def _in_scope(self, session: Session, item_id: str, tenant: str | None) -> ReviewItem:
        item = session.get(ReviewItem, item_id)
        if item is None or (tenant is not None and item.tenant != tenant):
            raise ItemNotFound(f"no review item {item_id!r}")
        return item

    def _held(self, session: Session, item_id: str, tenant: str | None, reviewer: str) -> ReviewItem:
        item = self._in_scope(session, item_id, tenant)
        if item.status != "claimed" or item.claimed_by != reviewer:
            raise ClaimConflict("claim the item first" if item.status != "decided" else "the item is already decided")
        if (item.claim_expires_at or 0) < self.clock():
            raise ClaimConflict("your claim has lapsed; claim the item again")
        return item

    def _release_lapsed(self) -> None:
        with self._session() as session:
            session.execute(update(ReviewItem).where(ReviewItem.status == "claimed", ReviewItem.claim_expires_at < self.clock())
                            .values(status="pending", claimed_by=None, claim_expires_at=None))


def _check_verdict(verdict: Verdict, candidates: set[int]) -> None:
    if verdict.action not in DECISIONS:
        raise InvalidDecision(f"decision must be one of {', '.join(DECISIONS)}")
    if verdict.action == "approve" and (verdict.chosen or 0) not in candidates:
        raise InvalidDecision(f"no candidate {verdict.chosen}")
    if verdict.action == "edit" and not (verdict.answer or "").strip():
        raise InvalidDecision("an edit needs the corrected answer")
    if verdict.action == "rank":
        ranking: Sequence[int] = verdict.ranking or []
        if len(ranking) < 2 or len(set(ranking)) != len(ranking) or not set(ranking) <= candidates:
            raise InvalidDecision("a ranking lists two or more distinct candidate ids, best first")


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _wal(cursor: Any, wait_s: float = 30.0) -> None:
    """Switch to WAL mode, waiting out other first connections: SQLite answers this pragma "database is
    locked" at once, without its busy handler, while another connection is switching a new file over."""
    import sqlite3

    deadline = time.monotonic() + wait_s
    while True:
        try:
            cursor.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.02)


def _engine(url: str) -> Engine:
    if not url.startswith("sqlite"):
        return create_engine(url, pool_pre_ping=True)
    if url.startswith("sqlite:///") and url not in ("sqlite://", "sqlite:///:memory:"):
        Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(url, connect_args={"timeout": 30, "check_same_thread": False})

    @event.listens_for(engine, "connect")
    def _pragmas(dbapi_connection: Any, _: Any) -> None:
        # Transactions are begun explicitly below; pysqlite's own BEGIN handling is switched off.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA busy_timeout=30000")
        _wal(cursor)
        cursor.execute("PRAGMA synchronous=FULL")  # an acknowledged escalation survives power loss too
        cursor.close()

    @event.listens_for(engine, "begin")
    def _begin(conn: Connection) -> None:
        # IMMEDIATE takes the write lock up front: read-then-write transactions never fail mid-way on a
        # snapshot another process has moved past (SQLITE_BUSY_SNAPSHOT), they wait their turn.
        conn.exec_driver_sql("BEGIN IMMEDIATE")

    return engine
