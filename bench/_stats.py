"""Numbers for the benchmark tables: percentiles, added latency against a baseline, ratios. Pure functions."""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass


def percentile(values: Sequence[float], q: float) -> float:
    """The q-th percentile (0..100), linearly interpolated between closest ranks (numpy's default)."""
    if not values:
        raise ValueError("percentile of no values")
    if not 0 <= q <= 100:
        raise ValueError(f"q must be within 0..100, got {q}")
    ordered = sorted(values)
    rank = q / 100 * (len(ordered) - 1)
    low = math.floor(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


@dataclass(frozen=True)
class Spread:
    """p50 and p99 of a sample, in the sample's unit."""

    n: int
    p50: float
    p99: float

    @classmethod
    def of(cls, values: Sequence[float]) -> Spread:
        return cls(len(values), percentile(values, 50), percentile(values, 99))


@dataclass(frozen=True)
class Added:
    """What a proxy adds on top of the direct path.

    ``p50``/``p99`` compare the two distributions (proxy pN minus direct pN); ``paired_p50`` is the median
    of per-round differences (proxy request minus the direct request of the same round), which cancels
    noise that hits both requests of a round alike.
    """

    p50: float
    p99: float
    paired_p50: float


def added(proxy: Sequence[float], direct: Sequence[float]) -> Added:
    """Added latency of ``proxy`` over ``direct``; both lists hold one value per round, in round order."""
    if len(proxy) != len(direct):
        raise ValueError(f"paired samples differ in length: {len(proxy)} vs {len(direct)}")
    p, d = Spread.of(proxy), Spread.of(direct)
    return Added(p.p50 - d.p50, p.p99 - d.p99, statistics.median(a - b for a, b in zip(proxy, direct, strict=True)))


def ratio(numerator: float, denominator: float) -> float | None:
    """numerator / denominator, or None where the denominator is not positive (no meaningful ratio)."""
    return numerator / denominator if denominator > 0 else None


def format_ratio(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.2f}x"
