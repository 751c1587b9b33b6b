"""Quantiles without numpy: the same numbers as numpy's default percentile, and the token path stays numpy-free."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from wfdoctor.analyze.quantiles import percentile
from wfdoctor.analyze.tokens import Distribution

finite = st.floats(min_value=-1e9, max_value=1e9, allow_nan=False)


@given(values=st.lists(finite, min_size=1, max_size=200), percent=st.floats(0, 100))
def test_a_percentile_is_numpys_linear_interpolation_bit_for_bit(values: list[float], percent: float) -> None:
    assert percentile(values, percent) == float(np.percentile(values, percent))


def test_equal_neighbours_give_their_value_exactly() -> None:
    assert percentile([1.5] * 5, 5) == 1.5  # Prometheus' formula gives 1.5000000000000002


@given(values=st.lists(finite, min_size=1, max_size=200))
def test_a_distribution_has_numpys_percentiles_mean_and_sample_deviation(values: list[float]) -> None:
    dist = Distribution.of(values)
    data = np.asarray(values)
    assert dist is not None and dist.n == len(values)
    assert [dist.p50, dist.p90, dist.p95, dist.p99] == [float(v) for v in np.percentile(data, [50, 90, 95, 99])]
    # the mean and deviation sum exactly (math.fsum), numpy pairwise: equal to rounding
    expected = [data.mean(), data.std(ddof=1) if len(values) > 1 else 0.0]
    assert [dist.mean, dist.sd] == pytest.approx(expected, rel=1e-9, abs=1e-6)
    assert (dist.min, dist.max) == (min(values), max(values))


def test_nothing_has_no_percentile() -> None:
    assert percentile([], 50) is None and Distribution.of([]) is None


def test_the_token_path_starts_without_importing_numpy() -> None:
    """numpy's import is about 70 ms: only the memory-bandwidth measurement loads it, when it runs."""
    probe = ("import sys; import wfdoctor.surface.cli, wfdoctor.app.tokens, wfdoctor.app.capacity, "
             "wfdoctor.app.council, wfdoctor.surface.views.tokens; "
             "print('numpy' in sys.modules)")
    assert subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                          check=True).stdout.strip() == "False"
