"""What the `wfdoctor memory` commands show, and their documents (memory-watch, memory-profile, memory-models)."""

from __future__ import annotations

from pydantic import BaseModel
from rich.console import Console
from rich.table import Table
from rich.text import Text

from wfdoctor.analyze.models import EvictionPlan
from wfdoctor.app.reports.memory import LoadedState, ModelsReport, ProfileReport, PythonProfile, WatchReport
from wfdoctor.model import ActionRecord, Finding
from wfdoctor.surface.views.common import RunDocument, findings_group, run_fields, schema_field
from wfdoctor.surface.views.safe import plain, shown
from wfdoctor.units import format_bytes

WATCH_SCHEMA_ID = "wfdoctor.memory-watch/v1"
PROFILE_SCHEMA_ID = "wfdoctor.memory-profile/v1"
MODELS_SCHEMA_ID = "wfdoctor.memory-models/v1"
SERIES_FIELDS = ("times_s", "rss", "uss", "pss", "swap", "open_files", "threads")
VERDICT_STYLE = {"leak": "bold red", "growth-then-plateau": "yellow", "stable": "green"}


def render_watch(report: WatchReport, console: Console) -> None:
    series, verdict = report.series, report.verdict
    console.print(Text.assemble(("wfdoctor memory watch", "bold"), plain(f"  run {report.run.id}: {series.name} "
                                      f"(pid {series.pid}), "
                                      f"{len(series.rss)} samples over {verdict.duration_s:.1f} s")))
    if series.exited or series.interrupted:
        why = "The process exited during the watch" if series.exited else "Interrupted"
        console.print(Text(f"{why}: the verdict covers what was sampled.", style="yellow"))
    if series.rss:
        console.print(f"RSS: first {format_bytes(series.rss[0])}, last {format_bytes(series.rss[-1])}, "
                      f"min {format_bytes(min(series.rss))}, max {format_bytes(max(series.rss))}; threads "
                      f"{series.threads[-1]:.0f}, open files {series.open_files[-1]:.0f}")
    style = VERDICT_STYLE.get(verdict.verdict, "dim")
    console.print(Text.assemble(("Verdict: ", "bold"), (verdict.verdict.upper(), style), f" ({verdict.explanation})"))
    if verdict.analysed_from_s:
        console.print(Text(f"Warm-up excluded: the first {verdict.analysed_from_s:.0f} s", style="dim"))
    console.print(findings_group(report.findings, report.rulebook, healthy="No leak."))


class SlopeDoc(BaseModel):
    estimate: float
    ci_low: float
    ci_high: float


class StepDoc(BaseModel):
    at_s: float
    bytes: float


class WatchDocument(RunDocument):
    schema_id: str = schema_field(WATCH_SCHEMA_ID)
    pid: int
    name: str
    exited: bool
    interrupted: bool
    verdict: str            # leak, growth-then-plateau, stable, insufficient data
    explanation: str
    samples: int
    duration_s: float
    slope_bytes_per_minute: SlopeDoc | None
    p_value: float | None
    autocorrelation_variance_factor: float | None
    analysed_from_s: float
    plateau_from_s: float | None
    growth_bytes: float
    steps: list[StepDoc]
    exhaustion_s: float | None
    series: dict[str, list[float]]   # times_s and every measured series, sample by sample
    findings: list[Finding]


def watch_document(report: WatchReport, exit_code: int) -> WatchDocument:
    verdict = report.verdict
    per_minute = verdict.per_minute
    return WatchDocument(
        **run_fields(report.run, exit_code),
        pid=report.series.pid, name=report.series.name, exited=report.series.exited,
        interrupted=report.series.interrupted, verdict=verdict.verdict, explanation=verdict.explanation,
        samples=verdict.samples, duration_s=verdict.duration_s,
        slope_bytes_per_minute=SlopeDoc(estimate=per_minute[0], ci_low=per_minute[1], ci_high=per_minute[2])
        if per_minute else None,
        p_value=verdict.trend.p_value if verdict.trend else None,
        autocorrelation_variance_factor=verdict.trend.variance_factor if verdict.trend else None,
        analysed_from_s=verdict.analysed_from_s, plateau_from_s=verdict.plateau_from_s, growth_bytes=verdict.growth,
        steps=[StepDoc(at_s=s.at_s, bytes=s.size) for s in verdict.steps], exhaustion_s=verdict.exhaustion_s,
        series={name: getattr(report.series, name) for name in SERIES_FIELDS}, findings=report.findings,
    )


