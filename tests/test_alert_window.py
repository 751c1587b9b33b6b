"""SampleWindow: per-series points in time order, trimmed to the retention, read like a brute-force filter."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from wfdoctor.analyze.window import SampleWindow
from wfdoctor.model import Sample

points = st.lists(st.tuples(st.sampled_from(["a", "b"]), st.integers(0, 300), st.floats(-1e6, 1e6)), max_size=60)


def sample(host: str, ts: int, value: float) -> Sample:
    return Sample("wf_memory_used_ratio", value, "ratio", "test", {"host": host}, float(ts))


@given(points, st.integers(1, 200), st.integers(0, 300), st.integers(1, 120))
def test_a_range_read_is_the_points_of_that_series_in_the_range_oldest_first(
        batch: list[tuple[str, int, float]], retention: int, end: int, width: int) -> None:
    window = SampleWindow(float(retention))
    for host, ts, value in batch:   # one sample per add, in any order (late samples happen)
        window.add([sample(host, ts, value)])
    newest = max((ts for _, ts, _ in batch), default=None)
    for series in window.series("wf_memory_used_ratio"):
        host = dict(series.labels)["host"]
        kept = sorted((ts, v) for h, ts, v in batch if h == host and newest is not None and ts > newest - retention)
        got_ts, got_values = series.between(float(end - width), float(end))
        assert sorted(zip(got_ts, got_values)) == [(float(ts), v) for ts, v in kept if end - width < ts <= end]
        assert got_ts == sorted(got_ts)


def test_points_older_than_the_retention_are_dropped_and_empty_series_forgotten() -> None:
    window = SampleWindow(60.0)
    window.add([sample("a", 0, 1.0), sample("b", 10, 2.0), sample("b", 30, 2.5)])
    window.add([sample("b", 70, 3.0)])
    assert [(s.metric, s.labels, s.ts) for s in window.series("wf_memory_used_ratio")] == [
        ("wf_memory_used_ratio", (("host", "b"),), [30.0, 70.0])]
    assert len(window) == 2   # b at 10 s is at the edge (70 - 60): dropped


def test_latest_gives_each_series_newest_point_with_its_unit_and_labels() -> None:
    window = SampleWindow(600.0)
    window.add([sample("a", 1, 0.1), sample("a", 2, 0.2), sample("b", 1, 0.5)])
    latest = sorted(window.latest(), key=lambda s: s.labels["host"])
    assert [(s.labels, s.value, s.ts, s.unit) for s in latest] == [
        ({"host": "a"}, 0.2, 2.0, "ratio"), ({"host": "b"}, 0.5, 1.0, "ratio")]


def test_a_series_newest_point_is_none_once_stale() -> None:
    window = SampleWindow(600.0)
    window.add([sample("a", 100, 0.5)])
    [series] = window.series("wf_memory_used_ratio")
    assert series.newest(399.0, 300.0) == (100.0, 0.5)
    assert series.newest(400.0, 300.0) is None
    assert series.newest(99.0, 300.0) is None   # nothing at or before that time


def test_a_series_its_probe_no_longer_reports_is_stale_at_once_and_back_with_its_next_point() -> None:
    window = SampleWindow(600.0)
    window.add([sample("a", 100, 0.5), sample("b", 100, 0.6)])
    reading = [sample("a", 101, 0.5)]   # process b exited: the probe's reading at 101 has no b
    window.add(reading)
    window.end_missing(reading, 101.0)
    newest = {dict(s.labels)["host"]: s.newest(102.0, 300.0) for s in window.series("wf_memory_used_ratio")}
    assert newest == {"a": (101.0, 0.5), "b": None}
    assert [s.labels["host"] for s in window.latest()] == ["a"]
    window.add([sample("b", 103, 0.7)])
    [b] = [s for s in window.series("wf_memory_used_ratio") if dict(s.labels)["host"] == "b"]
    assert b.newest(104.0, 300.0) == (103.0, 0.7)


def test_a_reading_ends_only_the_series_of_its_own_metrics() -> None:
    window = SampleWindow(600.0)
    other = Sample("wf_cpu_utilization_ratio", 0.3, "ratio", "test", {}, 100.0)
    window.add([sample("a", 100, 0.5), other])
    window.end_missing([sample("a", 101, 0.5)], 101.0)
    [cpu] = window.series("wf_cpu_utilization_ratio")
    assert cpu.newest(102.0, 300.0) == (100.0, 0.3)


def test_a_metric_read_over_a_long_range_is_kept_longer_than_the_rest() -> None:
    window = SampleWindow(60.0, {"wf_llm_decode_tokens_per_second": 900.0})
    tokens = Sample("wf_llm_decode_tokens_per_second", 50.0, "tokens/s", "test", {}, 0.0)
    window.add([tokens, sample("a", 0, 0.5)])
    window.add([sample("a", 600, 0.5)])
    assert [s.metric for s in window.latest() if s.ts == 0.0] == ["wf_llm_decode_tokens_per_second"]
