"""The gateway's ``review:`` block (keel.yaml, or ``KEEL_REVIEW`` as JSON): store, sampling, escalation answer."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class ReviewSettings(BaseModel):
    """Where review items live, which traffic becomes an item, and what an escalated client sees."""

    model_config = ConfigDict(extra="forbid")

    enabled: bool = Field(True, description="Escalations and sampled audits become review items.")
    db_url: str | None = Field(
        None, description="SQLAlchemy URL (postgresql+psycopg://...); default a SQLite file home/review.db."
    )
    audit_sample_rate: float = Field(0.0, ge=0.0, le=1.0, description="Share of allowed replies queued for audit.")
    escalation_response: Literal["holding", "output"] = Field(
        "holding", description="An escalated reply: the holding message, or the model's output (policy permitting)."
    )
    holding_message: str = "A reviewer will look at this answer before it is shown. Please check back later."
    claim_lease_s: float = Field(900.0, gt=0, description="A claim lapses after this many seconds without a decision.")
    session_ttl_s: float = Field(8 * 3600.0, gt=0, description="Reviewer UI sessions last this long.")
    metrics_interval_s: float = Field(15.0, ge=0, description="How often queue gauges are refreshed (0: only on change).")

    def url(self, home: Path) -> str:
        return self.db_url or f"sqlite:///{home / 'review.db'}"
