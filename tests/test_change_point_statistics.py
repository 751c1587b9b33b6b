"""The pieces of the change-point detector, each on a small exact series.

The statistics (ranks, the Mann-Whitney z of every split, the permutation
p-value and when it stops early, the size and noise floors, the spread and
drift tests, Benjamini-Hochberg) are specified on series whose answer can be
worked out by hand; the permutation seeds are fixed, so a p-value is always
the same for the same data.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from wfdoctor.analyze.regression import (Change, Settings, _drift, _eliminate, _ranks, _robust_sd, _split_z,
                                         benjamini_hochberg, best_split, detect_changes, regression_at_end,
                                         spec_window_detector, window_test)

HIGHER = Settings(higher_is_better=True)   # tokens/s
LOWER = Settings(higher_is_better=False)   # latency
CLEAN_STEP = np.concatenate([np.arange(15.0), 100 + np.arange(15.0)])
NO_EXCEEDANCE_IN_200 = 1 / 201             # the p-value once 200 shuffles never reach the observed split


def rng() -> np.random.Generator:
    return np.random.default_rng(0)


def change(index: int, kind: str) -> Change:
    return Change(index, kind, 100.0, 90.0, 100.0, 90.0, -10.0, 0.001)


def test_ranks_start_at_one_and_ties_share_their_average_rank() -> None:
    assert list(_ranks(np.array([10.0, 20.0, 20.0, 5.0]))) == [2.0, 3.5, 3.5, 1.0]
    assert list(_ranks(np.array([7.0, 7.0, 7.0]))) == [2.0, 2.0, 2.0]


def test_every_split_with_min_size_points_each_side_gets_its_mann_whitney_z() -> None:
    rising = np.arange(1.0, 9.0)   # left of every split holds the smallest ranks: u = 0
    expected = [-7.5 / math.sqrt(15 * 9 / 12), -8 / math.sqrt(16 * 9 / 12), -7.5 / math.sqrt(15 * 9 / 12)]
    assert _split_z(rising, 3)[0] == pytest.approx(expected)
    both = _split_z(np.stack([rising, rising[::-1]]), 3)
    assert both.shape == (2, 3) and list(both[1]) == pytest.approx([-z for z in expected])
    assert _split_z(rising, 2).shape == (1, 5)


def test_a_segment_shorter_than_two_minimum_sides_has_no_split() -> None:
    assert best_split(np.arange(5.0), rng()) is None
    assert best_split(np.arange(5.0), rng(), min_size=2) is not None
    assert best_split(CLEAN_STEP, rng(), min_size=16) is None
    assert best_split(CLEAN_STEP, rng(), min_size=15) == (15, NO_EXCEEDANCE_IN_200)


def test_a_clear_step_is_split_at_its_first_new_point_after_200_shuffles() -> None:
    assert best_split(CLEAN_STEP, rng()) == (15, NO_EXCEEDANCE_IN_200)
    assert best_split(CLEAN_STEP[::-1].copy(), rng()) == (15, NO_EXCEEDANCE_IN_200)


def test_without_the_early_stop_a_clear_step_pays_for_every_permutation() -> None:
    assert best_split(CLEAN_STEP, rng(), stop_below=0.0) == (15, 1 / 500)
    assert best_split(CLEAN_STEP, rng(), permutations=99, stop_below=0.0) == (15, 1 / 100)


def test_a_flat_series_ties_every_shuffle_and_stops_after_the_first_batch() -> None:
    assert best_split(np.full(10, 3.0), rng()) == (3, 1.0)


def test_plain_noise_stops_after_the_first_batch_of_100_shuffles() -> None:
    noise = np.random.default_rng(1).standard_normal(30)
    assert best_split(noise, rng()) == (12, 27 / 101)
    assert best_split(noise, rng(), stop_above=27 / 101) == (12, 27 / 101)  # reaching stop_above is clear
    assert best_split(noise, rng(), stop_above=1.01) == (12, 158 / 500)     # never clear: all 499


def test_the_early_stop_below_needs_p_under_half_of_stop_below() -> None:
    assert best_split(CLEAN_STEP, rng(), stop_below=2 / 201) == (15, 1 / 301)  # 1/201 is not under 1/201


def test_a_borderline_split_pays_for_all_499_shuffles() -> None:
    values = np.random.default_rng(11).standard_normal(20)
    values[10:] += 0.9
    split, p_value = best_split(values, rng())  # type: ignore[misc]
    assert (split, p_value) == (10, 15 / 500)


def test_the_robust_sd_is_1_4826_times_the_median_absolute_deviation() -> None:
    assert _robust_sd(np.array([1.0, 2.0, 3.0, 4.0, 100.0])) == 1.4826
    assert _robust_sd(np.array([5.0, 5.0, 5.0])) == 0.0


def test_the_default_settings() -> None:
    settings = Settings(True)
    assert (settings.min_effect, settings.alpha, settings.relaxed_alpha, settings.min_size, settings.noise_factor,
            settings.seed) == (0.05, 0.01, 0.05, 3, 1.0, 0)


# The window test: two samples, Mann-Whitney, then the size and noise floors of the change.

OLD = [128.0] * 10
RECENT = [96.0] * 10
SEPARATED_P = math.erfc(50 / math.sqrt(10 * 10 * 21 / 12) / math.sqrt(2))  # u = 0 of 100: the smallest p


def test_the_window_test_sizes_a_change_from_means_and_reports_medians() -> None:
    old = [99.0] * 5 + [101.0] * 4 + [110.0]
    found = window_test(old, [90.0] * 10, HIGHER)
    assert found == Change(10, "regression", 100.0, 90.0, 100.9, 90.0, (90.0 / 100.9 - 1) * 100, SEPARATED_P)


def test_the_window_test_takes_its_direction_from_polarity() -> None:
    assert window_test(OLD, RECENT, HIGHER).kind == "regression"   # type: ignore[union-attr]
    assert window_test(OLD, RECENT, LOWER).kind == "improvement"   # type: ignore[union-attr]
    assert window_test(RECENT, OLD, HIGHER).kind == "improvement"  # type: ignore[union-attr]
    assert window_test(RECENT, OLD, LOWER).kind == "regression"    # type: ignore[union-attr]


def test_the_window_test_needs_min_samples_each_side() -> None:
    assert window_test(OLD[:9], RECENT, HIGHER) is None
    assert window_test(OLD, RECENT[:9], HIGHER) is None
    assert window_test(OLD[:9], RECENT[:9], HIGHER, min_samples=9) is not None


def test_the_window_test_p_value_must_be_below_alpha() -> None:
    at_alpha = Settings(True, alpha=SEPARATED_P)
    assert window_test(OLD, RECENT, at_alpha) is None
    assert window_test(OLD, RECENT, Settings(True, alpha=math.nextafter(SEPARATED_P, 1.0))) is not None
    overlapping = [96.0] * 5 + [128.0] * 5
    assert window_test(OLD, overlapping, Settings(True, alpha=0.5, min_effect=0.01)) is None  # p = 0.56


def test_a_change_of_exactly_min_effect_counts_and_a_hair_less_does_not() -> None:
    assert window_test(OLD, RECENT, Settings(True, min_effect=0.25)).change_pct == -25.0  # type: ignore[union-attr]
    assert window_test(OLD, RECENT, Settings(True, min_effect=math.nextafter(0.25, 1.0))) is None
    assert window_test(RECENT, OLD, Settings(True, min_effect=0.33)) is not None  # +33 %: size, not sign


def test_a_change_from_a_zero_level_has_no_size() -> None:
    assert window_test([0.0] * 10, [5.0] * 10, HIGHER) is None


def test_a_shift_must_exceed_noise_factor_times_the_pooled_robust_sd() -> None:
    old, recent = [99.0, 101.0] * 5, [102.0, 106.0] * 5       # robust sd 1.4826 and 2.9652, shift 4
    pooled = math.sqrt((1.4826 ** 2 + 2.9652 ** 2) / 2)         # 2.344
    at_shift = 4 / pooled
    assert at_shift * pooled == 4.0
    assert window_test(old, recent, Settings(False, min_effect=0.01, noise_factor=at_shift)) is None
    below = Settings(False, min_effect=0.01, noise_factor=math.nextafter(at_shift, 0.0))
    assert window_test(old, recent, below) == Change(10, "regression", 100.0, 104.0, 100.0, 104.0,
                                                     pytest.approx(4.0), SEPARATED_P)


# Whole series: located, sized, tested, labelled.

def test_a_step_down_in_throughput_is_one_regression_with_its_size_and_revision() -> None:
    values = [100.0] * 15 + [80.0] * 15
    [found] = detect_changes(values, HIGHER, revisions=[f"r{i}" for i in range(30)])
    assert found == Change(15, "regression", 100.0, 80.0, 100.0, 80.0, (0.8 - 1) * 100, NO_EXCEEDANCE_IN_200, "r15")


def test_a_change_beyond_the_revisions_given_has_no_revision() -> None:
    [found] = detect_changes([100.0] * 15 + [80.0] * 15, HIGHER, revisions=["r0"] * 15)
    assert found.revision == ""
    assert detect_changes([100.0] * 15 + [80.0] * 15, HIGHER, revisions=[])[0].revision == ""


def test_two_steps_are_two_changes_in_order_each_sized_against_its_neighbours() -> None:
    values = [100.0] * 12 + [80.0] * 12 + [60.0] * 12
    found = detect_changes(values, HIGHER)
    assert [(c.index, c.kind, c.before, c.after) for c in found] == [(12, "regression", 100.0, 80.0),
                                                                     (24, "regression", 80.0, 60.0)]
    assert [c.change_pct for c in found] == pytest.approx([-20.0, -25.0])


def test_a_change_after_just_min_size_points_is_found_at_its_place() -> None:
    assert [c.index for c in detect_changes([100.0] * 3 + [80.0] * 12, HIGHER)] == [3]
    assert [c.index for c in detect_changes([100.0] * 4 + [80.0] * 12, HIGHER)] == [4]
    [late] = detect_changes([100.0] * 4 + [80.0] * 12, Settings(True, min_size=5))   # no split before 5
    assert (late.index, late.mean_before, late.mean_after, late.p_value) == (5, 96.0, 80.0, 3 / 500)


def test_a_change_is_sized_against_every_point_before_it() -> None:
    [found] = detect_changes([90.0] + [100.0] * 14 + [80.0] * 15, HIGHER)
    assert (found.index, found.before, found.mean_before) == (15, 100.0, pytest.approx(1490 / 15))


def test_a_step_smaller_than_min_effect_is_not_a_change() -> None:
    values = [100.0] * 15 + [96.0] * 15
    assert detect_changes(values, HIGHER) == []
    assert [c.kind for c in detect_changes(values, Settings(True, min_effect=0.04))] == ["regression"]


def test_a_weak_candidate_is_retested_between_its_neighbours_not_against_the_whole_history() -> None:
    noisy_80 = 80 + np.random.default_rng(4).normal(0.0, 1.0, 30)
    values = np.concatenate([[100.0] * 15, noisy_80])
    assert _eliminate(values, [15, 37], HIGHER) == ([15], [NO_EXCEEDANCE_IN_200])
    noisy_100 = 100 + np.random.default_rng(3).normal(0.0, 1.0, 15)
    three = np.concatenate([noisy_100, [80.0] * 15, [60.0] * 15])
    assert _eliminate(three, [7, 15, 30], HIGHER) == ([15, 30], [NO_EXCEEDANCE_IN_200] * 2)


def test_a_candidate_with_too_few_points_to_its_neighbours_is_dropped() -> None:
    values = np.array([100.0] * 15 + [80.0] * 15 + [60.0] * 15)
    assert _eliminate(values, [15, 18, 20, 30], HIGHER) == ([15, 30], [NO_EXCEEDANCE_IN_200] * 2)
    assert _eliminate(values[:15], [7], HIGHER) == ([], [])


def test_a_candidate_must_pass_the_strict_alpha_between_its_neighbours() -> None:
    values = [100.0] * 15 + [80.0] * 15
    assert detect_changes(values, Settings(True, alpha=NO_EXCEEDANCE_IN_200)) == []
    assert detect_changes(values, Settings(True, relaxed_alpha=NO_EXCEEDANCE_IN_200)) == []
    assert len(detect_changes(values, Settings(True, alpha=0.0051, relaxed_alpha=0.0051))) == 1


QUIET = [99.0, 101.0] * 10     # robust sd 1.4826
LOUD = [95.0, 105.0] * 10      # robust sd 7.413


def test_a_spread_that_grows_fivefold_at_the_same_level_is_noise_increased() -> None:
    [found] = detect_changes(QUIET + LOUD, HIGHER, revisions=[f"r{i}" for i in range(40)])
    assert found == Change(20, "noise increased", 100.0, 100.0, 100.0, 100.0, 400.0, NO_EXCEEDANCE_IN_200, "r20")
    [calmer] = detect_changes(LOUD + QUIET, HIGHER)
    assert (calmer.index, calmer.kind, calmer.change_pct) == (20, "noise decreased", pytest.approx(-80.0))


def test_a_spread_change_of_exactly_one_and_a_half_times_counts() -> None:
    wider = [98.5, 101.5] * 10
    assert _robust_sd(np.array(wider)) == 1.5 * _robust_sd(np.array(QUIET))
    assert [c.kind for c in detect_changes(QUIET + wider, HIGHER)] == ["noise increased"]
    assert [c.kind for c in detect_changes(wider + QUIET, HIGHER)] == ["noise decreased"]
    assert detect_changes(QUIET + [98.51, 101.49] * 10, HIGHER) == []


def test_a_spread_change_needs_min_size_points_after_it() -> None:
    assert [(c.index, c.kind) for c in detect_changes(QUIET + LOUD[:4], HIGHER)] == [(20, "noise increased")]
    assert detect_changes(QUIET + LOUD[:4], Settings(True, min_size=5)) == []


def test_a_spread_change_needs_the_strict_alpha_and_a_nonzero_spread_before() -> None:
    assert detect_changes(QUIET + LOUD, Settings(True, alpha=NO_EXCEEDANCE_IN_200)) == []
    assert detect_changes([100.0] * 20 + LOUD, HIGHER) == []


def test_no_spread_change_is_reported_beside_a_level_change() -> None:
    assert [(c.index, c.kind) for c in detect_changes(QUIET + LOUD, HIGHER)] == [(20, "noise increased")]
    with_a_drop = QUIET + LOUD + [84.0, 86.0] * 4
    assert [(c.index, c.kind) for c in detect_changes(with_a_drop, HIGHER)] == [(40, "regression")]


DECLINE = list(100 - np.arange(10.0))   # -1 per point, median 95.5: -9 / 95.5 over the window


def test_a_steady_decline_of_throughput_is_drift_sized_by_its_theil_sen_total() -> None:
    [found] = _drift(np.array(DECLINE), [], HIGHER)
    assert found == Change(0, "drift", 100.0, 91.0, 98.0, 93.0, -9 / 95.5 * 100, found.p_value)
    assert found.p_value < HIGHER.alpha


def test_drift_is_only_reported_in_the_worse_direction() -> None:
    assert _drift(np.array(DECLINE), [], LOWER) == []
    assert [c.kind for c in _drift(np.array(DECLINE[::-1]), [], LOWER)] == ["drift"]
    small_rise = 10 + np.arange(10.0) / 10          # +0.9 in all: 8.6 % of its level
    assert _drift(small_rise, [], HIGHER) == []
    assert [c.kind for c in _drift(small_rise, [], LOWER)] == ["drift"]


def test_drift_needs_ten_points_in_the_last_regime() -> None:
    assert _drift(np.array(DECLINE[:9]), [], HIGHER) == []


def test_drift_is_looked_for_after_the_latest_level_change_only() -> None:
    values = np.array([50.0] * 5 + DECLINE)
    [after_step] = _drift(values, [change(5, "regression"), change(2, "improvement")], HIGHER)
    assert (after_step.index, after_step.before, after_step.after) == (5, 100.0, 91.0)
    [after_gain] = _drift(values, [change(2, "regression"), change(5, "improvement")], HIGHER)
    assert after_gain.index == 5
    assert _drift(values, [change(5, "noise increased")], HIGHER) == []   # the whole series: up, then down


def test_drift_needs_the_strict_alpha_a_nonzero_level_and_min_effect() -> None:
    p_value = _drift(np.array(DECLINE), [], HIGHER)[0].p_value
    assert _drift(np.array(DECLINE), [], Settings(True, alpha=p_value)) == []
    assert _drift(np.arange(11.0)[::-1] - 5, [], HIGHER) == []                      # median 0: no relative size
    assert _drift(np.array(DECLINE), [], Settings(True, min_effect=9 / 95.5)) != []
    assert _drift(np.array(DECLINE), [], Settings(True, min_effect=0.095)) == []


def test_a_slow_decline_is_drift_from_the_start() -> None:
    slow = list(100 - np.arange(20.0) * 0.5)
    assert [(c.index, c.kind) for c in detect_changes(slow, HIGHER)] == [(0, "drift")]
    assert detect_changes(slow[::-1], HIGHER) == []


# What counts at the end, and across many series.

def test_the_latest_level_change_counts_at_the_end_when_it_is_a_regression() -> None:
    assert regression_at_end([change(3, "improvement"), change(9, "regression")], 12) == change(9, "regression")
    assert regression_at_end([change(9, "regression"), change(3, "improvement")], 12) == change(9, "regression")
    assert regression_at_end([change(3, "regression"), change(9, "improvement")], 12) is None
    assert regression_at_end([change(9, "drift")], 12) == change(9, "drift")


def test_spread_changes_do_not_count_at_the_end() -> None:
    assert regression_at_end([change(3, "regression"), change(9, "noise increased")], 12) == change(3, "regression")
    assert regression_at_end([change(9, "noise decreased")], 12) is None
    assert regression_at_end([], 12) is None


def test_a_regression_counts_at_the_end_with_min_after_points_from_its_first() -> None:
    assert regression_at_end([change(9, "regression")], 12) is not None         # points 9, 10, 11
    assert regression_at_end([change(10, "regression")], 12) is None
    assert regression_at_end([change(10, "regression")], 12, min_after=2) is not None


def test_benjamini_hochberg_steps_up_to_the_largest_rank_under_its_line() -> None:
    assert benjamini_hochberg([0.04, 0.05]) == [True, True]          # 0.05 <= 0.05 x 2/2 lifts rank 1 too
    assert benjamini_hochberg([0.05]) == [True]
    assert benjamini_hochberg([0.0500001]) == [False]
    assert benjamini_hochberg([0.2, 0.6]) == [False, False]
    assert benjamini_hochberg([0.3, 0.01, 0.02]) == [False, True, True]
    assert benjamini_hochberg([0.02, 0.05], q=0.04) == [True, False]
    assert benjamini_hochberg([]) == []


def test_the_specs_window_detector_is_a_15_percent_mean_change_over_10_points_each_side() -> None:
    assert spec_window_detector([100.0] * 10, [84.0] * 10, higher_is_better=True)
    assert not spec_window_detector([100.0] * 10, [86.0] * 10, higher_is_better=True)
    assert spec_window_detector([100.0] * 10, [116.0] * 10, higher_is_better=False)
    assert not spec_window_detector([100.0] * 10, [84.0] * 10, higher_is_better=False)
    assert not spec_window_detector([100.0] * 10, [114.0] * 10, higher_is_better=False)
    assert not spec_window_detector([100.0] * 9, [50.0] * 10, higher_is_better=True)
    assert not spec_window_detector([100.0] * 10, [50.0] * 9, higher_is_better=True)
    assert not spec_window_detector([0.0] * 10, [50.0] * 10, higher_is_better=False)


def test_the_specs_threshold_itself_is_not_a_detection() -> None:
    assert not spec_window_detector([128.0] * 10, [96.0] * 10, True, threshold=0.25)
    assert spec_window_detector([128.0] * 10, [96.0] * 10, True, threshold=math.nextafter(0.25, 0.0))
    assert not spec_window_detector([96.0] * 10, [120.0] * 10, False, threshold=0.25)
    assert spec_window_detector([96.0] * 10, [120.0] * 10, False, threshold=math.nextafter(0.25, 0.0))
