"""analyze/compare: the before/after test behind `wfdoctor compare` and troubleshoot's validation."""

from __future__ import annotations

import numpy as np
import pytest

from wfdoctor.analyze.compare import cliffs_delta, compare_samples, compare_values
from wfdoctor.config.facts import load_facts
from wfdoctor.model import Sample, Verdict

LIMITS = load_facts().limits.compare     # alpha 0.01, min_effect 5 %, min_samples 5, 95 % interval
LOWER_IS_BETTER, HIGHER_IS_BETTER = False, True


def compared(before: list[float], after: list[float], higher_is_better: bool | None = LOWER_IS_BETTER,
             **limits: float):
    return compare_values("wf_llm_request_ttft_seconds", {}, "s", higher_is_better, before, after,
                          LIMITS.model_copy(update=limits))


def test_the_exact_p_of_three_against_three_is_the_share_of_splits_as_extreme() -> None:
    # 20 ways to choose 3 of 6 ranks. Fully separated: U = 0; as extreme are U = 0 and U = 9, one split each.
    assert compared([1, 2, 3], [4, 5, 6], min_samples=3).p_value == pytest.approx(2 / 20)
    # Ranks {1, 2, 4} give U = 1; as extreme: U in {0, 1, 8, 9}, one split each.
    assert compared([1, 2, 4], [3, 5, 6], min_samples=3).p_value == pytest.approx(4 / 20)


def test_the_exact_p_counts_tied_values_by_their_mid_ranks() -> None:
    # Pooled 1, 1, 2, 2, 3, 3 -> mid-ranks 1.5, 1.5, 3.5, 3.5, 5.5, 5.5; before {1, 1, 2} has U = 6.5 - 6 = 0.5,
    # |U - 4.5| = 4: as extreme are the splits with U <= 0.5 or >= 8.5, i.e. {1,1,2} twice and {3,3,2} twice.
    assert compared([1, 1, 2], [2, 3, 3], min_samples=3).p_value == pytest.approx(4 / 20)


def test_cliffs_delta_is_one_or_minus_one_for_separated_samples_and_zero_for_identical_ones() -> None:
    low, high = np.array([1.0, 2.0, 3.0]), np.array([10.0, 11.0, 12.0])
    assert cliffs_delta(low, high) == 1.0
    assert cliffs_delta(high, low) == -1.0
    assert cliffs_delta(low, low.copy()) == 0.0


def test_the_bootstrap_interval_contains_a_known_shift_of_the_median() -> None:
    rng = np.random.default_rng(7)
    before = rng.normal(0.100, 0.005, 60)
    after = rng.normal(0.100, 0.005, 60) * 1.20        # medians 20 % apart
    result = compared(list(before), list(after))
    assert result.change_low is not None and result.change_high is not None
    assert result.change_low < 0.20 < result.change_high
    assert result.verdict is Verdict.WORSE               # TTFT: lower is better


def test_a_clear_shift_in_the_better_direction_is_improved() -> None:
    result = compared([40, 41, 42, 43, 44, 45], [60, 61, 62, 63, 64, 65], HIGHER_IS_BETTER)
    assert result.verdict is Verdict.IMPROVED and result.effect_size == 1.0
    assert result.change == pytest.approx(62.5 / 42.5 - 1)


def test_fewer_measurements_than_min_samples_on_a_side_is_inconclusive_never_unchanged() -> None:
    result = compared([1, 2, 3, 4], [10, 11, 12, 13, 14, 15])
    assert result.verdict is Verdict.INCONCLUSIVE
    assert result.p_value is None and "4 measurement(s) before" in result.reason


def test_a_metric_without_a_better_direction_is_inconclusive_even_when_it_moved() -> None:
    result = compared([1, 2, 3, 4, 5, 6], [10, 11, 12, 13, 14, 15], higher_is_better=None)
    assert result.verdict is Verdict.INCONCLUSIVE and "no better direction" in result.reason
    assert result.p_value is not None and result.p_value < LIMITS.alpha


@pytest.mark.parametrize("size", [5, 40])     # the exact test, and the normal approximation with ties corrected
def test_identical_values_everywhere_are_unchanged_with_p_one(size: int) -> None:
    result = compared([0.5] * size, [0.5] * size)
    assert result.verdict is Verdict.UNCHANGED
    assert result.p_value == 1.0 and result.effect_size == 0.0 and result.change == 0.0


def test_a_significant_shift_smaller_than_min_effect_is_unchanged() -> None:
    before = [100.0 + i * 0.01 for i in range(30)]
    after = [101.0 + i * 0.01 for i in range(30)]       # every value higher, by 1 %
    result = compared(before, after)
    assert result.p_value is not None and result.p_value < LIMITS.alpha
    assert result.verdict is Verdict.UNCHANGED and "shift below 5%" in result.reason


def test_the_change_of_a_negative_median_keeps_the_direction_of_the_shift() -> None:
    # -10 -> -5 is a rise: +50 % of |before|, not the -50 % that after / before - 1 would say.
    result = compared([-10.2, -10.1, -10, -9.9, -9.8], [-5.2, -5.1, -5, -4.9, -4.8], HIGHER_IS_BETTER)
    assert result.change == pytest.approx(0.5)
    assert result.change_low is not None and result.change_low > 0
    assert result.verdict is Verdict.IMPROVED         # five fully above five: p = 2 / 252 < 0.01


def test_series_are_metric_plus_stable_labels_and_a_series_on_one_side_only_is_inconclusive() -> None:
    def ttft(value: float, request: int, concurrency: str = "1") -> Sample:
        return Sample("wf_llm_request_ttft_seconds", value, "s", "test",
                      {"concurrency": concurrency, "request": str(request)})

    before = [ttft(0.1, i) for i in range(6)]
    after = [ttft(0.1, i) for i in range(6)] + [ttft(0.2, i, "2") for i in range(6)]
    results = compare_samples(before, after, lambda name: False, LIMITS)
    assert [(r.labels, r.before_n, r.after_n, r.verdict) for r in results] == [
        ({"concurrency": "1"}, 6, 6, Verdict.UNCHANGED), ({"concurrency": "2"}, 0, 6, Verdict.INCONCLUSIVE)]


def test_many_series_at_once_keep_only_the_benjamini_hochberg_discoveries() -> None:
    """Twelve series: one clearly shifted, one shifted just enough to pass alone at p < 0.01 but not as one of
    twelve (BH at 0.01 needs p <= 0.01 x 2 / 12 at its rank), ten unchanged: only the clear one stays a change."""
    base = [float(v) for v in range(10, 20)]

    def samples(values: list[float], series: int) -> list[Sample]:
        return [Sample("wf_llm_request_ttft_seconds", v, "s", "test", {"series": str(series)}) for v in values]

    borderline = [v + 5 for v in base]
    alone = compared(base, borderline)
    assert alone.verdict is Verdict.WORSE and 0.0017 < (alone.p_value or 0) < 0.01
    before = [s for i in range(12) for s in samples(base, i)]
    after = samples([v + 100 for v in base], 0) + samples(borderline, 1) + \
        [s for i in range(2, 12) for s in samples(base, i)]
    judged = compare_samples(before, after, lambda metric: False, LIMITS)
    assert [c.verdict for c in judged] == [Verdict.WORSE] + [Verdict.UNCHANGED] * 11
    assert "Benjamini-Hochberg" in judged[1].reason
