"""`report`: what a run or an incident report says, as typed data: facts, findings and the plots' data.

The pipeline (app/report.py) gathers the numbers; the surface draws them (surface/plots.py) and writes
HTML or Markdown. Every plot carries its title, its axes' quantities with units and where its numbers
came from, so a renderer never guesses. A plot with no data is kept and drawn as "no data" (with
`empty_reason`), and the report says so in `notes`: an empty section never looks like a healthy one.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from wfdoctor.analyze.regression import Change
from wfdoctor.analyze.series import Series
from wfdoctor.model import Incident, WfdoctorError


@dataclass(frozen=True)
class ReportTarget:
    """What a report is about: a stored run, or a stored incident."""

    kind: str      # "run" or "incident"
    id: int

    @property
    def name(self) -> str:
        """The default file name's stem: wfdoctor-run-7, wfdoctor-incident-3."""
        return f"wfdoctor-{self.kind}-{self.id}"


def parse_target(text: str) -> ReportTarget:
    """`7` (a run) or `incident:3`; anything else is a one-line error naming the text."""
    kind, _, number = text.rpartition(":") if text.startswith("incident:") else ("run", "", text)
    if not number.isdigit() or int(number) < 1:
        raise WfdoctorError(f"report target {text!r}: expected a run id (e.g. 7) or incident:N (e.g. incident:3)")
    return ReportTarget(kind, int(number))


@dataclass(frozen=True)
class Line:
    """One series of a time-series plot: times (seconds since 1970) and values."""

    name: str
    times: list[float]
    values: list[float]


@dataclass(frozen=True)
class Marker:
    """A moment worth a vertical line on a time axis: an alert transition or an action."""

    ts: float
    kind: str      # "alert firing", "alert resolved", "alert pending", "action"
    label: str


@dataclass(frozen=True)
class TimeSeriesPlot:
    title: str
    source: str
    quantity: str              # the y axis: what is measured (the metric)
    unit: str
    lines: list[Line]
    markers: list[Marker] = field(default_factory=list)
    empty_reason: str = ""


@dataclass(frozen=True)
class DistributionPlot:
    """Per-request values grouped by concurrency (box plots of e.g. TTFT)."""

    title: str
    source: str
    quantity: str
    unit: str
    groups: dict[str, list[float]]   # group label (concurrency) -> values
    empty_reason: str = ""


@dataclass(frozen=True)
class PercentilePlot:
    """Stored percentiles per group where per-request values were not kept (inter-token latency)."""

    title: str
    source: str
    quantity: str
    unit: str
    percentiles: dict[str, dict[str, float]]   # group label -> {"p50": v, "p90": v, ...}
    empty_reason: str = ""


@dataclass(frozen=True)
class SweepPlot:
    """Output throughput against concurrency, with the knee where scaling stops."""

    title: str
    source: str
    unit: str
    concurrency: list[int]
    throughput: list[float]
    knee: int | None
    knee_explanation: str
    empty_reason: str = ""


@dataclass(frozen=True)
class MemberBar:
    name: str
    first_token_s: float | None
    finish_s: float | None


@dataclass(frozen=True)
class TimelinePlot:
    """A council: one bar per member from its start to its finish, the first token marked."""

    title: str
    source: str
    members: list[MemberBar]
    empty_reason: str = ""


@dataclass(frozen=True)
class GrowthPlot:
    """A process's memory over the watch, the fitted slope over the analysed part and the plateau break."""

    title: str
    source: str
    unit: str
    times_s: list[float]           # seconds from the first sample
    values: list[float]
    slope_per_s: float | None      # Theil-Sen, in unit per second
    fit_from_s: float              # start of the analysed part
    plateau_from_s: float | None
    verdict: str
    empty_reason: str = ""


@dataclass(frozen=True)
class ChangeMark:
    index: int
    kind: str                      # "regression", "improvement", "drift", "noise increased", ...
    change_pct: float


@dataclass(frozen=True)
class ChangePlot:
    """A metric's history (one point per run or imported point) with its change points."""

    title: str
    source: str
    quantity: str
    unit: str
    values: list[float]
    revisions: list[str]
    changes: list[ChangeMark]
    empty_reason: str = ""


def change_plot(series: Series, changes: list[Change], source: str) -> ChangePlot:
    """A history and its change points as plot data: `report` and `regress show --plot` draw the same plot."""
    return ChangePlot(f"{series.name}: history with change points", source, series.metric, series.unit,
                      list(series.values), list(series.revisions),
                      [ChangeMark(c.index, c.kind, c.change_pct) for c in changes])


Plot = TimeSeriesPlot | DistributionPlot | PercentilePlot | SweepPlot | TimelinePlot | GrowthPlot | ChangePlot


@dataclass(frozen=True)
class ReportFinding:
    """A finding as a report shows it: the cause first, then the symptoms it explains."""

    code: str
    priority: str
    cause: str
    summary: str
    actions: list[str]
    explains: list[str]            # symptoms (codes and summaries) this cause explains


@dataclass(frozen=True)
class RunSection:
    """One run: what it was, on what, what it found, and its plots."""

    run_id: int
    command: str
    status: str
    started_at: float
    finished_at: float | None
    facts: list[tuple[str, str]]   # (name, value): versions, tier, backend, model, settings
    findings: list[ReportFinding]
    plots: list[Plot]
    samples: int


@dataclass(frozen=True)
class ReportDocument:
    """A run's report, or an incident's (then `incident` is set and `runs` are its before/after runs)."""

    target: ReportTarget
    title: str
    generated_at: float
    wfdoctor_version: str
    runs: list[RunSection]
    notes: list[str]               # what the report could not show, said plainly
    incident: Incident | None = None
    run_roles: dict[int, str] = field(default_factory=dict)   # incident reports: run id -> "before" / "after"
    incident_findings: list[ReportFinding] = field(default_factory=list)   # the incident's, causes first
