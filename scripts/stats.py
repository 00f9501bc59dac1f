"""The one percentile definition of the benchmark scripts (imported by them; not run on its own)."""

from __future__ import annotations

import math
import statistics
from typing import Sequence


def percentile(values: Sequence[float], q: int) -> float:
    """The q-th percentile (0 to 100) of ``values``, interpolated between the closest ranks.

    This is ``statistics.quantiles(values, n=100, method="inclusive")[q - 1]`` (so p50 is the median),
    with p0 the smallest value and p100 the largest; NaN when there are no values.
    """
    if not 0 <= q <= 100:
        raise ValueError(f"a percentile is between 0 and 100, got {q}")
    if not values:
        return math.nan
    if q == 0 or len(values) == 1:
        return min(values)
    if q == 100:
        return max(values)
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1]
