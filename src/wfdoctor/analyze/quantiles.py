"""Quantiles by linear interpolation between the closest ranks, in plain Python.

numpy's default percentile and Prometheus' `quantile()` define the same number.
The token path (`tokens`, `--capacity`, `council`, diagnose's token check) uses
this instead of numpy, whose import alone (about 70 ms) was a tenth of a short
`tokens` run's CPU (benchmarks/bench_token_client.py, "whole process").
"""

from __future__ import annotations

import math
from collections.abc import Sequence


def interpolated(ordered: Sequence[float], q: float) -> float:
    """The q-quantile (0 <= q <= 1) of values sorted ascending, written as Prometheus writes it."""
    rank = q * (len(ordered) - 1)
    lower = math.floor(rank)
    upper = min(len(ordered) - 1, lower + 1)
    weight = rank - lower
    return ordered[lower] * (1 - weight) + ordered[upper] * weight


def percentile(values: Sequence[float], percent: float) -> float | None:
    """The `percent`-th percentile of `values` (None when there are none)."""
    return interpolated(sorted(values), percent / 100) if values else None
