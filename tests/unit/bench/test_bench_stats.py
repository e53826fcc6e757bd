"""The benchmark tables' arithmetic: percentiles, added latency over a baseline, ratios."""

from __future__ import annotations

import pytest

from bench._stats import Added, Spread, added, format_ratio, percentile, ratio


def test_percentile_interpolates_between_closest_ranks() -> None:
    values = [4.0, 1.0, 3.0, 2.0]  # unsorted on purpose
    assert percentile(values, 0) == 1.0
    assert percentile(values, 100) == 4.0
    assert percentile(values, 50) == pytest.approx(2.5)
    assert percentile(list(range(1, 101)), 99) == pytest.approx(99.01)
    assert percentile([7.0], 99) == 7.0


def test_percentile_refuses_empty_samples_and_bad_ranks() -> None:
    with pytest.raises(ValueError):
        percentile([], 50)
    with pytest.raises(ValueError):
        percentile([1.0], 101)


def test_spread_reports_size_median_and_tail() -> None:
    spread = Spread.of([10.0] * 99 + [1000.0])
    assert spread == Spread(n=100, p50=10.0, p99=pytest.approx(19.9))


def test_added_compares_distributions_and_pairs() -> None:
    direct = [1.0, 2.0, 3.0, 4.0, 5.0]
    proxy = [3.0, 3.0, 9.0, 5.0, 7.0]  # per-round differences: 2, 1, 6, 1, 2
    result = added(proxy, direct)
    assert result == Added(p50=5.0 - 3.0, p99=pytest.approx(8.92 - 4.96), paired_p50=2.0)


def test_added_refuses_unpaired_samples() -> None:
    with pytest.raises(ValueError, match="differ in length"):
        added([1.0, 2.0], [1.0])


def test_ratio_needs_a_positive_denominator() -> None:
    assert ratio(30.0, 10.0) == 3.0
    assert ratio(5.0, 0.0) is None
    assert ratio(5.0, -1.0) is None  # a proxy "faster" than direct is noise, not a ratio
    assert format_ratio(ratio(1.0, 4.0)) == "0.25x"
    assert format_ratio(None) == "n/a"
