"""`regress check` at scale: memory grows linearly in the points, and 300,000 points fit in 500 MB;
20 series of 10,000 points are checked in a small multiple of what importing wfdoctor takes.

Each check runs in a child process (benchmarks/bench_regress_scaling.py's), so its peak resident
set is its own. Growth is compared within one run (the machine's baseline cancels out); the
500 MB bound is absolute, as memory does not depend on the machine's speed. Time is never
absolute: the 20 x 10,000 check is compared with a child that only imports wfdoctor (about
0.3 s where the check's target is 2 s) and with 20 x 1,000 points, measured in the same run.
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


def test_20_series_of_10k_points_cost_a_small_multiple_of_importing_wfdoctor() -> None:
    """Before the permutation test stopped at its decision level it took about 15 imports; now about 5."""
    imports = imports_only().child_s
    small = measure(Case("20 x 1k", 20, 1_000), "step")
    large = measure(Case("20 x 10k", 20, 10_000), "step")
    assert large.discoveries == 20 and small.discoveries == 20, (small, large)
    assert large.check_s < 10 * imports, (imports, large)   # was 14 to 15 imports; now 5 to 7
    assert large.check_s < 10 * small.check_s, (small, large)   # ten times the points: at most linear
