"""API keys: a YAML file of SHA-256 hashes, each mapped to a tenant, roles and allowed models.

Plain keys exist only in the moment ``keel keys add`` prints them; the file holds hashes alone.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
import tempfile
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

import yaml

from gateway.errors import AuthenticationFailed, NotPermitted

Role = Literal["user", "reviewer", "admin"]
ROLES: tuple[Role, ...] = ("user", "reviewer", "admin")
KEY_PREFIX = "sk-keel-"


@dataclass(frozen=True)
class Principal:
    """Who is calling: resolved from an API key. ``key_id`` is a short hash prefix, safe to log."""

    key_id: str
    tenant: str
    roles: frozenset[str]
    models: tuple[str, ...] = ("*",)
    name: str = ""
    config: dict[str, Any] = field(default_factory=dict, hash=False, compare=False)

    def has_role(self, *roles: str) -> bool:
        return bool(self.roles.intersection(roles))

    def require_role(self, *roles: str) -> None:
        if not self.has_role(*roles):
            raise NotPermitted(f"this key lacks the role {' or '.join(roles)}")

    def may_use_model(self, model: str) -> bool:
        return "*" in self.models or model in self.models


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def new_key() -> str:
    return KEY_PREFIX + secrets.token_urlsafe(32)


class KeyStore:
    """Reads the keys file (reloading it when it changes) and resolves presented keys to principals."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()
        self._entries: list[tuple[bytes, Principal]] = []
        self._mtime: float | None = None
        self._checked = 0.0

    def authenticate(self, presented: str | None) -> Principal:
        if not presented:
            raise AuthenticationFailed("missing API key: send 'Authorization: Bearer <key>'")
        digest = hash_key(presented).encode()
        found: Principal | None = None
        # Compare against every entry in constant time each, without stopping early.
        for stored, principal in self._current():
            if hmac.compare_digest(stored, digest):
                found = principal
        if found is None:
            raise AuthenticationFailed("invalid API key")
        return found

    def add(
        self,
        tenant: str,
        roles: list[str],
        models: list[str] | None = None,
        name: str = "",
        config: dict[str, Any] | None = None,
    ) -> tuple[str, Principal]:
        """Create a key, store its hash, and return (plain key, principal). The plain key is not kept."""
        bad = [r for r in roles if r not in ROLES]
        if bad or not roles:
            raise ValueError(f"roles must be among {list(ROLES)}; got {roles}")
        if not tenant or not tenant.replace("-", "").replace("_", "").isalnum():
            raise ValueError("tenant must be a non-empty name of letters, digits, '-' and '_'")
        key = new_key()
        digest = hash_key(key)
        entry: dict[str, Any] = {
            "sha256": digest,
            "tenant": tenant,
            "roles": sorted(set(roles)),
            "models": models or ["*"],
            "name": name,
            "created": datetime.now(UTC).isoformat(timespec="seconds"),
        }
        if config:
            entry["config"] = config
        with self._lock:
            data = self._read()
            data.setdefault("keys", []).append(entry)
            self._write(data)
            self._mtime = None
        return key, _principal(entry)

    def count(self) -> int:
        return len(self._current())

    def principals(self) -> list[Principal]:
        return [principal for _, principal in self._current()]

    def _current(self) -> list[tuple[bytes, Principal]]:
        now = time.monotonic()
        if now - self._checked < 1.0 and self._mtime is not None:
            return self._entries
        with self._lock:
            self._checked = now
            try:
                mtime = self.path.stat().st_mtime
            except FileNotFoundError:
                self._entries, self._mtime = [], None
                return self._entries
            if mtime != self._mtime:
                entries = self._read().get("keys") or []
                self._entries = [(str(e["sha256"]).encode(), _principal(e)) for e in entries]
                self._mtime = mtime
            return self._entries

    def _read(self) -> dict[str, Any]:
        if not self.path.is_file():
            return {"keys": []}
        data = yaml.safe_load(self.path.read_text()) or {}
        if not isinstance(data, dict):
            raise ValueError(f"{self.path}: expected a mapping with a 'keys' list")
        return data

    def _write(self, data: dict[str, Any]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=".keys-")
        with os.fdopen(fd, "w") as fh:
            yaml.safe_dump(data, fh, sort_keys=False)
        os.chmod(tmp, 0o600)
        os.replace(tmp, self.path)


def _principal(entry: dict[str, Any]) -> Principal:
    return Principal(
        key_id=str(entry["sha256"])[:12],
        tenant=str(entry["tenant"]),
        roles=frozenset(entry.get("roles") or ["user"]),
        models=tuple(entry.get("models") or ["*"]),
        name=str(entry.get("name") or ""),
        config=dict(entry.get("config") or {}),
    )


def bearer_token(authorization: str | None) -> str | None:
    """The key from an ``Authorization: Bearer <key>`` header, or None."""
    if not authorization:
        return None
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() != "bearer":
        return None
    return token.strip() or None
