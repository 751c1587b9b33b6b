"""`regress check` at scale: memory grows linearly in the points, and 300,000 points fit in 500 MB.

Each check runs in a child process (benchmarks/bench_regress_scaling.py's), so its peak resident
set is its own. Growth is compared within one run (the machine's baseline cancels out); the
500 MB bound is absolute, as memory does not depend on the machine's speed.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
from bench_regress_scaling import Case, imports_only, measure  # noqa: E402


def test_memory_grows_about_linearly_from_10k_to_100k_points() -> None:
    base = imports_only().peak_rss_mb
    small = measure(Case("10k", 1, 10_000), "noise").peak_rss_mb - base
    large = measure(Case("100k", 1, 100_000), "noise").peak_rss_mb - base
    assert large / small < 20, (small, large)   # 10x the points; the square would be 100x


@pytest.mark.slow
def test_300k_points_in_one_series_are_checked_in_under_500_mb() -> None:
    result = measure(Case("300k", 1, 300_000), "step")
    assert result.peak_rss_mb < 500 and result.discoveries == 1, result
