"""What the monitor's dashboard draws and lists: chart lines, the tick it waits on, alert history, recent runs.

The monitor holds every sample it reads for one tick only; the dashboard needs a few minutes of
some of them. `ChartBuffer` keeps those few (the rules in CHARTS) in ring buffers bounded in
points per line and lines per chart, so a page pushing a new name every report (names are
untrusted) cannot grow the monitor. Points carry the arrival stamp of the batch they came in:
a dashboard asks for what arrived after the stamp it was last sent, so a pushed sample whose
own time is older than the newest one drawn still reaches every client exactly once.

The tokens/s and TTFT charts also draw the token runs users make (`wfdoctor tokens`, `diagnose`,
from any process): `RunPoints` reads their summaries from the store on the runs' schedule.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field

from wfdoctor.app.reports.dashboard import ChartSeries, RunLine
from wfdoctor.model import Alert, Sample
from wfdoctor.store.monitoring import MonitorStore, RunSample

POINTS_PER_LINE = 600        # 60 s at 10 ticks/s, 10 min at the default 1 s
LINES_PER_CHART = 64         # a 128-core machine shows its first 64 cores; pages past 64 are not drawn
NAME_CHARS = 120             # a line's name is a label value (a page's name): shown, so cut
RECENT_ALERTS = 100
RECENT_RUNS = 20
RUNS_EVERY_S = 10.0          # the list of recent runs: one cheap query on its own schedule, not one per tick
RUN_COMMANDS = ("tokens", "diagnose")
RUN_CHARTS = {"wf_llm_decode_tokens_per_second": "tokens", "wf_llm_time_to_first_token_seconds": "ttft"}
RUN_POINT = {"stat": "p50", "concurrency": "1"}   # a run's point: its median at one request at a time
RUNS_SINCE_S = 3600.0        # at start, the last hour's runs: older ones would stretch the time axis over days
SETTLE_S = 60.0              # a run's samples are written a moment before it is marked finished: looked back on


@dataclass(frozen=True)
class ChartRule:
    """A registered metric drawn as lines of `chart`, one per value of `label` (named `prefix` + value),
    taking only samples whose labels include `match`."""

    metric: str
    chart: str
    prefix: str
    label: str = ""
    match: tuple[tuple[str, str], ...] = ()

    def takes(self, sample: Sample) -> bool:
        return all(sample.labels.get(k) == v for k, v in self.match)

    def name(self, sample: Sample) -> str:
        return self.prefix + (sample.labels.get(self.label, "") if self.label else "")


def _placed(samples: Iterable[Sample]) -> Iterable[tuple[str, str, Sample]]:
    """(chart, line name, sample) by the first rule of each chart that takes the sample (the canary's own
    rule before the one for any pushed server)."""
    for sample in samples:
        charts: set[str] = set()
        for rule in BY_METRIC.get(sample.metric, ()):
            if rule.chart not in charts and rule.takes(sample):
                charts.add(rule.chart)
                yield rule.chart, rule.name(sample), sample


CHARTS = (
    ChartRule("wf_cpu_core_utilization_ratio", "cpu", "core ", "core"),
    ChartRule("wf_memory_used_ratio", "memory", "used"),
    ChartRule("wf_gpu_utilization_ratio", "gpu", "busy, gpu ", "gpu"),
    ChartRule("wf_gpu_memory_used_ratio", "gpu", "memory, gpu ", "gpu"),
    ChartRule("wf_llm_decode_tokens_per_second", "tokens", "canary ", "url", (("stat", "p50"), ("check", "canary"))),
    ChartRule("wf_llm_decode_tokens_per_second", "tokens", "", "url", (("stat", "p50"),)),
    ChartRule("wf_llm_time_to_first_token_seconds", "ttft", "canary ", "url", (("stat", "p50"), ("check", "canary"))),
    ChartRule("wf_llm_time_to_first_token_seconds", "ttft", "", "url", (("stat", "p50"),)),
    ChartRule("wf_ui_frame_time_seconds", "frames", "", "page", (("stat", "mean"),)),
)
BY_METRIC: dict[str, list[ChartRule]] = {}
for _rule in CHARTS:
    BY_METRIC.setdefault(_rule.metric, []).append(_rule)


@dataclass
class _Line:
    unit: str
    points: deque[tuple[float, float, float]] = field(default_factory=lambda: deque(maxlen=POINTS_PER_LINE))
    # (arrival stamp, ts, value)


class ChartBuffer:
    """The chart lines of the last POINTS_PER_LINE readings. Thread-safe: `accept` may add from a thread."""

    def __init__(self) -> None:
        self._lines: dict[tuple[str, str], _Line] = {}
        self._per_chart: dict[str, int] = {}
        self._stamp = 0.0
        self._lock = threading.Lock()
        self.refused = 0      # samples of lines past LINES_PER_CHART

    def add(self, samples: Iterable[Sample]) -> None:
        """The samples the CHARTS rules draw, on their lines."""
        self.add_named(_placed(samples))

    def add_named(self, points: Iterable[tuple[str, str, Sample]]) -> None:
        """Samples on lines named by the caller: (chart, line name, sample)."""
        with self._lock:
            stamp = self._stamp = max(time.time(), self._stamp + 1e-6)  # strictly increasing: a cursor
            for chart, name, sample in points:
                self._line(chart, name[:NAME_CHARS] or sample.metric, sample.unit).points.append(
                    (stamp, sample.ts, sample.value))

    def _line(self, chart: str, name: str, unit: str) -> _Line:
        line = self._lines.get((chart, name))
        if line is None:
            if self._per_chart.get(chart, 0) >= LINES_PER_CHART:
                self.refused += 1
                return _Line(unit)  # drawn nowhere
            line = self._lines[(chart, name)] = _Line(unit)
            self._per_chart[chart] = self._per_chart.get(chart, 0) + 1
        return line

    def series(self, since: float) -> list[ChartSeries]:
        """Each line's points that arrived after `since` (0: all held); `until` is the cursor to ask with next."""
        with self._lock:
            out = []
            for (chart, name), line in self._lines.items():
                fresh = [p for p in line.points if p[0] > since]
                if fresh:
                    out.append(ChartSeries(chart, name, line.unit, [(ts, value) for _, ts, value in fresh],
                                           until=fresh[-1][0]))
            return out


