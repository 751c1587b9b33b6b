"""The plots' data of one stored run, by what its command measured (the report pipeline's second half).

Each gatherer reads the run's stored samples (and, for a monitor run, its alert transitions and
actions) and recomputes what the command decided from them with the same analysis functions the
command used (the knee, the leak verdict, the change points), so a report never draws a second
opinion. Nothing here draws: surface/plots.py does.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable

from wfdoctor.analyze.leaks import leak_verdict
from wfdoctor.analyze.regress_check import CheckSettings, judge_series
from wfdoctor.analyze.series import VOLATILE_LABELS, series_by_metric
from wfdoctor.analyze.tokens import LevelSummary, find_knee
from wfdoctor.app.reports.report import (ChangePlot, DistributionPlot, GrowthPlot, Line, Marker,
                                         MemberBar, PercentilePlot, Plot, SweepPlot, TimelinePlot, TimeSeriesPlot,
                                         change_plot)
from wfdoctor.config.facts import Facts
from wfdoctor.config.metrics import higher_is_better
from wfdoctor.model import Run, Sample
from wfdoctor.store.db import Store
from wfdoctor.store.monitoring import alert_events_of

MAX_TIME_PLOTS = 12      # a monitor run samples dozens of metrics: the report draws the first this many
MAX_LINES = 8            # label sets drawn in one time-series plot
MAX_CHANGE_PLOTS = 8     # series of a regress run drawn with their change points
RSS = "wf_process_resident_memory_bytes"
TTFT = "wf_llm_request_ttft_seconds"
ITL = "wf_llm_inter_token_latency_seconds"
THROUGHPUT = "wf_llm_output_tokens_per_second"


def _by_metric(samples: list[Sample], metric: str) -> list[Sample]:
    return [s for s in samples if s.metric == metric]


def _stable(sample: Sample) -> str:
    """The series a sample belongs to: its labels without the per-request and per-point ones."""
    return ",".join(f"{k}={v}" for k, v in sorted(sample.labels.items()) if k not in VOLATILE_LABELS)


def _tokens(run: Run, facts: Facts) -> list[Plot]:
    source = f"run {run.id}, wfdoctor tokens (client-measured)"
    ttft: dict[str, list[float]] = defaultdict(list)
    for s in _by_metric(run.samples, TTFT):
        ttft[s.label("concurrency", "?")].append(s.value)
    itl: dict[str, dict[str, float]] = defaultdict(dict)
    for s in _by_metric(run.samples, ITL):
        itl[s.label("concurrency", "?")][s.label("stat")] = s.value
    levels = sorted((int(s.label("concurrency", "0")), s.value) for s in _by_metric(run.samples, THROUGHPUT))
    knee = find_knee([LevelSummary(c, 0, 0, {}, tps, 0.0, 0) for c, tps in levels],
                     facts.limits_for(run.tier).tokens)
    return [
        DistributionPlot("Time to first token per request, by concurrency", source, "time to first token", "s",
                         dict(sorted(ttft.items(), key=lambda kv: int(kv[0]) if kv[0].isdigit() else 0)),
                         "" if ttft else "no request answered: no time to first token was measured"),
        PercentilePlot("Inter-token latency percentiles, by concurrency", source, "inter-token latency", "s",
                       dict(itl), "" if itl else "no inter-token gaps were measured (no request streamed 2 tokens)"),
        SweepPlot("Output throughput against concurrency, with the knee", source, "tokens/s",
                  [c for c, _ in levels], [v for _, v in levels], knee.concurrency, knee.explanation,
                  "" if levels else "no concurrency level produced output"),
    ]


def _council(run: Run) -> list[Plot]:
    size = str(len(run.settings.get("members", []) or []))
    bars: dict[str, dict[str, float]] = defaultdict(dict)
    for s in run.samples:
        if s.metric in ("wf_council_member_ttft_seconds", "wf_council_member_finish_seconds") and \
                s.label("members") == size:
            bars[s.label("member", "?")][s.metric] = s.value
    members = [MemberBar(name, v.get("wf_council_member_ttft_seconds"), v.get("wf_council_member_finish_seconds"))
               for name, v in bars.items()]
    return [TimelinePlot(f"Council of {size} members: each member from start to finish", f"run {run.id}, "
                         "wfdoctor council (client-measured)", members,
                         "" if members else "no member produced a first token or a finish")]


def _memory(run: Run, facts: Facts) -> list[Plot]:
    rss = sorted(_by_metric(run.samples, RSS), key=lambda s: s.ts)
    name = f"{rss[0].label('name')} (pid {rss[0].label('pid')})" if rss else f"pid {run.settings.get('pid', '?')}"
    title = f"Resident memory of {name} over the watch"
    source = f"run {run.id}, psutil (/proc); slope: Theil-Sen"
    if len(rss) < 2:
        return [GrowthPlot(title, source, "bytes", [], [], None, 0.0, None, "insufficient data",
                           "fewer than 2 memory readings were stored")]
    times = [s.ts - rss[0].ts for s in rss]
    values = [s.value for s in rss]
    verdict = leak_verdict(times, values, limits=facts.limits.leaks,
                           floor_bytes_per_minute=float(facts.common["memory_leak_bytes_per_minute"]))
    return [GrowthPlot(title, source, "bytes", times, values, verdict.slope.per_second if verdict.slope else None,
                       verdict.analysed_from_s, verdict.plateau_from_s, f"{verdict.verdict}: {verdict.explanation}")]


def _regress(run: Run, store: Store) -> list[Plot]:
    wanted = [str(m) for m in run.settings.get("metrics", []) or []] or sorted({s.metric for s in run.samples})
    wanted = [m for m in wanted if higher_is_better(m) is not None]
    verdicts = judge_series(series_by_metric(store.metric_readings(wanted)), higher_is_better,
                            CheckSettings()) if wanted else []
    verdicts.sort(key=lambda v: (not v.changes, v.series.name))
    plots: list[Plot] = [change_plot(v.series, v.changes, f"stored history, {len(v.series.values)} points (one per "
                                     "run or imported point)") for v in verdicts[:MAX_CHANGE_PLOTS]]
    return plots or [ChangePlot("Metric history with change points", "stored history", "value", "", [], [], [],
                                "no series with a known direction and enough points in the history")]


def _markers(store: Store, run: Run) -> list[Marker]:
    assert run.id is not None
    events = alert_events_of(store, run.id)
    actions = store.actions(run.id, limit=1000)
    return ([Marker(e.ts, f"alert {e.state}", f"{e.name} {e.state}") for e in events] +
            [Marker(a.ts, "action", f"{a.kind} {a.target} ({'applied' if a.applied else 'dry run'})")
             for a in actions])


def _over_time(run: Run, markers: list[Marker]) -> tuple[list[Plot], list[str]]:
    grouped: dict[str, dict[str, list[Sample]]] = defaultdict(lambda: defaultdict(list))
    for s in run.samples:
        grouped[s.metric][_stable(s)].append(s)
    plots: list[Plot] = []
    for metric, series in sorted(grouped.items()):
        lines = [Line(name or metric, [s.ts for s in points], [s.value for s in points])
                 for name, points in sorted(series.items()) if len({s.ts for s in points}) > 1]
        if lines:
            first = next(iter(series.values()))[0]
            shown = f" (the first {MAX_LINES} of {len(lines)} label sets)" if len(lines) > MAX_LINES else ""
            plots.append(TimeSeriesPlot(f"{metric} over run {run.id} ({run.command}){shown}",
                                        f"run {run.id}, {first.source}", metric, first.unit, lines[:MAX_LINES],
                                        markers))
    if not plots:
        return [TimeSeriesPlot(f"Metrics over run {run.id}", f"run {run.id}", "value", "", [], markers,
                               "no metric was sampled more than once in this run: nothing changes over time")], []
    left = [f"{len(plots) - MAX_TIME_PLOTS} more metrics sampled over time are not drawn (the first "
            f"{MAX_TIME_PLOTS} by name are)"] if len(plots) > MAX_TIME_PLOTS else []
    return plots[:MAX_TIME_PLOTS], left


def run_plots(store: Store, run: Run, facts: Facts) -> tuple[list[Plot], list[str]]:
    """The plots of a run, by what its command measured, and what was left out of them (a note each)."""
    gatherers: dict[str, Callable[[], list[Plot]]] = {
        "tokens": lambda: _tokens(run, facts),
        "council": lambda: _council(run),
        "memory watch": lambda: _memory(run, facts),
        "regress check": lambda: _regress(run, store),
        "regress record": lambda: _regress(run, store),
    }
    gather = gatherers.get(run.command)
    if gather is not None:
        return gather(), []
    return _over_time(run, _markers(store, run) if run.command == "monitor" else [])


def empty_notes(plots: list[Plot]) -> list[str]:
    """One line per plot that has no data: a finding of the report, said in words."""
    return [f"{p.title}: no data ({p.empty_reason})" for p in plots if p.empty_reason]
