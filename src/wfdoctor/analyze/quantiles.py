"""Percentiles by linear interpolation between the closest ranks, in plain Python, as numpy computes them.

The token path (`tokens`, `--capacity`, `council`) uses this instead of numpy,
whose import alone (about 70 ms) was a tenth of a short `tokens` run's CPU
(benchmarks/bench_token_client.py, "whole process"). It gives numpy's default
percentile bit for bit: the interpolation is written as numpy writes it (exact
between equal neighbours, never outside them), not as Prometheus' quantile()
is (analyze/promql.py keeps that one, to match Prometheus).
"""

from __future__ import annotations

import math
from collections.abc import Sequence


def interpolated(ordered: Sequence[float], q: float) -> float:
    """The q-quantile (0 <= q <= 1) of values sorted ascending."""
    rank = q * (len(ordered) - 1)
    lower = math.floor(rank)
    upper = min(len(ordered) - 1, lower + 1)
    weight = rank - lower
    below, above = ordered[lower], ordered[upper]
    difference = above - below
    return above - difference * (1 - weight) if weight >= 0.5 else below + difference * weight


def percentile(values: Sequence[float], percent: float) -> float | None:
    """The `percent`-th percentile of `values` (None when there are none)."""
    return interpolated(sorted(values), percent / 100) if values else None
