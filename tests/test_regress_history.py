"""`regress check` over stored histories: which series are judged, in which mode, and what counts as found."""

from __future__ import annotations

from tests.builders import history
from wfdoctor.analyze.regress_check import (MIN_POINTS, CheckSettings, SeriesVerdict, check_samples,
                                            judge_histories)
from wfdoctor.model import Sample

DAY_S = 24 * 3600.0
STEADY = [100.0] * 8
DIRECTIONS = {"wf_decode_tps": True, "wf_ttft_seconds": False}


def judge(rows: list[tuple[int, Sample]], directions: dict[str, bool] = DIRECTIONS,
          settings: CheckSettings = CheckSettings()) -> list[SeriesVerdict]:
    return judge_histories(rows, directions.get, settings)


def test_the_defaults_are_a_5_percent_effect_3_points_after_and_change_points_over_a_day_window() -> None:
    settings = CheckSettings()
    assert (settings.min_effect, settings.min_after, settings.mode, settings.window_s) == (
        0.05, 3, "changepoint", DAY_S)
    assert MIN_POINTS == 8


def test_a_throughput_drop_that_holds_at_the_end_is_a_discovered_regression_at_its_revision() -> None:
    [verdict] = judge(history(STEADY + [80.0] * 4))
    assert verdict.series.name == "wf_decode_tps"
    assert (verdict.higher_is_better, verdict.discovery) == (True, True)
    [change] = verdict.changes
    assert (change.index, change.kind, change.revision, change.before, change.after) == (
        8, "regression", "rev8", 100.0, 80.0)
    assert verdict.at_end == change


def test_the_same_step_up_in_latency_is_a_regression_and_down_an_improvement() -> None:
    [up] = judge(history(STEADY + [120.0] * 4, metric="wf_ttft_seconds"))
    assert (up.higher_is_better, up.changes[0].kind, up.discovery) == (False, "regression", True)
    [down] = judge(history(STEADY + [80.0] * 4, metric="wf_ttft_seconds"))
    assert (down.changes[0].kind, down.at_end, down.discovery) == ("improvement", None, False)


def test_a_series_needs_eight_points_to_be_judged() -> None:
    assert judge(history([100.0] * 7)) == []
    [verdict] = judge(history([100.0] * 8))
    assert (verdict.changes, verdict.at_end, verdict.discovery) == ([], None, False)


def test_a_metric_of_unknown_direction_is_not_judged_and_the_others_still_are() -> None:
    assert judge(history(STEADY + [80.0] * 4, metric="wf_something_new")) == []
    rows = history(STEADY, metric="wf_a_new_metric") + history([1.0] * 7, metric="wf_b_short")
    [verdict] = judge(rows + history(STEADY, metric="wf_ttft_seconds"), {"wf_b_short": True} | DIRECTIONS)
    assert verdict.series.metric == "wf_ttft_seconds"


def test_the_effect_floor_is_passed_to_the_detector() -> None:
    series = history(STEADY + [96.0] * 4)
    assert judge(series)[0].changes == []
    [change] = judge(series, settings=CheckSettings(min_effect=0.03))[0].changes
    assert (change.kind, round(change.change_pct, 6)) == ("regression", -4.0)


def test_a_regression_counts_at_the_end_only_with_min_after_points_after_it() -> None:
    three_after = history(STEADY + [80.0] * 3)
    assert judge(three_after)[0].at_end is not None
    [verdict] = judge(three_after, settings=CheckSettings(min_after=4))
    assert (verdict.changes[0].kind, verdict.at_end, verdict.discovery) == ("regression", None, False)


def test_every_series_gets_a_verdict_and_only_regressed_ones_are_discoveries() -> None:
    rows = (history(STEADY + [100.0] * 4, model="a") + history(STEADY + [80.0] * 4, model="b")
            + history(STEADY + [120.0] * 4, model="c"))
    verdicts = judge(rows)
    assert [v.series.name for v in verdicts] == ["wf_decode_tps{model=a}", "wf_decode_tps{model=b}",
                                                 "wf_decode_tps{model=c}"]
    assert [v.discovery for v in verdicts] == [False, True, False]
    assert [s.value for s in check_samples(verdicts)] == [1.0]


def test_window_mode_compares_everything_older_than_the_window_with_the_rest() -> None:
    rows = history([100.0] * 10 + [80.0] * 10, step_s=DAY_S / 10)   # the last day is the last 10 points
    [verdict] = judge(rows, settings=CheckSettings(mode="window", window_s=DAY_S - 1))
    [change] = verdict.changes
    assert (change.index, change.kind, change.revision, change.before, change.after) == (
        10, "regression", "rev10", 100.0, 80.0)
    assert (verdict.at_end, verdict.discovery) == (change, True)


def test_in_window_mode_a_point_exactly_a_window_before_the_newest_is_recent() -> None:
    rows = history([100.0] * 10 + [80.0] * 10, step_s=DAY_S / 10)
    [verdict] = judge(rows, settings=CheckSettings(mode="window", window_s=DAY_S))
    assert verdict.changes == []  # 9 old points: too few for the window test


def test_in_window_mode_a_change_too_small_is_none() -> None:
    rows = history([100.0] * 10 + [97.0] * 10, step_s=DAY_S / 10)
    [verdict] = judge(rows, settings=CheckSettings(mode="window", window_s=DAY_S - 1))
    assert (verdict.changes, verdict.at_end) == ([], None)


def test_the_check_reports_how_many_regressions_it_found_among_how_many_series() -> None:
    verdicts = judge(history(STEADY + [80.0] * 4) + history(STEADY + [80.0] * 4, metric="wf_ttft_seconds"))
    [sample] = check_samples(verdicts)
    assert (sample.metric, sample.value, sample.unit, sample.source, sample.labels) == (
        "wf_regressions_detected", 1.0, "metrics", "wfdoctor regress check", {"series": "2"})
    assert check_samples([])[0].value == 0.0 and check_samples([])[0].labels == {"series": "0"}

