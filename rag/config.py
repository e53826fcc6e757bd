"""RAG settings (the ``rag:`` block of keel.yaml, or ``KEEL_RAG`` as JSON)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

# Best not-found F1 of a score threshold alone, refusing at most 10% of answerable questions: first chosen on
# half of data/kb/qa.jsonl, now re-derived by `keel rag eval` from the training questions (0.41-0.42).
DEFAULT_MIN_SCORE = 0.42


class RagSettings(BaseModel):
    """Where chunks live, how many are retrieved, what counts as relevant, what an uncited answer triggers."""

    model_config = ConfigDict(extra="forbid")

    enabled: bool = Field(False, description="Ground requests by default (a key's config or the request can override).")
    top_k: int = Field(5, ge=1, le=50, description="Chunks retrieved per request.")
    min_score: float = Field(DEFAULT_MIN_SCORE, ge=-1.0, le=1.0, description="Chunks with a lower cosine similarity are dropped.")
    chroma_url: str | None = Field(None, description="Chroma server URL (http://host:port); default: embedded store.")
    path: Path | None = Field(None, description="Embedded Chroma directory; default <home>/chroma.")
    threads: int = Field(1, ge=0, description="onnxruntime threads for embeddings (0: all cores).")
    query_embeddings: Literal["int8", "fp32"] = Field(
        "int8", description="Graph that embeds queries: int8 (dynamic quantisation, ~3x faster) or fp32; documents are always fp32."
    )
    query_cache: int = Field(0, ge=0, description="LRU cache of query vectors (entries; 0: off).")
    injection_guard: bool = Field(True, description="Drop retrieved chunks that carry planted instructions.")
    pii_guard: bool = Field(True, description="Mask PII (Presidio) in retrieved chunks before the model sees them.")
    pii_entities: dict[str, Literal["mask", "block", "allow"]] | None = Field(
        None, description="Presidio entity -> action for retrieved chunks; default: guardrails' default entities, masked."
    )
    # Off by default: on the held-out questions it raises not-found F1 from 0.35 to 0.52 but refuses ~19% of
    # answerable questions (docs/results/rag-eval.md); turn it on where refusing beats guessing.
    answerability: bool = Field(
        False, description="Refuse (not found) when the answerability model judges the sources do not answer the question."
    )
    answerability_model: Path | None = Field(None, description="Fitted model JSON; default: the one shipped in rag/.")
    uncited_action: Literal["allow", "escalate", "block"] = Field(
        "escalate", description="What an answer with sources but no valid citation triggers (escalate = flag)."
    )

    def store_path(self, home: Path) -> Path:
        return self.path or home / "chroma"


def wanted(default: bool, key_config: Any, requested: bool | None) -> bool:
    """Whether a request is grounded: a key may force RAG ("required") or forbid it ("off"); else the request decides."""
    if key_config in ("required", "always"):
        return True
    if key_config in ("off", "never", "disabled"):
        return False
    if requested is not None:
        return requested
    if isinstance(key_config, bool):
        return key_config
    return default
