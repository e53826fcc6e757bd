"""RAG settings (the ``rag:`` block of keel.yaml, or ``KEEL_RAG`` as JSON)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

# Chosen by `keel rag eval` on the tuning half of data/kb/qa.jsonl (best not-found F1 refusing at most
# 10% of answerable questions); see docs/results/rag-eval.md.
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
    injection_guard: bool = Field(True, description="Drop retrieved chunks that carry planted instructions.")
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
