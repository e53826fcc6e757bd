"""Upstream replicas: a circuit breaker per replica, health state, and least-busy choice among them."""

from __future__ import annotations

import time
from collections.abc import Callable, Collection, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from telemetry import metrics


@dataclass
class CircuitBreaker:
    """Opens after ``failures`` consecutive failures; after ``reset_s`` lets one trial request through.

    closed → (failures in a row) → open → (reset_s elapsed) → half-open → success: closed / failure: open.
    """

    failures: int = 3  # consecutive failures that open the circuit
    reset_s: float = 10.0  # how long an open circuit refuses before one trial request
    clock: Callable[[], float] = time.monotonic
    _consecutive: int = 0
    _opened_at: float | None = None
    _trial_running: bool = False

    @property
    def state(self) -> str:
        if self._opened_at is None:
            return "closed"
        return "half-open" if self.clock() - self._opened_at >= self.reset_s else "open"

    def allows(self) -> bool:
        """Whether a request may go to this replica now (half-open admits one trial at a time)."""
        state = self.state
        return state == "closed" or (state == "half-open" and not self._trial_running)

    def acquire(self) -> None:
        """Mark a request as sent; in half-open state it is the trial."""
        if self.state == "half-open":
            self._trial_running = True

    def release(self) -> None:
        """A request ended with no verdict on the replica (the client left): free the trial slot."""
        self._trial_running = False

    def record_success(self) -> None:
        self._consecutive = 0
        self._opened_at = None
        self._trial_running = False

    def record_failure(self) -> None:
        self._consecutive += 1
        self._trial_running = False
        if self._opened_at is not None or self._consecutive >= self.failures:
            self._opened_at = self.clock()  # a failed trial re-opens for another full reset_s

    def seconds_until_trial(self) -> float:
        if self._opened_at is None:
            return 0.0
        return max(0.0, self.reset_s - (self.clock() - self._opened_at))


@dataclass
class Replica:
    """One upstream server: its base URL, health, breaker and the requests it is serving now."""

    base_url: str
    breaker: CircuitBreaker
    healthy: bool = True  # optimistic until the first health check says otherwise
    in_flight: int = 0
    label: str = field(init=False)

    def __post_init__(self) -> None:
        self.base_url = self.base_url.rstrip("/")
        parts = urlsplit(self.base_url)
        # host:port only: a URL may carry credentials, and labels must stay bounded.
        self.label = f"{parts.hostname}:{parts.port or (443 if parts.scheme == 'https' else 80)}"
        self.publish()

    @property
    def available(self) -> bool:
        return self.healthy and self.breaker.allows()

    def publish(self) -> None:
        up = self.healthy and self.breaker.state == "closed"
        metrics.UPSTREAM_REPLICA_UP.labels(replica=self.label).set(1 if up else 0)


class ReplicaPool:
    """Chooses the least-busy available replica; ties go round-robin so idle replicas share the load."""

    def __init__(self, replicas: list[Replica]) -> None:
        if not replicas:
            raise ValueError("an upstream backend needs at least one replica URL")
        self.replicas = replicas
        self._turn = 0

    def choose(self, exclude: Collection[str] = ()) -> Replica | None:
        """The available replica with the fewest requests in flight, preferring ones not in ``exclude``."""
        candidates = [r for r in self.replicas if r.available]
        fresh = [r for r in candidates if r.base_url not in exclude]
        pool = fresh or candidates
        if not pool:
            return None
        self._turn = (self._turn + 1) % len(self.replicas)
        order = {r.base_url: (i - self._turn) % len(self.replicas) for i, r in enumerate(self.replicas)}
        return min(pool, key=lambda r: (r.in_flight, order[r.base_url]))

    @contextmanager
    def using(self, replica: Replica) -> Iterator[Replica]:
        """Count a request against ``replica`` while it runs."""
        replica.breaker.acquire()
        replica.in_flight += 1
        try:
            yield replica
        finally:
            replica.in_flight -= 1
            replica.breaker.release()

    def retry_after(self, health_interval_s: float) -> float:
        """Seconds until some replica may take traffic again: a breaker's trial or the next health check."""
        waits = [r.breaker.seconds_until_trial() for r in self.replicas if r.healthy]
        return max(1.0, min(waits, default=health_interval_s))

    @property
    def any_available(self) -> bool:
        return any(r.available for r in self.replicas)
