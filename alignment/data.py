"""Alignment datasets: JSONL reading and writing, record validation, held-out splits and content hashes.

Formats (ARCHITECTURE.md, TRL-compatible):
- demonstration: ``{"messages": [...], "source": ...}`` (golden demos also carry ``checks``)
- comparison: ``{"prompt": [msgs], "chosen": [assistant msg], "rejected": [assistant msg], "source", "meta"}``
- behaviour-spec prompt: ``{"id", "messages", "checks", "split"}``
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

Message = dict[str, str]
Record = dict[str, Any]
ROLES = ("system", "user", "assistant")


class DataError(ValueError):
    """A JSONL record does not match its format."""


def read_jsonl(path: str | Path) -> list[Record]:
    """All records of a JSONL file (blank lines skipped)."""
    records = []
    with open(path, encoding="utf-8") as handle:
        for number, line in enumerate(handle, 1):
            if line.strip():
                try:
                    records.append(json.loads(line))
                except json.JSONDecodeError as exc:
                    raise DataError(f"{path}:{number}: not JSON: {exc}") from exc
    return records


def write_jsonl(path: str | Path, records: Iterable[Record]) -> None:
    """Write records atomically (temp file + rename), so a crash never leaves half a file behind."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}-", dir=path.parent)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        for record in records:
            handle.write(json.dumps(record, ensure_ascii=False) + "\n")
    os.replace(tmp, path)


def write_json(path: str | Path, value: Any) -> None:
    """Write one JSON document atomically."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}-", dir=path.parent)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        json.dump(value, handle, indent=2, ensure_ascii=False, default=str)
        handle.write("\n")
    os.replace(tmp, path)


def file_sha256(path: str | Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _check_messages(messages: Any, where: str, *, last_role: str | None = None) -> None:
    if not isinstance(messages, list) or not messages:
        raise DataError(f"{where}: expected a non-empty list of messages")
    for message in messages:
        if (
            not isinstance(message, dict)
            or message.get("role") not in ROLES
            or not isinstance(message.get("content"), str)
        ):
            raise DataError(f"{where}: bad message {message!r}")
    if last_role and messages[-1]["role"] != last_role:
        raise DataError(f"{where}: last message must be from the {last_role}")


def validate_demonstration(record: Record, where: str = "demonstration") -> Record:
    _check_messages(record.get("messages"), f"{where}.messages", last_role="assistant")
    return record


def validate_comparison(record: Record, where: str = "comparison") -> Record:
    """Check a comparison record; ``source`` and ``meta`` are optional and defaulted."""
    _check_messages(record.get("prompt"), f"{where}.prompt", last_role="user")
    for side in ("chosen", "rejected"):
        messages = record.get(side)
        _check_messages(messages, f"{where}.{side}", last_role="assistant")
        if len(record[side]) != 1:
            raise DataError(f"{where}.{side}: expected exactly one assistant message")
    if record["chosen"][0]["content"] == record["rejected"][0]["content"]:
        raise DataError(f"{where}: chosen and rejected are identical")
    return {
        "prompt": record["prompt"],
        "chosen": record["chosen"],
        "rejected": record["rejected"],
        "source": record.get("source", "unknown"),
        "meta": record.get("meta", {}),
    }


def _load(paths: Sequence[str | Path], validate: Callable[[Record, str], Record]) -> list[Record]:
    return [validate(record, f"{path}[{index}]") for path in paths for index, record in enumerate(read_jsonl(path))]


def load_comparisons(paths: Sequence[str | Path]) -> list[Record]:
    """Read and validate comparison files (review-queue exports, hand-written pairs)."""
    return _load(paths, validate_comparison)


def load_demonstrations(paths: Sequence[str | Path]) -> list[Record]:
    """Read and validate demonstration files (prompt messages + the golden answer)."""
    return _load(paths, validate_demonstration)


def prompt_key(messages: Sequence[Message]) -> str:
    """A stable id for a prompt conversation."""
    return hashlib.sha256(json.dumps(list(messages), sort_keys=True).encode()).hexdigest()


def is_heldout(messages: Sequence[Message], fraction: float, seed: int = 0) -> bool:
    """Deterministic split by prompt, so both sides of every pair for one prompt land in the same split."""
    if fraction <= 0:
        return False
    bucket = int(hashlib.sha256(f"{seed}:{prompt_key(messages)}".encode()).hexdigest()[:8], 16) / 0xFFFFFFFF
    return bucket < fraction


def split_heldout(
    records: Sequence[Record], fraction: float, seed: int = 0
) -> tuple[list[Record], list[Record]]:
    """(train, held out) comparisons, split by prompt; an empty held-out side borrows one prompt's pairs."""
    train = [r for r in records if not is_heldout(r["prompt"], fraction, seed)]
    heldout = [r for r in records if is_heldout(r["prompt"], fraction, seed)]
    if fraction > 0 and not heldout and len(train) > 1:
        key = prompt_key(train[-1]["prompt"])
        heldout = [r for r in train if prompt_key(r["prompt"]) == key]
        train = [r for r in train if prompt_key(r["prompt"]) != key]
    return train, heldout
