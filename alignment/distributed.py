"""Multi-process runs (``accelerate launch``): TRL training stages run on every process; sampling, PPO,
eval, export and every file write happen on the main process while the others wait."""

from __future__ import annotations

from typing import Any


def _state() -> Any:
    from accelerate import PartialState

    return PartialState()


def is_main() -> bool:
    """True in a single-process run and on rank 0 of a multi-process one."""
    return bool(_state().is_main_process)


def wait() -> None:
    """Barrier across processes (a no-op in a single-process run)."""
    _state().wait_for_everyone()
