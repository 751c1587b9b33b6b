"""The statistics under the leak verdict, each on a short series whose answer can be worked out by hand,
then the verdict's branches and the text a user reads (findings and the diagnose sample)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from tests.builders import FACTS, REMEDIES, rippled_memory
from wfdoctor.analyze.leaks import (LeakVerdict, Slope, Step, TrendTest, _autocorrelation_factor, _inverse_erf,
                                    _pairwise, breakpoint, find_steps, leak_findings, leak_rate_sample, leak_verdict,
                                    thin, trend_and_slope)
from wfdoctor.model import Priority

LEAKS = FACTS.limits.leaks
FLOOR = float(FACTS.common["memory_leak_bytes_per_minute"])
RAMP = 2.0 ** 18          # bytes per second, above the packaged floor
MB = 1e6


def judge(series: tuple[list[float], list[float]], available: float | None = None) -> LeakVerdict:
    return leak_verdict(*series, available, limits=LEAKS, floor_bytes_per_minute=FLOOR)


def arrays(series: tuple[list[float], list[float]]) -> tuple[np.ndarray, np.ndarray]:
    return np.asarray(series[0]), np.asarray(series[1])


# Thinning: block means, so a long watch costs no more than 1,000 points.

def test_a_series_within_the_limit_is_left_as_it_is() -> None:
    t, y = np.arange(10.0), np.arange(10.0) * 2
    assert thin(t, y, 10) == (t, y)


def test_a_longer_series_becomes_block_means_dropping_the_incomplete_last_block() -> None:
    t, y = np.arange(10.0), np.arange(10.0) * 2
    tb, yb = thin(t, y, 4)                       # blocks of 3: 0-2, 3-5, 6-8; point 9 dropped
    assert (list(tb), list(yb)) == ([1.0, 4.0, 7.0], [2.0, 8.0, 14.0])
    tb, yb = thin(t, y, 5)                       # blocks of 2
    assert (list(tb), list(yb)) == ([0.5, 2.5, 4.5, 6.5, 8.5], [1.0, 5.0, 9.0, 13.0, 17.0])


def test_the_default_limit_is_1000_points() -> None:
    assert len(thin(np.arange(1000.0), np.arange(1000.0))[0]) == 1000
    assert len(thin(np.arange(1001.0), np.arange(1001.0))[0]) == 500


# Mann-Kendall and Theil-Sen.

def test_every_pair_gives_a_sign_and_pairs_apart_in_time_give_a_slope() -> None:
    signs, slopes = _pairwise(np.array([0.0, 1.0, 1.0]), np.array([0.0, 2.0, 1.0]))
    assert list(signs) == [1.0, 1.0, -1.0]      # pairs (0,1), (0,2), (1,2)
    assert list(slopes) == [2.0, 1.0]           # (1,2) share a timestamp: no slope


def test_residuals_without_spread_need_no_correction() -> None:
    assert _autocorrelation_factor(np.full(10, 3.0)) == 1.0


def test_the_variance_factor_adds_the_significant_lags_of_the_autocorrelation() -> None:
    # 8 highs then 8 lows: rho_1 = 13/16, rho_2 = 10/16 exceed 1.96/4; rho_3 = 7/16 does not, and ends the sum.
    factor = _autocorrelation_factor(np.array([1.0] * 8 + [-1.0] * 8))
    assert factor == 1 + 2 * (1 - 1 / 16) * 13 / 16 + 2 * (1 - 2 / 16) * 10 / 16 == 3.6171875


def test_a_lag_exactly_at_the_95_percent_limit_ends_the_sum() -> None:
    residuals = np.array([-3, -2, 0, -3, -1, 3, 2, 4, 3, 0, -1, -4, -2, -1, 1, 4], dtype=float)
    assert np.dot(residuals[:-1], residuals[1:]) / np.dot(residuals, residuals) == 1.96 / math.sqrt(16)
    assert _autocorrelation_factor(residuals) == 1.0


def test_the_sum_runs_over_lags_up_to_half_the_series() -> None:
    # A trend left in the residuals: on 1,000 points its lags stay significant up to lag 338, past a third.
    assert _autocorrelation_factor(np.arange(1000.0)) == pytest.approx(305.8175485878864, rel=1e-9)


def test_negative_autocorrelation_never_shrinks_the_variance() -> None:
    assert _autocorrelation_factor(np.array([1.0, -1.0] * 8)) == 1.0


def test_mann_kendall_and_theil_sen_on_four_points_by_hand() -> None:
    trend, slope = trend_and_slope(np.arange(4.0), np.array([0.0, 1.0, 3.0, 2.0]))
    # five pairs rise, one falls: S = 4; Var S = 4 x 3 x 13 / 18; z = (S - 1) / sd
    z = 3 / math.sqrt(4 * 3 * 13 / 18)
    assert trend == TrendTest(4, 4.0, z, math.erfc(z / math.sqrt(2)), 1.0)
    # pair slopes -1, 1/2, 2/3, 1, 3/2, 2: the median 5/6; the 95 % interval spans them all
    assert slope == Slope(pytest.approx(5 / 6), -1.0, 2.0)


def test_tied_values_shrink_the_variance() -> None:
    trend, slope = trend_and_slope(np.arange(5.0), np.array([0.0, 0.0, 1.0, 1.0, 2.0]))
    # S = 8; two ties of two remove 2 x (2 x 1 x 9) from 5 x 4 x 15
    assert (trend.s, trend.z) == (8.0, pytest.approx(7 / math.sqrt((300 - 36) / 18)))
    assert slope == Slope(0.5, 0.0, 1.0)


def test_a_falling_series_has_a_negative_z() -> None:
    trend, slope = trend_and_slope(np.arange(4.0), np.array([2.0, 3.0, 1.0, 0.0]))
    assert (trend.s, trend.z) == (-4.0, pytest.approx(-3 / math.sqrt(4 * 3 * 13 / 18)))
    assert slope.per_second < 0


def test_as_many_falls_as_rises_is_no_trend() -> None:
    trend, _ = trend_and_slope(np.arange(3.0), np.array([0.0, 1.0, 0.0]))
    assert (trend.s, trend.z, trend.p_value) == (0.0, 0.0, 1.0)


def test_a_flat_series_has_no_trend_and_no_slope() -> None:
    trend, slope = trend_and_slope(np.arange(5.0), np.full(5, 7.0))
    assert trend == TrendTest(5, 0.0, 0.0, 1.0, 1.0)
    assert slope == Slope(0.0, 0.0, 0.0)


def test_samples_all_at_one_instant_have_a_trend_in_order_but_no_slope() -> None:
    trend, slope = trend_and_slope(np.full(3, 5.0), np.array([1.0, 2.0, 3.0]))
    assert trend.s == 3.0 and slope == Slope(0.0, 0.0, 0.0)


def test_a_narrower_confidence_gives_a_narrower_interval() -> None:
    t = np.arange(30.0)
    y = t + np.random.default_rng(0).normal(0.0, 3.0, 30)
    wide, narrow = trend_and_slope(t, y)[1], trend_and_slope(t, y, confidence=0.5)[1]
    assert narrow.per_second == wide.per_second
    assert wide.low < narrow.low < narrow.per_second < narrow.high < wide.high


def test_the_inverse_error_function_inverts_erf() -> None:
    assert _inverse_erf(0.0) == 0.0
    assert _inverse_erf(math.erf(1.0)) == pytest.approx(1.0, abs=1e-12)
    assert _inverse_erf(math.erf(-0.3)) == pytest.approx(-0.3, abs=1e-12)
    assert math.sqrt(2) * _inverse_erf(0.95) == pytest.approx(1.959963984540054, abs=1e-12)


# Warm-up and plateau: the best two-segment fit, kept only when BIC prefers it.

def test_a_rise_then_flat_breaks_where_the_rise_stops() -> None:
    index, before, after = breakpoint(*arrays(rippled_memory((40, RAMP), (80, 0.0))))  # type: ignore[misc]
    assert index == 40 and before == pytest.approx(RAMP, rel=0.01) and after == pytest.approx(0.0, abs=1e-6)


def test_a_flat_then_rising_series_breaks_where_the_rise_starts() -> None:
    index, before, after = breakpoint(*arrays(rippled_memory((40, 0.0), (80, RAMP))))  # type: ignore[misc]
    assert index == 40 and before == pytest.approx(0.0, abs=1e3) and after == pytest.approx(RAMP)


def test_one_straight_line_has_no_breakpoint() -> None:
    assert breakpoint(*arrays(rippled_memory((120, RAMP)))) is None


def test_a_series_that_fits_one_line_exactly_has_no_breakpoint() -> None:
    assert breakpoint(np.arange(30.0), np.zeros(30)) is None


def test_a_breakpoint_needs_20_points() -> None:
    assert breakpoint(*arrays(rippled_memory((9, 8 * RAMP), (9, 0.0)))) is None          # 19 points
    assert breakpoint(*arrays(rippled_memory((10, 8 * RAMP), (9, 0.0))))[0] == 10  # type: ignore[index]


@pytest.mark.parametrize(("points", "rise_s", "found"), [(110, 50, 50), (150, 76, 77), (200, 100, 100)])
def test_the_break_is_searched_on_a_grid_of_at_most_about_60_splits(points: int, rise_s: int, found: int) -> None:
    # Splits from 10 % to 90 % of the series, every (span // 60)th: every one on 110 points (11-98),
    # every 2nd on 150 (15, 17, ..., so 76 is missed for 77) and on 200 (20, 22, ...).
    series = arrays(rippled_memory((rise_s, RAMP), (points - 1 - rise_s, 0.0)))
    assert breakpoint(*series)[0] == found  # type: ignore[index]


def test_bic_must_prefer_two_lines_by_more_than_10() -> None:
    def series(ripple: float) -> tuple[np.ndarray, np.ndarray]:
        return arrays(rippled_memory((20, 1000.0), (39, 0.0), start=0.0, ripple=ripple))

    def sse(t: np.ndarray, y: np.ndarray) -> float:
        slope, intercept = np.polyfit(t, y, 1)
        return float(np.sum((y - (slope * t + intercept)) ** 2))

    def margin(ripple: float) -> float:
        """BIC(one line, 2 parameters) - BIC(two lines and the break, 5 parameters) - 10, n = 60."""
        t, y = series(ripple)
        two = min(sse(t[:k], y[:k]) + sse(t[k:], y[k:]) for k in range(6, 54))
        return 60 * math.log(sse(t, y) / two) - 3 * math.log(60) - 10

    low, high = 1.0, 1e6        # the more ripple, the less two lines gain over one
    for _ in range(60):
        middle = math.sqrt(low * high)
        low, high = (middle, high) if margin(middle) > 0 else (low, middle)
    assert breakpoint(*series(low * (1 - 1e-4))) is not None
    assert breakpoint(*series(low * (1 + 1e-4))) is None


def test_no_split_to_try_is_no_breakpoint() -> None:
    assert breakpoint(*arrays(rippled_memory((40, RAMP), (80, 0.0))), min_share=0.5) is None


def test_a_breakpoint_does_not_depend_on_the_unit() -> None:
    in_kilobytes = arrays(rippled_memory((40, 0.5), (80, 0.0), start=100.0, ripple=0.01))
    assert breakpoint(*in_kilobytes)[0] == 40  # type: ignore[index]
    in_gigabytes = arrays(rippled_memory((40, 0.005), (80, 0.0), start=1.0, ripple=1e-4))
    assert breakpoint(*in_gigabytes)[0] == 40  # type: ignore[index]


def test_the_break_is_looked_for_away_from_the_ends() -> None:
    early = arrays(rippled_memory((5, 8 * RAMP), (115, 0.0)))     # 121 points: splits 12 to 108
    assert breakpoint(*early)[0] == 12  # type: ignore[index]
    assert breakpoint(*early, min_share=0.05)[0] == 6  # type: ignore[index]


# Steps: jumps between block means far beyond the block-to-block jitter.

def blocks_of_two(block_means: list[float]) -> tuple[np.ndarray, np.ndarray]:
    """A 1 Hz series whose blocks of two (50 blocks) have exactly these means."""
    return np.arange(2.0 * len(block_means)), np.repeat(block_means, 2)


JITTER = [0.0, 1.0, 1.0, 0.0] * 12          # jumps +1, 0, -1, 0: median 0, robust sd 1.4826
THRESHOLD = 6.0 * 1.4826 * 1.0               # k robust sds of the jumps


def test_a_jump_beyond_six_robust_sds_of_the_jitter_is_a_step_at_its_block() -> None:
    assert find_steps(*blocks_of_two(JITTER + [0.0, 9.0])) == [Step(98.5, 9.0)]   # block 49: samples at 98, 99 s
    assert find_steps(*blocks_of_two([0.0, 9.0] + JITTER[2:] + [0.0, 0.0])) == [Step(2.5, 9.0)]


def test_a_jump_of_exactly_six_robust_sds_is_not_a_step() -> None:
    assert find_steps(*blocks_of_two(JITTER + [0.0, THRESHOLD])) == []
    assert find_steps(*blocks_of_two(JITTER + [0.0, math.nextafter(THRESHOLD, 10.0)])) != []
    assert find_steps(*blocks_of_two(JITTER + [0.0, 4.0]), k=2.0) == [Step(98.5, 4.0)]


def test_a_drop_is_not_a_step() -> None:
    assert find_steps(*blocks_of_two(JITTER + [0.0, -9.0])) == []


def test_any_jump_in_a_series_without_jitter_is_a_step() -> None:
    assert find_steps(*blocks_of_two([5.0] * 49 + [5.5])) == [Step(98.5, 0.5)]


def test_steps_need_two_samples_per_block() -> None:
    t, y = blocks_of_two(JITTER + [0.0, 9.0])
    assert find_steps(t[1:], y[1:]) == []
    assert find_steps(t, y, blocks=25) == [Step(97.5, 4.0)]   # blocks of 4: the last block halves the jump


def test_step_times_count_from_the_first_sample() -> None:
    t, y = blocks_of_two(JITTER + [0.0, 9.0])
    assert find_steps(t + 1000.0, y) == [Step(98.5, 9.0)]


# The verdict's branches.

def test_no_samples_or_one_is_insufficient_data() -> None:
    assert judge(([], [])).explanation == "0 samples over 0 s: need at least 20 over 20 s"
    one = judge(([5.0], [1e8]))
    assert (one.verdict, one.samples, one.duration_s, one.explanation) == (
        "insufficient data", 1, 0.0, "1 samples over 0 s: need at least 20 over 20 s")


def test_a_steady_ramp_is_a_leak_over_the_whole_watch_with_its_growth() -> None:
    verdict = judge(rippled_memory((120, RAMP)))
    assert (verdict.verdict, verdict.samples, verdict.duration_s) == ("leak", 121, 120.0)
    assert (verdict.analysed_from_s, verdict.plateau_from_s, verdict.growth) == (0.0, None, RAMP * 120)
    assert verdict.explanation == "leaking 15.73 MB/min (95 % CI 15.73 to 15.73), p = 1.8e-59"
    assert verdict.per_minute == (RAMP * 60, RAMP * 60, RAMP * 60)
    assert verdict.exhaustion_s is None


def test_a_leak_says_when_the_available_memory_runs_out() -> None:
    assert judge(rippled_memory((120, RAMP)), available=RAMP * 600).exhaustion_s == 600.0
    assert judge(rippled_memory((120, RAMP)), available=0.0).exhaustion_s is None


def late(series: tuple[list[float], list[float]], offset_s: float = 1.7e9) -> tuple[list[float], list[float]]:
    """The same series on the wall clock: times do not start at 0."""
    return [t + offset_s for t in series[0]], series[1]


def test_a_leak_after_a_faster_warm_up_is_measured_after_it() -> None:
    verdict = judge(late(rippled_memory((30, 8 * RAMP), (90, RAMP))))
    assert (verdict.verdict, verdict.analysed_from_s, verdict.plateau_from_s) == ("leak", 30.0, None)
    assert verdict.growth == RAMP * 90
    assert verdict.explanation == ("leaking 15.73 MB/min (95 % CI 15.73 to 15.73), p = 9.5e-45 "
                                   "since 30 s into the watch")


def test_a_leak_that_speeds_up_is_measured_over_the_whole_watch() -> None:
    verdict = judge(rippled_memory((40, 0.0), (80, RAMP)))
    assert (verdict.verdict, verdict.analysed_from_s, verdict.plateau_from_s) == ("leak", 0.0, None)
    assert verdict.explanation == "leaking 13.59 MB/min (95 % CI 7.86 to 15.73), p = 0.0021"


def test_growth_that_stopped_is_growth_then_plateau_measured_after_the_break() -> None:
    verdict = judge(late(rippled_memory((40, RAMP), (80, 0.0))), available=1e9)
    assert (verdict.verdict, verdict.plateau_from_s, verdict.analysed_from_s) == ("growth-then-plateau", 40.0, 40.0)
    assert (verdict.growth, verdict.exhaustion_s) == (0.0, None)
    assert verdict.explanation == ("grew 10.5 MB in the first 40 s, then flat (0.00 MB/min (95 % CI 0.00 to 0.00), "
                                   "p = 1)")


def test_rates_and_sizes_are_shown_in_decimal_megabytes() -> None:
    assert judge(rippled_memory((120, 262083.5))).explanation == (        # 15,725,010 B/min
        "leaking 15.73 MB/min (95 % CI 15.73 to 15.73), p = 1.8e-59")
    assert judge(rippled_memory((40, 261250.25), (80, 0.0))).explanation.startswith(   # 10,450,010 B
        "grew 10.5 MB in the first 40 s, then flat")


def test_without_an_absolute_floor_slow_growth_in_small_units_is_judged_on_its_own() -> None:
    leak = leak_verdict(*rippled_memory((120, 0.5), start=100.0, ripple=0.01), 200.0, limits=LEAKS,
                        floor_bytes_per_minute=0.0)
    assert (leak.verdict, leak.exhaustion_s) == ("leak", 400.0)
    plateau = leak_verdict(*rippled_memory((40, 0.5), (80, 0.0), start=100.0, ripple=0.01), limits=LEAKS,
                           floor_bytes_per_minute=0.0)
    assert plateau.verdict == "growth-then-plateau"


def test_a_single_jump_is_not_a_steady_leak_its_interval_reaches_zero() -> None:
    t, y = list(np.arange(40.0)), [1e9] * 20 + [1.1e9] * 20
    verdict = leak_verdict(t, y, limits=LEAKS.model_copy(update={"alpha": 0.05}), floor_bytes_per_minute=FLOOR)
    assert (verdict.verdict, verdict.slope.low) == ("stable", 0.0)  # type: ignore[union-attr]
    assert verdict.explanation == "no significant upward trend: 169.05 MB/min (95 % CI 0.00 to 285.71), p = 0.023"


def test_two_samples_are_enough_when_the_limits_say_so() -> None:
    limits = LEAKS.model_copy(update={"min_samples": 2, "min_duration_s": 10.0})
    verdict = leak_verdict([0.0, 30.0], [1e9, 2e9], limits=limits, floor_bytes_per_minute=FLOOR)
    assert (verdict.verdict, verdict.duration_s) == ("stable", 30.0)


def test_growth_from_nothing_is_growth_then_plateau() -> None:
    from_zero = rippled_memory((40, RAMP), (80, 0.0), start=-(2.0 ** 16))
    assert from_zero[1][0] == 0.0
    assert judge(from_zero).verdict == "growth-then-plateau"


def test_growth_small_against_the_start_then_flat_is_stable() -> None:
    verdict = judge(rippled_memory((40, RAMP), (80, 0.0), start=1e12))
    assert (verdict.verdict, verdict.plateau_from_s, verdict.analysed_from_s) == ("stable", None, 40.0)
    assert verdict.explanation == "no significant upward trend: 0.00 MB/min (95 % CI 0.00 to 0.00), p = 1"


def test_a_decline_is_stable_and_never_runs_out() -> None:
    verdict = judge(rippled_memory((120, -RAMP)), available=1e9)
    assert (verdict.verdict, verdict.exhaustion_s) == ("stable", None)
    assert verdict.explanation == "no significant upward trend: -15.73 MB/min (95 % CI -15.73 to -15.73), p = 1.8e-59"


def test_a_verdict_lists_its_steps() -> None:
    t, y = blocks_of_two([1e9 + j * 1e5 for j in JITTER] + [1e9, 1e9 + 50 * MB])
    assert judge((list(t), list(y))).steps == [Step(98.5, 50 * MB)]


# What the user reads.

def verdict_of(kind: str, steps: list[Step] | None = None, exhaustion_s: float | None = None,
               trend: TrendTest | None = TrendTest(100, 900.0, 8.0, 1.234e-15, 1.5)) -> LeakVerdict:
    return LeakVerdict(kind, "leaking fast", 100, 99.0, slope=Slope(1e5, 9e4, 1.1e5), trend=trend,
                       steps=steps or [], exhaustion_s=exhaustion_s)


def test_a_leak_is_high_priority_with_its_rate_interval_and_p_value_as_evidence() -> None:
    [finding] = leak_findings(verdict_of("leak"), 42, "llama-server", REMEDIES)
    assert (finding.rule_id, finding.code, finding.row, finding.symptom, finding.priority) == (
        "memory.leak", "MEMORY_LEAK", "high_memory", "High memory usage", Priority.HIGH)
    assert finding.cause == "llama-server (pid 42) grows steadily: a leak"
    assert finding.actions == ["run_memory_profiler"]
    assert finding.summary == "leaking fast"
    [evidence] = finding.evidence
    assert (evidence.metric, evidence.value, evidence.unit, evidence.source) == (
        "wf_memory_growth_bytes_per_minute", 6e6, "bytes/min", "wfdoctor memory watch (Theil-Sen)")
    assert evidence.labels == {"pid": "42", "name": "llama-server", "ci_low": "5400000", "ci_high": "6600000",
                               "p_value": "1.23e-15"}


def test_a_leak_summary_adds_when_memory_runs_out_and_the_steps() -> None:
    steps = [Step(12.4, 3_250_001.0), Step(70.0, 10 * MB)]
    [finding] = leak_findings(verdict_of("leak", steps, exhaustion_s=5400.0), 42, "app", REMEDIES)
    assert finding.summary == ("leaking fast; available memory gone in 90 min at this rate; "
                               "steps: +3.3 MB at 12 s, +10.0 MB at 70 s")


def test_a_plateau_is_information_with_its_steps_and_no_action() -> None:
    [finding] = leak_findings(verdict_of("growth-then-plateau", [Step(5.0, 2 * MB)], exhaustion_s=60.0), 7, "app",
                              REMEDIES)
    assert (finding.rule_id, finding.code, finding.row, finding.symptom, finding.priority, finding.actions) == (
        "memory.growth_plateau", "MEMORY_GROWTH_PLATEAU", "high_memory", "High memory usage", Priority.INFO, [])
    assert finding.cause == "app (pid 7) grew, then stopped growing: warm-up or a cache, not a leak"
    assert finding.summary == "leaking fast; steps: +2.0 MB at 5 s"
    assert finding.evidence[0].metric == "wf_memory_growth_bytes_per_minute"


def test_a_verdict_without_a_trend_has_an_empty_p_value_label() -> None:
    [finding] = leak_findings(verdict_of("leak", trend=None), 1, "app", REMEDIES)
    assert finding.evidence[0].labels["p_value"] == ""


def test_stable_verdicts_and_verdicts_without_a_slope_have_no_finding() -> None:
    assert leak_findings(verdict_of("stable"), 1, "app", REMEDIES) == []
    assert leak_findings(verdict_of("insufficient data"), 1, "app", REMEDIES) == []
    assert leak_findings(LeakVerdict("leak", "?", 30, 29.0), 1, "app", REMEDIES) == []


def test_diagnose_reads_the_leak_rate_only_from_a_leak() -> None:
    sample = leak_rate_sample(verdict_of("leak"), 42, "app")
    assert (sample.metric, sample.value, sample.unit, sample.source, sample.labels) == (
        "wf_memory_leak_bytes_per_minute", 6e6, "bytes/min",
        "wfdoctor memory watch (leak verdict: 0 unless the statistics call it a leak)",
        {"pid": "42", "name": "app", "verdict": "leak"})
    plateau = leak_rate_sample(verdict_of("growth-then-plateau"), 42, "app")
    assert (plateau.value, plateau.labels["verdict"]) == (0.0, "growth-then-plateau")
    assert leak_rate_sample(LeakVerdict("leak", "?", 30, 29.0), 42, "app").value == 0.0


def test_a_flat_series_of_large_byte_counts_has_no_breakpoint() -> None:
    """Float rounding in the line fits is not a warm-up: flat at 500 MB, at any length."""
    for n in (20, 27, 40, 81):
        assert breakpoint(np.arange(n, dtype=float), np.full(n, 5e8)) is None


def test_a_steady_leak_has_no_steps_and_a_jump_on_top_of_it_is_one() -> None:
    rng = np.random.default_rng(0)
    t = np.arange(0.0, 600.0)
    steady = 1e8 + 1e6 * t + rng.normal(0.0, 2e5, t.size)
    assert find_steps(t, steady) == []
    jumped = steady + np.where(t >= 300, 5e7, 0.0)
    [step] = find_steps(t, jumped)
    assert step.at_s == 305.5 and 5e7 < step.size < 7e7
