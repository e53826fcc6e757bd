"""The review tables (SQLAlchemy 2 declarative). Migrations in ``migrations/versions`` create them."""

from __future__ import annotations

from typing import Any

from sqlalchemy import JSON, Double, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

STATUSES = ("pending", "claimed", "decided")
SOURCES = ("escalation", "audit")
DECISIONS = ("approve", "reject", "edit", "rank")


class Base(DeclarativeBase):
    pass


class ReviewItem(Base):
    """One reply a human should look at: the conversation, the candidate answers, and what became of it.

    Times are UNIX seconds (float): compared the same way on SQLite and PostgreSQL, never time-zone naive.
    """

    __tablename__ = "review_items"
    __table_args__ = (
        # The gateway's request id: a retried submission of the same request never makes a second item.
        UniqueConstraint("tenant", "request_key", name="uq_review_items_request"),
        Index("ix_review_items_queue", "status", "priority", "created_at"),
        Index("ix_review_items_tenant", "tenant", "status"),
        Index("ix_review_items_export", "exported_at", "decided_at"),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    request_key: Mapped[str] = mapped_column(String(128))
    tenant: Mapped[str] = mapped_column(String(64))
    source: Mapped[str] = mapped_column(String(16))  # escalation | audit
    reason: Mapped[str] = mapped_column(Text, default="")
    priority: Mapped[int] = mapped_column(Integer, default=0)  # higher first
    status: Mapped[str] = mapped_column(String(16), default="pending")
    model: Mapped[str] = mapped_column(String(128), default="")
    conversation: Mapped[list[dict[str, Any]]] = mapped_column(JSON)  # the prompt messages, client's view
    candidates: Mapped[list[dict[str, Any]]] = mapped_column(JSON)  # [{id, content, origin}], 0 = flagged output
    guard_decisions: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    client_saw: Mapped[str] = mapped_column(String(16), default="output")  # holding | output
    claimed_by: Mapped[str | None] = mapped_column(String(64), nullable=True)
    claim_expires_at: Mapped[float | None] = mapped_column(Double, nullable=True)
    reviewer: Mapped[str | None] = mapped_column(String(64), nullable=True)
    decision: Mapped[str | None] = mapped_column(String(16), nullable=True)  # approve | reject | edit | rank
    chosen: Mapped[int | None] = mapped_column(Integer, nullable=True)  # approved candidate id
    answer: Mapped[str | None] = mapped_column(Text, nullable=True)  # the edited answer
    ranking: Mapped[list[int] | None] = mapped_column(JSON, nullable=True)  # candidate ids, best first
    note: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[float] = mapped_column(Double)
    claimed_at: Mapped[float | None] = mapped_column(Double, nullable=True)
    decided_at: Mapped[float | None] = mapped_column(Double, nullable=True)
    exported_at: Mapped[float | None] = mapped_column(Double, nullable=True)
    export_batch: Mapped[str | None] = mapped_column(String(32), nullable=True)


class ReviewSession(Base):
    """A reviewer UI login: the cookie's hash, the key it stands for, and the session's CSRF token."""

    __tablename__ = "review_sessions"

    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    key_id: Mapped[str] = mapped_column(String(32))
    csrf: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[float] = mapped_column(Double)
    expires_at: Mapped[float] = mapped_column(Double, index=True)
