"""The alert rules' PromQL subset: parsed like PromQL, evaluated with Prometheus' instant-vector semantics."""

from __future__ import annotations

import math

import pytest

from wfdoctor.analyze.promql import evaluate, quantile, series_key
from wfdoctor.analyze.window import SampleWindow
from wfdoctor.config.durations import format_duration, parse_duration
from wfdoctor.config.promql import Binary, PromQLError, metric_names, parse
from wfdoctor.model import Sample

NOW = 10_000.0


def window(*points: tuple[str, dict[str, str], float, float], retention_s: float = 3600.0) -> SampleWindow:
    """A window holding (metric, labels, seconds before NOW, value) points."""
    held = SampleWindow(retention_s)
    held.add(Sample(metric, value, "ratio", "test", labels, NOW - age) for metric, labels, age, value in points)
    return held


def ramp(metric: str, labels: dict[str, str], values: list[float], step_s: float = 10.0) -> list[tuple]:
    """Points `step_s` apart, the last one at NOW."""
    return [(metric, labels, (len(values) - 1 - i) * step_s, v) for i, v in enumerate(values)]


def run(expr: str, held: SampleWindow, **kwargs: object) -> object:
    value = evaluate(parse(expr), held, NOW, **kwargs)
    if isinstance(value, float):
        return value
    return {tuple(sorted(dict(labels).items())): v for labels, v in value.items()}


def test_precedence_is_promqls_or_below_and_below_comparison_below_sum_below_product() -> None:
    tree = parse("a or b and c > d + e * f")
    assert isinstance(tree, Binary) and tree.op == "or"
    assert tree.rhs.op == "and" and tree.rhs.rhs.op == ">"
    assert tree.rhs.rhs.rhs.op == "+" and tree.rhs.rhs.rhs.rhs.op == "*"


def test_binary_operators_are_left_associative_and_unary_minus_binds_tightest() -> None:
    assert run("10 - 4 - 3", window()) == 3.0
    assert run("-2 * 3 + 10 / 4 / 5", window()) == -5.5
    assert run("7 % 4 > bool 2", window()) == 1.0


@pytest.mark.parametrize("text, column, words", [
    ("wf_a >", 7, "found the end"),
    ("rate(wf_a)", 6, "range selector"),
    ("1 > 2", 3, "bool modifier"),
    ("nope(wf_a[5m])", 1, "unknown function"),
    ('wf_a{job=x}', 10, "quoted label value"),
    ("wf_a[5m]", 1, "function's argument"),
    ("wf_a[5q]", 6, "duration"),
    ("wf_a ) ", 6, "operator or the end"),
    ('wf_a{x=~"("}', 9, "regular expression"),
    ("wf_a # b", 6, "unexpected character"),
])
def test_parse_errors_name_the_column_and_what_was_expected(text: str, column: int, words: str) -> None:
    with pytest.raises(PromQLError) as raised:
        parse(text)
    assert raised.value.column == column
    assert words in str(raised.value) and f"(column {column})" in str(raised.value)


def test_durations_are_prometheus_durations() -> None:
    assert parse_duration("1h30m") == 5400 and parse_duration("250ms") == 0.25
    assert format_duration(300) == "5m" and format_duration(90) == "90s" and format_duration(604800) == "1w"
    with pytest.raises(ValueError):
        parse_duration("5 minutes")


def test_metric_names_lists_every_selected_metric_once() -> None:
    assert metric_names(parse("wf_a > baseline(wf_b) and rate(wf_a[1m]) > 0")) == ["wf_a", "wf_b"]


def test_instant_selector_takes_the_newest_point_within_the_lookback() -> None:
    held = window(*ramp("wf_m", {}, [0.1, 0.2, 0.3]), ("wf_m", {"gpu": "1"}, 400.0, 0.9))
    assert run("wf_m", held) == {(("__name__", "wf_m"),): 0.3}   # gpu 1 is stale after 300 s


def test_a_stale_series_is_absent_not_zero() -> None:
    held = window(("wf_m", {}, 301.0, 0.0))
    assert run("wf_m < 1", held) == {}
    assert run("wf_m < 1", held, lookback_s=600.0) == {(("__name__", "wf_m"),): 0.0}


def test_label_matchers_equal_not_equal_and_anchored_regexes() -> None:
    held = window(*(("wf_m", {"gpu": g}, 0.0, float(i)) for i, g in enumerate(["0", "1", "10"])))
    assert len(run('wf_m{gpu="1"}', held)) == 1
    assert len(run('wf_m{gpu!="1"}', held)) == 2
    assert len(run('wf_m{gpu=~"1"}', held)) == 1            # anchored: "10" does not match
    assert len(run('wf_m{gpu!~"1.*"}', held)) == 1
    assert len(run('wf_m{missing=""}', held)) == 3          # a missing label reads as ""


def test_comparison_filters_and_keeps_the_vectors_value_on_either_side() -> None:
    held = window(("wf_m", {"gpu": "0"}, 0.0, 0.5), ("wf_m", {"gpu": "1"}, 0.0, 0.95))
    assert run("wf_m > 0.9", held) == {(("__name__", "wf_m"), ("gpu", "1")): 0.95}
    assert run("0.9 < wf_m", held) == {(("__name__", "wf_m"), ("gpu", "1")): 0.95}


def test_bool_comparison_returns_zero_or_one_and_drops_the_metric_name() -> None:
    held = window(("wf_m", {"gpu": "0"}, 0.0, 0.5), ("wf_m", {"gpu": "1"}, 0.0, 0.95))
    assert run("wf_m > bool 0.9", held) == {(("gpu", "0"),): 0.0, (("gpu", "1"),): 1.0}


