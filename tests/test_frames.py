"""A page's frame report becomes registered samples and comes back whole from them (app/frames.py)."""

from __future__ import annotations

from dataclasses import replace

from hypothesis import given
from hypothesis import strategies as st

from wfdoctor.app.frames import frame_samples, reports_from_samples
from wfdoctor.config.metrics import load_metrics
from wfdoctor.model import FrameReport, Sample, ScriptTime

seconds = st.floats(min_value=0, max_value=300, allow_nan=False, allow_infinity=False)
counts = st.integers(min_value=0, max_value=100_000)
text = st.text(min_size=1, max_size=40)
scripts = st.lists(st.builds(ScriptTime, source=text, invoker=text, duration_s=seconds, forced_layout_s=seconds),
                   max_size=10, unique_by=lambda s: (s.source, s.invoker))
reports = st.builds(
    FrameReport, page=text, session=st.from_regex(r"[A-Za-z0-9_-]{1,64}", fullmatch=True),
    ts=st.floats(min_value=1e9, max_value=4e9), interval_s=st.floats(min_value=0.001, max_value=300),
    frames=counts, frame_mean_s=seconds, frame_p50_s=seconds, frame_p95_s=seconds, frame_p99_s=seconds,
    frame_max_s=seconds, jitter_s=seconds, fps=seconds, over_budget_share=st.floats(min_value=0, max_value=1),
    long_tasks=counts, long_task_s=seconds, loaf_supported=st.booleans(), long_animation_frames=counts,
    long_animation_s=seconds, script_s=seconds, style_layout_s=seconds, forced_layout_s=seconds, scripts=scripts,
    dom_nodes=st.none() | counts, heap_bytes=st.none() | st.floats(min_value=0, max_value=1e12), grade=st.just(""))


def report(**changes: object) -> FrameReport:
    base = FrameReport(page="chat", session="s1", ts=1_700_000_000.0, interval_s=2.0, frames=120,
                       frame_mean_s=0.0167, frame_p50_s=0.0166, frame_p95_s=0.0171, frame_p99_s=0.018,
                       frame_max_s=0.025, jitter_s=0.0008, fps=59.9, over_budget_share=0.01, long_tasks=0,
                       long_task_s=0.0, loaf_supported=True, long_animation_frames=0, long_animation_s=0.0,
                       script_s=0.0, style_layout_s=0.0, forced_layout_s=0.0)
    return replace(base, **changes)


@given(st.lists(reports, max_size=4, unique_by=lambda r: (r.page, r.session, r.ts)))
def test_reports_come_back_whole_from_their_samples(originals: list[FrameReport]) -> None:
    samples = [sample for original in originals for sample in frame_samples(original)]
    back = reports_from_samples(samples)
    assert sorted(back, key=repr) == sorted(originals, key=repr)


@given(reports)
def test_every_sample_of_a_report_is_registered_pushable_and_labelled_with_page_and_session(
        original: FrameReport) -> None:
    samples = frame_samples(original)
    load_metrics().check(samples)
    for sample in samples:
        assert load_metrics().spec(sample.metric).pushable  # type: ignore[union-attr]
        assert sample.labels["page"] == original.page and sample.labels["session"] == original.session
        assert sample.source == f"wf-perf-monitor.js ({original.page})" and sample.ts == original.ts


def test_frame_times_are_one_series_per_stat() -> None:
    stats = {s.labels["stat"]: s.value for s in frame_samples(report()) if s.metric == "wf_ui_frame_time_seconds"}
    assert stats == {"mean": 0.0167, "p50": 0.0166, "p95": 0.0171, "p99": 0.018, "max": 0.025}


def test_missing_dom_and_heap_readings_are_no_samples_not_zeros() -> None:
    metrics = {s.metric for s in frame_samples(report(dom_nodes=None, heap_bytes=None))}
    assert "wf_ui_dom_nodes" not in metrics and "wf_ui_js_heap_bytes" not in metrics


def test_one_script_reported_twice_is_one_series_with_both_times() -> None:
    twice = [ScriptTime("http://x/a.js", "FrameRequestCallback", 0.04, 0.03),
             ScriptTime("http://x/a.js", "FrameRequestCallback", 0.02, 0.01)]
    [back] = reports_from_samples(frame_samples(report(scripts=twice)))
    [script] = back.scripts
    assert (script.duration_s, script.forced_layout_s) == (0.06, 0.04)


def test_a_report_missing_a_number_is_left_out_and_other_metrics_are_ignored() -> None:
    samples = [s for s in frame_samples(report()) if s.metric != "wf_ui_frames_per_second"]
    other = Sample("wf_cpu_utilization_ratio", 0.5, "ratio", "test", {}, 1_700_000_000.0)
    assert reports_from_samples([*samples, other, *frame_samples(report(ts=1_700_000_002.0))]) == \
        [report(ts=1_700_000_002.0)]
