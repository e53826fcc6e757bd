"""Per-key rate limits: requests/minute, tokens/minute and concurrent requests; in memory or in Redis.

Limits come from the key's config (``limits: {rpm, tpm, concurrency}``) over the settings' defaults;
0 means unlimited. Counts use a sliding 60-second window, estimated from two fixed buckets (the current one
plus the previous one weighted by how much of it still overlaps the window), so a burst cannot double up
across a bucket boundary. With Redis, every gateway process shares them.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import Any, Protocol

from gateway.auth import Principal
from gateway.errors import RateLimited
from telemetry import metrics

WINDOW_S = 60
TTL_S = 2 * WINDOW_S + 5  # a bucket is read while current and while previous


@dataclass(frozen=True)
class Limits:
    rpm: int = 0  # requests per minute
    tpm: int = 0  # tokens (prompt + completion) per minute
    concurrency: int = 0  # requests in flight at once

    @classmethod
    def for_principal(cls, principal: Principal, default: Limits) -> Limits:
        own: dict[str, Any] = principal.config.get("limits") or {}
        return cls(
            rpm=int(own.get("rpm", default.rpm)),
            tpm=int(own.get("tpm", default.tpm)),
            concurrency=int(own.get("concurrency", default.concurrency)),
        )


class CounterStore(Protocol):
    """Shared counters: windowed increments and an in-flight gauge per key."""

    async def incr(self, key: str, amount: int, ttl_s: int) -> int: ...

    async def get(self, key: str) -> int: ...

    async def add_in_flight(self, key: str, delta: int) -> int: ...


class MemoryCounters:
    """Counters in this process (the default; limits are per gateway process)."""

    def __init__(self) -> None:
        self._values: dict[str, tuple[int, float]] = {}
        self._in_flight: dict[str, int] = {}

    async def incr(self, key: str, amount: int, ttl_s: int) -> int:
        now = time.monotonic()
        value, expires = self._values.get(key, (0, now + ttl_s))
        if expires <= now:
            value, expires = 0, now + ttl_s
        self._values[key] = (value + amount, expires)
        if len(self._values) > 10_000:  # drop expired windows now and then
            self._values = {k: v for k, v in self._values.items() if v[1] > now}
        return value + amount

    async def get(self, key: str) -> int:
        value, expires = self._values.get(key, (0, 0.0))
        return value if expires > time.monotonic() else 0

    async def add_in_flight(self, key: str, delta: int) -> int:
        self._in_flight[key] = self._in_flight.get(key, 0) + delta
        return self._in_flight[key]


class RedisCounters:
    """Counters in Redis, shared by every gateway process that points at the same server."""

    def __init__(self, url: str, prefix: str = "keel:limits:") -> None:
        import redis.asyncio as redis

        self._redis = redis.from_url(url)
        self._prefix = prefix

    async def incr(self, key: str, amount: int, ttl_s: int) -> int:
        name = self._prefix + key
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.incrby(name, amount)
            pipe.expire(name, ttl_s, nx=True)
            value, _ = await pipe.execute()
        return int(value)

    async def get(self, key: str) -> int:
        value = await self._redis.get(self._prefix + key)
        return int(value or 0)

    async def add_in_flight(self, key: str, delta: int) -> int:
        name = self._prefix + "inflight:" + key
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.incrby(name, delta)
            # A crashed process cannot leak slots forever.
            pipe.expire(name, 15 * WINDOW_S)
            value, _ = await pipe.execute()
        return int(value)

    async def aclose(self) -> None:
        await self._redis.aclose()


class RateLimiter:
    """Admits or refuses a principal's request; counts its tokens afterwards."""

    def __init__(self, store: CounterStore, default: Limits) -> None:
        self.store = store
        self.default = default

    async def acquire(self, principal: Principal) -> bool:
        """Check and count one request; returns whether a concurrency slot was taken (release it after)."""
        limits = Limits.for_principal(principal, self.default)
        now = time.time()
        window, overlap = int(now // WINDOW_S), 1.0 - (now % WINDOW_S) / WINDOW_S
        who = principal.key_id

        async def used(name: str, current: int | None = None) -> float:
            this = await self.store.get(f"{name}:{who}:{window}") if current is None else current
            return this + overlap * await self.store.get(f"{name}:{who}:{window - 1}")

        if limits.tpm and (spent := await used("tpm")) >= limits.tpm:
            self._refuse(principal, f"token limit of {limits.tpm}/min reached", self._retry_after(now))
        if limits.rpm:
            count = await used("rpm", await self.store.incr(f"rpm:{who}:{window}", 1, TTL_S))
            if count > limits.rpm:
                await self.store.incr(f"rpm:{who}:{window}", -1, TTL_S)  # a refused request is not counted
                self._refuse(principal, f"request limit of {limits.rpm}/min reached", self._retry_after(now))
        if not limits.concurrency:
            return False
        if await self.store.add_in_flight(who, 1) > limits.concurrency:
            await self.store.add_in_flight(who, -1)
            self._refuse(principal, f"at most {limits.concurrency} concurrent requests", 1.0)
        return True

    async def release(self, principal: Principal) -> None:
        await asyncio.shield(self.store.add_in_flight(principal.key_id, -1))

    async def record_tokens(self, principal: Principal, tokens: int) -> None:
        if tokens > 0 and Limits.for_principal(principal, self.default).tpm:
            window = int(time.time() // WINDOW_S)
            await self.store.incr(f"tpm:{principal.key_id}:{window}", tokens, TTL_S)

    @staticmethod
    def _retry_after(now: float) -> float:
        """A hint: the previous bucket's weight has fallen off by the end of this one."""
        return max(1.0, WINDOW_S - now % WINDOW_S)

    @staticmethod
    def _refuse(principal: Principal, message: str, retry_after: float) -> None:
        metrics.RATE_LIMITED.labels(tenant=principal.tenant).inc()
        raise RateLimited(message, retry_after=retry_after)
