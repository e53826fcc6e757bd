"""Where a run keeps its artifacts, and the ``DONE.json`` markers that make every stage resumable.

A stage is complete when its directory holds ``DONE.json`` (written last, atomically, with the stage's
metrics and wall time); rerunning the pipeline skips complete stages unless forced.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from alignment.data import write_json

DONE_FILE = "DONE.json"


@dataclass(frozen=True)
class RunPaths:
    """The layout of ``runs/<run>/``."""

    root: Path

    def stage_dir(self, stage: str) -> Path:
        return self.root / stage

    @property
    def sft_adapter(self) -> Path:
        return self.root / "sft" / "adapter"

    @property
    def comparisons(self) -> Path:
        return self.root / "reward" / "comparisons.jsonl"

    @property
    def reward_adapter(self) -> Path:
        return self.root / "reward" / "adapter"

    @property
    def ppo_adapter(self) -> Path:
        return self.root / "ppo" / "adapter"

    @property
    def ppo_checkpoint(self) -> Path:
        return self.root / "ppo" / "checkpoint"

    @property
    def ppo_log(self) -> Path:
        return self.root / "ppo" / "log.jsonl"

    @property
    def dpo_adapter(self) -> Path:
        return self.root / "dpo" / "adapter"

    @property
    def export(self) -> Path:
        return self.root / "export"

    @property
    def report_md(self) -> Path:
        return self.root / "report.md"

    @property
    def report_json(self) -> Path:
        return self.root / "report.json"

    @property
    def chart(self) -> Path:
        return self.root / "report.png"

    def policy_adapter(self, name: str) -> Path | None:
        """The adapter directory of a trained policy (sft, ppo, dpo), if that stage completed."""
        adapter = {"sft": self.sft_adapter, "ppo": self.ppo_adapter, "dpo": self.dpo_adapter}.get(name)
        if adapter is None or not is_done(self.stage_dir(name)):
            return None
        return adapter


def is_done(stage_dir: Path) -> bool:
    return (stage_dir / DONE_FILE).is_file()


def mark_done(stage_dir: Path, metrics: dict[str, Any]) -> None:
    write_json(stage_dir / DONE_FILE, metrics)


def read_done(stage_dir: Path) -> dict[str, Any]:
    path = stage_dir / DONE_FILE
    return json.loads(path.read_text()) if path.is_file() else {}


def clear(stage_dir: Path) -> None:
    """Remove a stage's artifacts (``--force``)."""
    shutil.rmtree(stage_dir, ignore_errors=True)
