"""A page's frame report as registered samples, and back.

The monitor stores what `POST /api/frames` brings as ordinary samples (one per number, labelled
`page` and `session`, all at the report's `ts`), so they are queued, held, exported on `/metrics`
and judged by the alert rules like every other series. The UI judgement wants whole reports again
(a report's script attribution only makes sense beside its frame times), so `reports_from_samples`
regroups what the store gives back by (page, session, ts). The two are inverses for a report whose
scripts are distinct by (source, invoker) and whose `grade` is empty: the page's own grade is for
display and not stored (the judge recomputes it from the frames).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable

from wfdoctor.model import FrameReport, Sample, ScriptTime

FRAME_TIME = "wf_ui_frame_time_seconds"
SCRIPT = "wf_ui_script_seconds"
SCRIPT_FORCED = "wf_ui_script_forced_layout_seconds"
# stat label of FRAME_TIME -> FrameReport field
STATS = (("mean", "frame_mean_s"), ("p50", "frame_p50_s"), ("p95", "frame_p95_s"), ("p99", "frame_p99_s"),
         ("max", "frame_max_s"))
# metric, unit, FrameReport field: one sample each (none for an optional field that is None)
SCALARS = (
    ("wf_ui_frames_per_second", "fps", "fps"),
    ("wf_ui_frame_jitter_seconds", "s", "jitter_s"),
    ("wf_ui_frames_over_budget_ratio", "ratio", "over_budget_share"),
    ("wf_ui_frames", "frames", "frames"),
    ("wf_ui_report_interval_seconds", "s", "interval_s"),
    ("wf_ui_long_tasks", "tasks", "long_tasks"),
    ("wf_ui_long_task_seconds", "s", "long_task_s"),
    ("wf_ui_long_animation_frames", "frames", "long_animation_frames"),
    ("wf_ui_long_animation_frame_seconds", "s", "long_animation_s"),
    ("wf_ui_loaf_script_seconds", "s", "script_s"),
    ("wf_ui_loaf_style_layout_seconds", "s", "style_layout_s"),
    ("wf_ui_loaf_forced_layout_seconds", "s", "forced_layout_s"),
    ("wf_ui_loaf_supported", "bool", "loaf_supported"),
    ("wf_ui_dom_nodes", "nodes", "dom_nodes"),
    ("wf_ui_js_heap_bytes", "bytes", "heap_bytes"),
)
OPTIONAL = frozenset({"dom_nodes", "heap_bytes"})
WHOLE = frozenset({"frames", "long_tasks", "long_animation_frames", "dom_nodes"})   # counts: ints again
METRICS = frozenset({FRAME_TIME, SCRIPT, SCRIPT_FORCED, *(metric for metric, _, _ in SCALARS)})
GroupKey = tuple[str, str, float]


def source_of(page: str) -> str:
    return f"wf-perf-monitor.js ({page})"


def frame_samples(report: FrameReport) -> list[Sample]:
    """Every number of the report as a registered sample; scripts sharing (source, invoker) are summed,
    so each script is one series."""
    base = {"page": report.page, "session": report.session}
    source = source_of(report.page)

    def sample(metric: str, unit: str, value: float, **labels: str) -> Sample:
        return Sample(metric, float(value), unit, source, base | labels, report.ts)

    out = [sample(FRAME_TIME, "s", getattr(report, name), stat=stat) for stat, name in STATS]
    out += [sample(metric, unit, getattr(report, name)) for metric, unit, name in SCALARS
            if getattr(report, name) is not None]
    scripts: dict[tuple[str, str], tuple[float, float]] = {}
    for script in report.scripts:
        ran, forced = scripts.get((script.source, script.invoker), (0.0, 0.0))
        scripts[(script.source, script.invoker)] = (ran + script.duration_s, forced + script.forced_layout_s)
    for (url, invoker), (ran, forced) in scripts.items():
        out += [sample(SCRIPT, "s", ran, script=url, invoker=invoker),
                sample(SCRIPT_FORCED, "s", forced, script=url, invoker=invoker)]
    return out


def reports_from_samples(samples: Iterable[Sample]) -> list[FrameReport]:
    """The reports the frame samples among `samples` came from, oldest first. A group missing one of a
    report's required numbers (cut by retention, or pushed by hand through /api/samples) is left out."""
    groups: dict[GroupKey, list[Sample]] = defaultdict(list)
    for sample in samples:
        if sample.metric in METRICS:
            groups[(sample.label("page"), sample.label("session"), sample.ts)].append(sample)
    reports = (_report(key, group) for key, group in sorted(groups.items(), key=lambda item: item[0][2]))
    return [report for report in reports if report is not None]


def _report(key: GroupKey, group: list[Sample]) -> FrameReport | None:
    page, session, ts = key
    values: dict[str, float | int | bool] = {}
    scripts: dict[tuple[str, str], dict[str, float]] = defaultdict(dict)
    fields = {metric: name for metric, _, name in SCALARS}
    stats = dict(STATS)
    for sample in group:
        if sample.metric == FRAME_TIME and sample.label("stat") in stats:
            values[stats[sample.label("stat")]] = sample.value
        elif sample.metric in (SCRIPT, SCRIPT_FORCED):
            scripts[(sample.label("script"), sample.label("invoker"))][sample.metric] = sample.value
        elif sample.metric in fields:
            name = fields[sample.metric]
            values[name] = bool(sample.value) if name == "loaf_supported" else \
                int(sample.value) if name in WHOLE else sample.value
    required = {name for _, name in STATS} | {name for _, _, name in SCALARS if name not in OPTIONAL}
    if not required <= values.keys():
        return None
    times = [ScriptTime(url, invoker, pair.get(SCRIPT, 0.0), pair.get(SCRIPT_FORCED, 0.0))
             for (url, invoker), pair in scripts.items()]
    return FrameReport(page=page, session=session, ts=ts, scripts=times, **values)  # type: ignore[arg-type]
