"""Metric histories: stored (run, sample) rows become one series per metric and stable label set."""

from __future__ import annotations

from tests.builders import stored
from wfdoctor.analyze.series import Series, build_series


def test_a_series_is_named_by_its_metric_and_its_labels_in_key_order() -> None:
    assert Series("wf_ttft_seconds", {"model": "m", "level": "4"}, "s").name == "wf_ttft_seconds{level=4,model=m}"
    assert Series("wf_ttft_seconds", {}, "s").name == "wf_ttft_seconds"


def test_each_run_is_one_point_the_median_of_its_samples_at_its_earliest_time() -> None:
    rows = [stored(1, 10.0, 105.0), stored(1, 30.0, 100.0), stored(1, 12.0, 110.0), stored(2, 50.0, 200.0)]
    [series] = build_series(rows)
    assert (series.metric, series.labels, series.unit) == ("wf_decode_tps", {}, "tokens/s")
    assert (series.times, series.values, series.runs) == ([100.0, 200.0], [12.0, 50.0], [1, 2])


def test_an_even_number_of_samples_gives_the_mean_of_the_middle_two() -> None:
    [series] = build_series([stored(1, 10.0, 1.0), stored(1, 20.0, 2.0)])
    assert series.values == [15.0]


def test_points_are_in_time_order_whatever_the_run_ids_or_row_order() -> None:
    rows = [stored(7, 3.0, 300.0), stored(9, 1.0, 100.0), stored(8, 2.0, 200.0)]
    [series] = build_series(rows)
    assert (series.runs, series.values, series.times) == ([9, 8, 7], [1.0, 2.0, 3.0], [100.0, 200.0, 300.0])


def test_a_run_is_ordered_by_its_earliest_sample_not_its_first_row() -> None:
    rows = [stored(1, 1.0, 500.0), stored(1, 1.0, 50.0), stored(2, 2.0, 100.0)]
    assert build_series(rows)[0].runs == [1, 2]


def test_labels_that_vary_between_runs_of_the_same_thing_do_not_split_a_series() -> None:
    volatile = ["run", "request", "window_s", "tokens_source", "check", "ci_low", "ci_high", "p_value", "verdict",
                "revision", "point"]
    first = {label: "a" for label in volatile}
    second = {label: "b" for label in volatile} | {"point": "a"}
    [series] = build_series([stored(1, 1.0, 1.0, model="m", **first), stored(2, 2.0, 2.0, model="m", **second)])
    assert series.labels == {"model": "m"}
    assert series.name == "wf_decode_tps{model=m}"
    assert (series.runs, series.revisions) == ([1, 2], ["a", "b"])


def test_stable_labels_and_metrics_split_series_which_come_sorted_by_name() -> None:
    rows = [stored(1, 1.0, 1.0, model="b"), stored(1, 2.0, 1.0, model="a"),
            stored(1, 3.0, 1.0, metric="wf_a", unit="s")]
    series = build_series(rows)
    assert [s.name for s in series] == ["wf_a", "wf_decode_tps{model=a}", "wf_decode_tps{model=b}"]
    assert [s.values for s in series] == [[3.0], [2.0], [1.0]]
    assert [s.unit for s in series] == ["s", "tokens/s", "tokens/s"]


def test_each_point_of_an_imported_run_is_its_own_point() -> None:
    rows = [stored(1, 5.0, 20.0, point="1"), stored(1, 4.0, 10.0, point="0"), stored(1, 6.0, 30.0, point="2"),
            stored(1, 8.0, 31.0, point="2")]
    [series] = build_series(rows)
    assert (series.values, series.times, series.runs) == ([4.0, 5.0, 7.0], [10.0, 20.0, 30.0], [1, 1, 1])


def test_a_point_carries_the_revision_of_its_first_sample_or_none() -> None:
    rows = [stored(1, 1.0, 1.0, revision="abc"), stored(1, 2.0, 2.0, revision="def"), stored(2, 3.0, 3.0)]
    assert build_series(rows)[0].revisions == ["abc", ""]


def test_no_rows_no_series() -> None:
    assert build_series([]) == []
