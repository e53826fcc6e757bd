"""The guard stack's configuration: which guards run at each stage, with which options (YAML, per tenant)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field


class GuardSpec(BaseModel):
    """One entry of a stage list: a registered guard name, whether it runs, and its own options."""

    model_config = ConfigDict(extra="allow")

    name: str
    enabled: bool = True

    def options(self) -> dict[str, Any]:
        """The guard-specific options (everything but ``name`` and ``enabled``)."""
        return dict(self.model_extra or {})


class RefusalConfig(BaseModel):
    """How a block is answered: an assistant refusal (finish_reason content_filter) or HTTP 400."""

    model_config = ConfigDict(extra="forbid")

    mode: Literal["message", "error"] = "message"
    message: str = "I can't help with that request."


class StreamingConfig(BaseModel):
    """The hold-back buffer output guards run over while a response streams."""

    model_config = ConfigDict(extra="forbid")

    hold_back: Literal["sentence", "chars"] = "sentence"  # release whole sentences, or N characters at a time
    chars: int = Field(64, ge=8, description="Text always held back: longer than any PII entity guards mask.")
    max_hold_chars: int = Field(400, ge=16, description="A sentence longer than this is released at a word boundary.")
    context_chars: int = Field(200, ge=0, description="Already-sent text classifiers see before the new segment.")


class ToolsConfig(BaseModel):
    """Tool permissions: what happens to client tools outside a key's allowlist."""

    model_config = ConfigDict(extra="forbid")

    disallowed: Literal["error", "drop"] = "error"  # 403, or silently leave the tool out
    allow_by_default: bool = True  # a key with no `tools:` list may use any tool it sends


class StackConfig(BaseModel):
    """Everything the guard stack does for one tenant (the platform config, with the tenant's overrides)."""

    model_config = ConfigDict(extra="forbid")

    fail_closed: bool = True  # a guard that crashes blocks the request (False: it allows, logged and counted)
    refusal: RefusalConfig = Field(default_factory=RefusalConfig)
    streaming: StreamingConfig = Field(default_factory=StreamingConfig)
    tools: ToolsConfig = Field(default_factory=ToolsConfig)
    input: list[GuardSpec] = Field(default_factory=list)
    output: list[GuardSpec] = Field(default_factory=list)

    def stage(self, stage: str) -> list[GuardSpec]:
        return [spec for spec in getattr(self, stage) if spec.enabled]


def merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    """Deep-merge ``override`` into ``base``; stage lists (``input``, ``output``) merge entry by guard name."""
    out = dict(base)
    for key, value in override.items():
        if key in ("input", "output") and isinstance(value, list):
            out[key] = _merge_stage(list(base.get(key) or []), value)
        elif isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merge(out[key], value)
        else:
            out[key] = value
    return out


def _merge_stage(base: list[dict[str, Any]], override: list[dict[str, Any]]) -> list[dict[str, Any]]:
    names = [entry.get("name") for entry in base]
    merged = [dict(entry) for entry in base]
    for entry in override:
        if entry.get("name") in names:
            at = names.index(entry.get("name"))
            merged[at] = merge(merged[at], entry)
        else:
            merged.append(dict(entry))
            names.append(entry.get("name"))
    return merged


class GuardSettings(BaseModel):
    """The gateway's ``guards:`` block (keel.yaml, or ``KEEL_GUARDS`` as JSON): where policies live, model knobs."""

    model_config = ConfigDict(extra="forbid")

    enabled: bool = Field(False, description="Policy layers and input/output guards on every chat request.")
    policies: Path | None = Field(None, description="Policy directory (platform.yaml, tenants/); default data/policies.")
    embedding_threads: int = Field(1, ge=0, description="onnxruntime threads for the guard classifiers' MiniLM.")
    embedding_max_tokens: int = Field(128, ge=16, le=256, description="Tokens of a text the classifiers read.")
    executor_threads: int = Field(4, ge=1, description="Threads running Presidio and classifiers off the event loop.")
    warm: bool = Field(True, description="Load Presidio and the classifiers (training them if missing) at start-up.")