class Ticker:
    """The monitor's tick count and a wait for the next one (on the monitor's event loop)."""

    def __init__(self) -> None:
        self.count = 0
        self._event = asyncio.Event()

    def bump(self) -> None:
        self.count += 1
        self._event.set()
        self._event = asyncio.Event()

    async def next_tick(self, seen: int, timeout_s: float) -> int:
        if self.count <= seen:
            try:
                await asyncio.wait_for(self._event.wait(), timeout_s)
            except TimeoutError:
                pass
        return self.count


def run_line(row: RunSample) -> str:
    """A run's line: one per command, server and model ("tokens: SmolLM2 @ 127.0.0.1:8080"), short enough
    for a chart's legend."""
    server = " @ ".join(part for part in (row.model, row.backend.removeprefix("http://")) if part)
    return row.command + (f": {server}" if server else "")


class RunPoints:
    """The summaries of the token runs users make, each run's points charted once.

    Canary runs (this monitor's, or an earlier one's) are left out: a monitor charts its canary as it
    measures it, on the canary's own line. Each read asks for the samples after a moving time cursor; a run is
    remembered until the cursor passes its samples, so the SETTLE_S look-back (for a run whose
    samples were written just before it was marked finished) never charts a run twice.
    """

    def __init__(self, now: float) -> None:
        self._since = now - RUNS_SINCE_S
        self._charted: dict[int, float] = {}   # run id -> the time of its newest sample

    def read(self, store: MonitorStore, charts: ChartBuffer) -> None:
        rows = store.finished_run_samples(list(RUN_CHARTS), RUN_COMMANDS, self._since)
        charts.add_named((RUN_CHARTS[row.sample.metric], run_line(row), row.sample) for row in rows
                         if row.run_id not in self._charted and RUN_POINT.items() <= row.sample.labels.items())
        for row in rows:
            self._charted[row.run_id] = max(self._charted.get(row.run_id, row.sample.ts), row.sample.ts)
        if rows:
            self._since = max(self._since, rows[-1].sample.ts - SETTLE_S)
            self._charted = {run: ts for run, ts in self._charted.items() if ts > self._since}


@dataclass
class DashboardState:
    """What the monitor keeps for its dashboard beyond the tick: charts, alert history, recent runs."""

    charts: ChartBuffer = field(default_factory=ChartBuffer)
    ticker: Ticker = field(default_factory=Ticker)
    alerts: deque[Alert] = field(default_factory=lambda: deque(maxlen=RECENT_ALERTS))   # newest first
    runs: list[RunLine] = field(default_factory=list)
    run_points: RunPoints = field(default_factory=lambda: RunPoints(time.time()))

    def note_transitions(self, transitions: Iterable[Alert]) -> None:
        self.alerts.extendleft(transitions)

    async def refresh_runs(self, store: MonitorStore) -> None:
        """The run list and the new runs' chart points. Called on the monitor's loop: the store's connection
        belongs to that thread."""
        self.runs = [RunLine(r.id, r.command, r.started_at, r.status, r.tier, sum(r.findings_by_priority.values()))
                     for r in store.list_runs(RECENT_RUNS)]
        self.run_points.read(store, self.charts)


class DashboardQueries:
    """The MonitorView questions only the dashboard asks, answered from `_dash` (a base of `Monitor`)."""

    _dash: DashboardState

    def recent_alerts(self) -> list[Alert]:
        return list(self._dash.alerts)

    def recent_runs(self) -> list[RunLine]:
        return list(self._dash.runs)

    def chart_series(self, since: float) -> list[ChartSeries]:
        return self._dash.charts.series(since)

    async def next_tick(self, seen: int, timeout_s: float) -> int:
        return await self._dash.ticker.next_tick(seen, timeout_s)