def render_profile(report: ProfileReport, console: Console) -> None:
    profile = report.profile
    console.print(Text.assemble(("wfdoctor memory profile", "bold"), plain(f"  run {report.run.id}: {profile.script} "
                                      f"(frames {profile.frames}, snapshot every {profile.interval_s:g} s)")))
    console.print(f"Python heap grew {format_bytes(profile.python_heap_growth_bytes)}, RSS grew "
                  f"{format_bytes(profile.rss_growth_bytes)} between '{shown(profile.between[0])}' and "
                  f"'{shown(profile.between[1])}'")
    table = Table(title="Top growth by line", title_justify="left")
    for column in ("#", "where", "code", "grew", "objects"):
        table.add_column(column)
    for rank, entry in enumerate(profile.top_lines, start=1):
        table.add_row(str(rank), shown(f"{entry.file}:{entry.line}"), shown(entry.code),
                      format_bytes(entry.size_diff_bytes),
                      f"+{entry.count_diff}")
    console.print(table)
    snapshots = Table(title="Snapshots", title_justify="left")
    for column in ("label", "at s", "Python heap", "RSS", "gc collected", "gc freed"):
        snapshots.add_column(column)
    listed = profile.snapshots[:3] + profile.snapshots[-2:] if len(profile.snapshots) > 5 else profile.snapshots
    for snap in listed:
        snapshots.add_row(shown(snap.label), f"{snap.at_s:.1f}", format_bytes(snap.traced_bytes),
                          format_bytes(snap.rss_bytes),
                          str(snap.gc_collected), format_bytes(snap.gc_freed_rss_bytes))
    console.print(snapshots)
    if profile.hint:
        console.print(Text(profile.hint, style="yellow"))
    if profile.error:
        console.print(Text(plain(f"The program failed: {profile.error}"), style="red"))


class ProfileDocument(RunDocument):
    schema_id: str = schema_field(PROFILE_SCHEMA_ID)
    profile: PythonProfile
    script_exit_code: int


def profile_document(report: ProfileReport, exit_code: int) -> ProfileDocument:
    return ProfileDocument(**run_fields(report.run, exit_code), profile=report.profile,
                           script_exit_code=report.script_exit_code)


def render_models(report: ModelsReport, console: Console) -> None:
    table = Table(title=f"Loaded models at {shown(report.url)} (/api/ps)", title_justify="left")
    for column in ("model", "size", "in VRAM", "expires at"):
        table.add_column(column)
    for model in report.state.loaded:
        share = (model.vram_bytes or 0) / model.size_bytes if model.size_bytes else 0.0
        table.add_row(shown(model.name), format_bytes(model.size_bytes or 0), f"{share:.0%}",
                      shown(model.expires_at or ""))
    console.print(table)
    if report.plan is not None:
        unload = ", ".join(report.plan.unload) or "nothing"
        console.print(shown(f"LRU plan: unload {unload} ({report.plan.explanation})"))
    for action in report.actions:
        done = "applied" if action.applied else "dry run (add --apply to do it)"
        change = (f": loaded {format_bytes(action.before['loaded_bytes'])} -> "
                  f"{format_bytes(action.after['loaded_bytes'])}" if action.applied else "")
        console.print(Text(plain(f"{action.kind} {action.target} [{action.level}] {done}{change}"
                                 + (f"; error: {action.error}" if action.error else "")),
                           style="red" if action.error else ""))


class ModelsDocument(RunDocument):
    schema_id: str = schema_field(MODELS_SCHEMA_ID)
    backend: str
    state: LoadedState
    plan: EvictionPlan | None
    actions: list[ActionRecord]


def models_document(report: ModelsReport, exit_code: int) -> ModelsDocument:
    return ModelsDocument(**run_fields(report.run, exit_code), backend=report.url,
                          state=report.state, plan=report.plan, actions=report.actions)
