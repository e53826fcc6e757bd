"""Every call into a backend under one supervision: a deadline (504) and unexpected failures as clean errors (502).

The pipeline talks to the backend through this wrapper only, so a hung, crashed or buggy backend, embedded
or upstream, becomes an OpenAI-style error for its own request while the gateway goes on serving the others.
A deadline that fires cancels the backend call, which frees what it held (engine rows, upstream connections).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import aclosing
from typing import Any

from gateway.backends.base import Completion, Delta, GenerationRequest, ModelBackend
from gateway.errors import BackendFailed, BackendTimeout, KeelError
from telemetry import metrics

log = logging.getLogger(__name__)


class SupervisedBackend:
    """A ``ModelBackend`` around another: bounded waits, and only ``KeelError``s come out."""

    def __init__(self, backend: ModelBackend, timeout_s: float) -> None:
        self.backend = backend
        self.timeout_s = timeout_s  # the whole of a non-streamed answer; the next piece of a stream (first included)
        self.name = str(getattr(backend, "name", type(backend).__name__))

    def __getattr__(self, attr: str) -> Any:  # ready, start, aclose, engine...: the wrapped backend's own
        if attr == "backend":  # not set yet (copy, pickle): no recursion
            raise AttributeError(attr)
        return getattr(self.backend, attr)

    async def generate(self, request: GenerationRequest) -> Completion:
        try:
            async with asyncio.timeout(self.timeout_s):
                return await self.backend.generate(request)
        except KeelError:
            raise
        except TimeoutError:
            raise self._timed_out("an answer") from None
        except Exception as exc:
            raise self._failed(exc) from exc

    async def stream(self, request: GenerationRequest) -> AsyncIterator[Delta]:
        deadline = _Deadline(self.timeout_s)
        async with aclosing(self.backend.stream(request)) as deltas:  # type: ignore[type-var]
            try:
                while True:
                    deadline.wait()
                    try:
                        delta = await anext(deltas)
                    except StopAsyncIteration:
                        return
                    except asyncio.CancelledError:
                        if deadline.fired():
                            raise self._timed_out("the next token" if deadline.pieces else "the first token") from None
                        raise
                    except KeelError:
                        raise
                    except Exception as exc:
                        raise self._failed(exc) from exc
                    finally:
                        deadline.done()
                    yield delta
            finally:
                deadline.close()

    def _timed_out(self, what: str) -> BackendTimeout:
        metrics.BACKEND_ERRORS.labels(backend=self.name, kind="deadline").inc()
        log.warning("backend timed out", extra={"backend": self.name, "timeout_s": self.timeout_s, "waiting_for": what})
        return BackendTimeout(f"the model did not send {what} within {self.timeout_s:g} s")

    def _failed(self, exc: Exception) -> BackendFailed:
        metrics.BACKEND_ERRORS.labels(backend=self.name, kind="exception").inc()
        log.error("backend failed", exc_info=exc, extra={"backend": self.name, "error": type(exc).__name__})
        return BackendFailed("the model backend failed; the request id is in the X-Request-Id header")


class _Deadline:
    """A per-piece deadline for a stream that costs one clock read per piece, not one timer.

    ``asyncio.timeout`` around every ``anext`` schedules and cancels a timer per token (~9 µs each); here one
    timer is armed per ``timeout_s`` and, when it rings, re-armed if a piece arrived meanwhile. On expiry it
    cancels the task waiting for the piece (which may differ between pieces: the route awaits the first one,
    the response streamer the rest) and ``fired`` tells that cancellation apart from any other.
    """

    def __init__(self, timeout_s: float) -> None:
        self.timeout_s = timeout_s
        self.loop = asyncio.get_running_loop()
        self.pieces = 0
        self._since = 0.0
        self._task: asyncio.Task[Any] | None = None
        self._handle: asyncio.TimerHandle | None = None
        self._expired = False

    def wait(self) -> None:
        """A wait for the next piece begins."""
        self._since = self.loop.time()
        self._task = asyncio.current_task()
        if self._handle is None:
            self._handle = self.loop.call_at(self._since + self.timeout_s, self._ring)

    def done(self) -> None:
        """The wait ended (a piece, the end, or an error)."""
        self._task = None
        self.pieces += 1

    def fired(self) -> bool:
        """Whether this deadline caused the cancellation being handled (and no one else asked for one)."""
        task = asyncio.current_task()
        return self._expired and task is not None and task.uncancel() == 0

    def close(self) -> None:
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None

    def _ring(self) -> None:
        self._handle = None
        if self._task is None:
            return  # nobody is waiting: the next wait arms a new timer
        due = self._since + self.timeout_s
        if self.loop.time() < due:
            self._handle = self.loop.call_at(due, self._ring)  # a piece came meanwhile: the wait began later
            return
        self._expired = True
        self._task.cancel(msg="keel: backend deadline")
