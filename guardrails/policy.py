"""Policy layers from YAML: platform (always first) → tenant → application prompt → the client's messages.

``data/policies/platform.yaml`` holds the platform prompt and the default guard configuration;
``data/policies/tenants/<tenant>.yaml`` adds a tenant prompt and overrides guard options by name.
The layers are system messages the gateway puts before every client message: a client's own system
message is kept, after them, so nothing a client sends can remove or reorder the platform layer.
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from guardrails.config import StackConfig, merge

DEFAULT_POLICIES = Path(__file__).resolve().parents[1] / "data" / "policies"
_TENANT_NAME = re.compile(r"^[A-Za-z0-9_-]+$")


@dataclass(frozen=True)
class Policy:
    """The layers and guard configuration in force for one tenant."""

    tenant: str
    layers: tuple[tuple[str, str], ...]  # (layer name, system prompt), platform first
    config: StackConfig

    def prompts(self, app_prompt: str | None = None) -> list[tuple[str, str]]:
        """The system layers for a request, with the key's application prompt after the tenant's."""
        layers = list(self.layers)
        if app_prompt and app_prompt.strip():
            layers.append(("app", app_prompt.strip()))
        return layers


class PolicyStore:
    """Reads the platform and tenant policy files, re-reading a file when it changes."""

    def __init__(self, directory: Path | str = DEFAULT_POLICIES) -> None:
        self.directory = Path(directory)
        self._lock = threading.Lock()
        self._files: dict[Path, tuple[float, dict[str, Any]]] = {}

    def for_tenant(self, tenant: str) -> Policy:
        platform = self._read(self.directory / "platform.yaml", required=True)
        tenant_data = self._read(self.directory / "tenants" / f"{tenant}.yaml") if _TENANT_NAME.match(tenant) else {}
        layers = [("platform", str(platform.get("prompt") or "").strip())]
        if tenant_data.get("prompt"):
            layers.append(("tenant", str(tenant_data["prompt"]).strip()))
        config = merge(platform.get("guards") or {}, tenant_data.get("guards") or {})
        return Policy(tenant, tuple((n, p) for n, p in layers if p), StackConfig.model_validate(config))

    def _read(self, path: Path, required: bool = False) -> dict[str, Any]:
        try:
            mtime = path.stat().st_mtime
        except FileNotFoundError:
            if required:
                raise FileNotFoundError(f"policy file not found: {path}") from None
            return {}
        with self._lock:
            cached = self._files.get(path)
            if cached and cached[0] == mtime:
                return cached[1]
            data = yaml.safe_load(path.read_text()) or {}
            if not isinstance(data, dict):
                raise ValueError(f"{path}: expected a mapping with 'prompt' and 'guards'")
            self._files[path] = (mtime, data)
            return data
