"""Reviewer decisions → comparison records (ARCHITECTURE.md's format) for the reward-model stage.

chosen = the edited or approved answer, rejected = the flagged output; a ranking becomes every
(better, worse) pair it implies. Approvals of a lone answer and plain rejections carry no comparison.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from typing import IO, Any

from gateway.review.models import ReviewItem
from gateway.review.store import ReviewStore


def comparisons(item: ReviewItem) -> list[dict[str, Any]]:
    """The comparison records one decided item yields (possibly none)."""
    prompt = [{"role": m["role"], "content": m["content"]} for m in item.conversation]
    if not prompt or prompt[-1]["role"] != "user":
        return []  # the reward stage trains on prompts that end with the user's turn
    texts = {c["id"]: c["content"] for c in item.candidates}
    pairs: list[tuple[str, str]] = []
    if item.decision == "edit" and item.answer:
        pairs = [(item.answer, texts.get(0, ""))]
    elif item.decision == "approve" and len(texts) > 1:
        chosen = item.chosen or 0
        pairs = [(texts[chosen], text) for cid, text in sorted(texts.items()) if cid != chosen]
    elif item.decision == "rank" and item.ranking:
        ranked = [texts[cid] for cid in item.ranking if cid in texts]
        pairs = [(better, worse) for i, better in enumerate(ranked) for worse in ranked[i + 1:]]
    meta = {"review_item": item.id, "tenant": item.tenant, "decision": item.decision, "origin": item.source,
            "reviewer": item.reviewer, "guards": sorted({d.get("guard", "") for d in item.guard_decisions} - {""}),
            "decided_at": _iso(item.decided_at)}
    return [
        {"prompt": prompt, "chosen": [{"role": "assistant", "content": chosen}],
         "rejected": [{"role": "assistant", "content": rejected}], "source": "review", "meta": meta}
        for chosen, rejected in pairs
        if chosen.strip() and rejected.strip() and chosen != rejected
    ]


def export(store: ReviewStore, out: IO[str], since: float | None = None, include_exported: bool = False,
           tenant: str | None = None) -> tuple[int, int]:
    """Write the comparison JSONL to ``out`` (one tenant's items, or every tenant's); returns (items, records)."""
    items = store.take_export(since, include_exported, tenant)
    written = 0
    for record in _records(items):
        out.write(json.dumps(record, ensure_ascii=False) + "\n")
        written += 1
    out.flush()
    return len(items), written


def parse_since(value: str) -> float:
    """``--since``: an ISO 8601 time (UTC unless it says otherwise) or UNIX seconds."""
    try:
        return float(value)
    except ValueError:
        pass
    stamp = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return (stamp if stamp.tzinfo else stamp.replace(tzinfo=UTC)).timestamp()


def _records(items: Iterable[ReviewItem]) -> Iterator[dict[str, Any]]:
    for item in items:
        yield from comparisons(item)


def _iso(seconds: float | None) -> str | None:
    return datetime.fromtimestamp(seconds, UTC).isoformat(timespec="seconds") if seconds is not None else None
