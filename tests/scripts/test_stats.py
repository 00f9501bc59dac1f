"""The benchmarks' one percentile (scripts/stats.py)."""

from __future__ import annotations

import math
import random

import pytest

from scripts.stats import percentile

ONE_TO_HUNDRED = [float(v) for v in range(1, 101)]


@pytest.mark.parametrize(("q", "expected"), [(50, 50.5), (95, 95.05), (99, 99.01), (1, 1.99), (0, 1.0), (100, 100.0)])
def test_percentiles_of_one_to_a_hundred(q: int, expected: float) -> None:
    assert percentile(ONE_TO_HUNDRED, q) == pytest.approx(expected)


def test_percentiles_interpolate_between_ranks_whatever_the_order() -> None:
    values = [40.0, 10.0, 30.0, 20.0]
    assert percentile(values, 50) == pytest.approx(25.0)
    assert percentile(values, 95) == pytest.approx(38.5)
    assert percentile(values, 99) == pytest.approx(39.7)


def test_the_median_is_p50() -> None:
    rng = random.Random(7)
    for size in (2, 3, 10, 11):
        values = [rng.uniform(0, 1000) for _ in range(size)]
        ordered = sorted(values)
        middle = size // 2
        median = ordered[middle] if size % 2 else (ordered[middle - 1] + ordered[middle]) / 2
        assert percentile(values, 50) == pytest.approx(median)


def test_one_value_is_every_percentile() -> None:
    assert [percentile([7.0], q) for q in (0, 50, 95, 99, 100)] == [7.0] * 5


def test_no_values_have_no_percentile() -> None:
    assert math.isnan(percentile([], 95))


@pytest.mark.parametrize("q", [-1, 101])
def test_a_percentile_outside_0_to_100_is_refused(q: int) -> None:
    with pytest.raises(ValueError, match="between 0 and 100"):
        percentile([1.0, 2.0], q)