def test_arithmetic_matches_identical_label_sets_without_the_metric_name() -> None:
    held = window(("wf_used", {"gpu": "0"}, 0.0, 3.0), ("wf_total", {"gpu": "0"}, 0.0, 4.0),
                  ("wf_used", {"gpu": "1"}, 0.0, 1.0))
    assert run("wf_used / wf_total", held) == {(("gpu", "0"),): 0.75}   # gpu 1 has no partner


def test_division_by_zero_gives_infinity_or_nan_as_in_go() -> None:
    held = window(("wf_m", {}, 0.0, 1.0), ("wf_z", {}, 0.0, 0.0))
    assert run("wf_m / 0", held) == {(): math.inf}
    assert math.isnan(run("0 / 0 + wf_z", held)[()])


def test_and_or_unless_match_on_labels() -> None:
    held = window(("wf_a", {"k": "1"}, 0.0, 1.0), ("wf_a", {"k": "2"}, 0.0, 2.0), ("wf_b", {"k": "2"}, 0.0, 9.0),
                  ("wf_b", {"k": "3"}, 0.0, 9.0))
    assert set(run("wf_a and wf_b", held)) == {(("__name__", "wf_a"), ("k", "2"))}
    assert set(run("wf_a unless wf_b", held)) == {(("__name__", "wf_a"), ("k", "1"))}
    assert set(run("wf_a or wf_b", held)) == {(("__name__", "wf_a"), ("k", "1")), (("__name__", "wf_a"), ("k", "2")),
                                              (("__name__", "wf_b"), ("k", "3"))}


@pytest.mark.parametrize("function, expected", [
    ("avg_over_time", 2.5), ("min_over_time", 1.0), ("max_over_time", 4.0), ("sum_over_time", 10.0),
    ("count_over_time", 4.0), ("last_over_time", 4.0),
])
def test_over_time_functions_read_the_range_and_drop_the_name(function: str, expected: float) -> None:
    held = window(*ramp("wf_m", {"gpu": "0"}, [99.0, 1.0, 2.0, 3.0, 4.0]))   # 99 is 40 s old: outside [35s]
    assert run(f"{function}(wf_m[35s])", held) == {(("gpu", "0"),): expected}


def test_the_range_is_left_open_like_prometheus() -> None:
    held = window(*ramp("wf_m", {}, [5.0, 1.0]))
    assert run("count_over_time(wf_m[10s])", held) == {(): 1.0}


def test_quantile_over_time_interpolates_like_prometheus() -> None:
    held = window(*ramp("wf_m", {}, [1.0, 2.0, 3.0, 4.0]))
    assert run("quantile_over_time(0.5, wf_m[1m])", held) == {(): 2.5}
    assert quantile(0.9, [1.0, 2.0, 3.0, 4.0]) == pytest.approx(3.7)
    assert quantile(1.5, [1.0]) == math.inf


def test_rate_of_a_steady_counter_is_its_slope_with_resets_counted() -> None:
    held = window(*ramp("wf_c", {}, [0.0, 10.0, 20.0, 30.0, 40.0, 50.0, 60.0]))
    assert run("rate(wf_c[1m])", held)[()] == pytest.approx(1.0)
    reset = window(*ramp("wf_c", {}, [100.0, 110.0, 5.0, 15.0]))   # 10 + 5 (after the reset) + 10
    assert run("rate(wf_c[31s])", reset)[()] == pytest.approx(25.0 / 30.0)
    assert run("rate(wf_c[30s])", window(("wf_c", {}, 0.0, 1.0))) == {}   # one point: no rate


def test_absent_over_time_gives_the_equality_labels_when_nothing_was_seen() -> None:
    assert run('absent_over_time(wf_up{url="u", kind=~"x"}[5m])', window()) == {(("url", "u"),): 1.0}
    assert run("absent_over_time(wf_up[5m])", window(("wf_up", {}, 200.0, 0.0))) == {}
    assert run("absent_over_time(wf_up[1m])", window(("wf_up", {}, 200.0, 0.0))) == {(): 1.0}


def test_aggregations_group_by_the_named_labels() -> None:
    held = window(("wf_m", {"gpu": "0", "host": "a"}, 0.0, 1.0), ("wf_m", {"gpu": "1", "host": "a"}, 0.0, 3.0),
                  ("wf_m", {"gpu": "2", "host": "b"}, 0.0, 5.0))
    assert run("sum(wf_m)", held) == {(): 9.0}
    assert run("max by (host) (wf_m)", held) == {(("host", "a"),): 3.0, (("host", "b"),): 5.0}
    assert run("avg(wf_m) by (host)", held) == {(("host", "a"),): 2.0, (("host", "b"),): 5.0}
    assert run("count(wf_m > 2)", held) == {(): 2.0}
    assert run("min(wf_m)", held) == {(): 1.0}


def test_baseline_is_looked_up_per_series_then_per_metric_and_absent_when_none_is_stored() -> None:
    held = window(("wf_tps", {"stat": "p50"}, 0.0, 60.0), ("wf_tps", {"stat": "p95"}, 0.0, 40.0),
                  ("wf_other", {}, 0.0, 1.0))
    baselines = {series_key("wf_tps", {"stat": "p50"}): 100.0, "wf_tps": 50.0}
    assert run("baseline(wf_tps)", held, baselines=baselines) == {(("stat", "p50"),): 100.0,
                                                                  (("stat", "p95"),): 50.0}
    assert run("wf_tps < baseline(wf_tps) * 0.7", held, baselines=baselines) == {
        (("__name__", "wf_tps"), ("stat", "p50")): 60.0}   # p95: 40 is not below 0.7 x 50
    assert run("baseline(wf_other)", held, baselines=baselines) == {}
    assert series_key("wf_tps", {"stat": "p50", "a": "x"}) == 'wf_tps{a="x",stat="p50"}'
