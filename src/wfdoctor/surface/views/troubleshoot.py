"""What `wfdoctor troubleshoot` shows: the five steps, the ranked causes, past incidents, actions, validation."""

from __future__ import annotations

from pydantic import BaseModel
from rich.console import Console
from rich.table import Table
from rich.text import Text

from wfdoctor.analyze.incidents import IncidentMatch
from wfdoctor.app.reports.troubleshoot import TroubleshootReport, WorkflowStep
from wfdoctor.config.rules import RuleBook
from wfdoctor.model import ActionDisposition, Finding, Incident, IncidentAction, MetricComparison, Verdict
from wfdoctor.surface.views.common import Document, findings_group, schema_field
from wfdoctor.surface.views.compare import TABLE_WIDTH
from wfdoctor.surface.views.incidents import verdict_text
from wfdoctor.surface.views.safe import plain, shown
from wfdoctor.units import format_value

SCHEMA_ID = "wfdoctor.troubleshoot/v1"
VALIDATION_TITLE = "Validation: before against after"
VERDICT_STYLE = {Verdict.IMPROVED: "bold green", Verdict.WORSE: "bold red", Verdict.UNCHANGED: "yellow",
                 Verdict.INCONCLUSIVE: "dim"}
DISPOSITION_TEXT = {
    ActionDisposition.APPLIED: "applied by wfdoctor", ActionDisposition.DRY_RUN: "dry run (add --apply)",
    ActionDisposition.COMMAND: "for you to run", ActionDisposition.INSTRUCTIONS: "for you to do",
    ActionDisposition.DECLINED: "declined", ActionDisposition.ROLLED_BACK: "rolled back",
    ActionDisposition.FAILED: "failed", ActionDisposition.DONE: "done by you"}


def _value(value: float | None, unit: str) -> str:
    return "-" if value is None else format_value(value, unit)


def _change(c: MetricComparison) -> str:
    if c.change is None:
        return "-"
    interval = f" [{c.change_low:+.1%}, {c.change_high:+.1%}]" if c.change_low is not None and \
        c.change_high is not None else ""
    return f"{c.change:+.1%}{interval}"


def _cells(c: MetricComparison) -> list[str]:
    """The series, its medians before and after, the change with its interval, Cliff's d and p."""
    labels = ",".join(f"{k}={v}" for k, v in sorted(c.labels.items()))
    return [plain(f"{c.metric}{{{labels}}}" if labels else c.metric),
            f"{_value(c.before_median, c.unit)} (n={c.before_n})", f"{_value(c.after_median, c.unit)} (n={c.after_n})",
            _change(c), "-" if c.effect_size is None else f"{c.effect_size:+.2f}",
            "-" if c.p_value is None else f"{c.p_value:.2g}"]


def validation_table(comparisons: list[MetricComparison]) -> Table:
    """Before against after, series by series: medians, the change with its interval, effect, p, verdict."""
    table = Table(title=VALIDATION_TITLE, title_justify="left")
    table.add_column("metric", overflow="fold", ratio=2)
    for column in ("before (median)", "after (median)", "change [95 % CI]", "Cliff's d", "p", "verdict"):
        table.add_column(column)
    for c in comparisons:
        table.add_row(*_cells(c), Text(c.verdict.value, style=VERDICT_STYLE[c.verdict]))
    return table


def render_validation(comparisons: list[MetricComparison], console: Console) -> None:
    """The table on a terminal wide enough for it; on a narrower one (a pipe is 80 columns) one block a series,
    as `compare` does: the table folded series names into slivers of nine characters."""
    if console.width >= TABLE_WIDTH:
        console.print(validation_table(comparisons))
        return
    console.print(Text(VALIDATION_TITLE, style="bold"))
    for c in comparisons:
        name, before, after, change, delta, p = _cells(c)
        console.print(Text.assemble((c.verdict.value, VERDICT_STYLE[c.verdict]), f": {name}"), soft_wrap=True)
        console.print(Text(f"    {before} -> {after}, change {change}, Cliff's d {delta}, p {p}"), soft_wrap=True)


def _action_line(action: IncidentAction) -> Text:
    return Text(plain(f"  [{action.level}] {action.title} ({action.action_id}): "
                      f"{DISPOSITION_TEXT[action.disposition]}. {action.detail}"))


def _match_lines(match: IncidentMatch) -> list[Text]:
    past = match.incident
    origin = "" if past.origin == "local" else f", {past.origin}"   # someone else's words: say whose
    lines = [Text(plain(f"  incident {past.id} ({past.status}, similarity {match.similarity:.2f}{origin}): "
                        f"{past.cause}: {past.summary}"))]
    lines += [Text(plain(f"    why: {'; '.join(match.reasons)}"), style="dim")] if match.reasons else []
    if match.fixed_by:
        lines.append(Text(plain("    fixed last time by: " + ", ".join(f"[{a.level}] {a.title}"
                                                                         for a in match.fixed_by)), style="green"))
    elif past.status == "resolved":
        lines.append(Text("    resolved then, but what fixed it was not recorded (--fixed-by says it)", style="dim"))
    else:
        lines.append(Text("    not fixed then (no validated improvement)", style="dim"))
    return lines


def _steps(steps: list[WorkflowStep]) -> Table:
    table = Table(show_header=False, box=None, pad_edge=False)
    for step in steps:
        table.add_row(f"{step.number}/5", Text(step.name, style="bold"), plain(step.outcome))
    return table


def render(report: TroubleshootReport, console: Console) -> None:
    rulebook = report.rulebook
    console.print(Text.assemble(("wfdoctor troubleshoot", "bold"),
                                plain(f"  {report.implementation or 'server'} at {report.backend_url}"
                                      f"{', model ' + report.model if report.model else ''}, tier {report.tier}")),
                  soft_wrap=True)   # one line: a model name broken off its "model" misreads
    console.print(_steps(report.steps))
    if report.matches:
        console.print(Text("Past incidents like this one:", style="bold"))
        for match in report.matches:
            for line in _match_lines(match):
                console.print(line)
    incident = report.incident
    if incident is None:
        console.print(findings_group(report.findings, rulebook, healthy="Nothing to troubleshoot: no rule matched "
                                                                         "what was measured."))
    else:
        if report.steps and report.steps[0].number == 4:   # --validate: the findings are the incident's, not new
            console.print(Text(f"Found when incident {incident.id} was opened (runs "
                               f"{', '.join(map(str, incident.before_runs)) or 'none'}), before what was done:",
                               style="bold"))
        _render_incident(incident, report.findings, console, rulebook)
    for note in report.notes:
        console.print(Text(plain(f"Note: {note}"), style="dim"))


def _undo_yourself(incident: Incident, rulebook: RuleBook) -> list[Text]:
    """Worse after actions the user did: wfdoctor rolls back only what it applied, so it says how to undo theirs."""
    if incident.verdict is not Verdict.WORSE:
        return []
    lines = []
    for action in (a for a in incident.actions if a.disposition is ActionDisposition.DONE):
        undo = rulebook.actions[action.action_id].undo if action.action_id in rulebook.actions else ""
        lines.append(Text(plain(f"Measured worse after what you did ({action.action_id}): wfdoctor undoes only what "
                                f"it applied, so undo it yourself{': ' + undo if undo else ''}"), style="bold red"))
    return lines


def _render_incident(incident: Incident, findings: list[Finding], console: Console, rulebook: RuleBook) -> None:
    console.print(findings_group(findings, rulebook))
    # Not a second catalogue: the panel above lists every finding's actions; these are the ones step 3 took.
    console.print(Text(plain(f"Step 3 took the top cause's actions ({incident.cause}), by level:"), style="bold"))
    for action in incident.actions:
        console.print(_action_line(action))
    if incident.validation:
        render_validation(incident.validation, console)
    for line in _undo_yourself(incident, rulebook):
        console.print(line)
    style = VERDICT_STYLE[incident.verdict]
    console.print(Text.assemble(("Incident ", "bold"), (f"{incident.id}", "bold"), f": {incident.status}",
                                (f" (validation: {verdict_text(incident)})", style)))
    if incident.status == "open":
        ids = " or ".join(a.action_id for a in incident.actions if a.disposition is not ActionDisposition.APPLIED)
        console.print(shown(f"After acting, validate it: wfdoctor troubleshoot --validate {incident.id} "
                            f"--fixed-by ACTION" + (f" (ACTION: the one you did, {ids})" if ids else "")))


class MatchDocument(BaseModel):
    incident_id: int | None
    similarity: float
    reasons: list[str]
    cause: str
    status: str
    fixed_by: list[IncidentAction]


class TroubleshootDocument(Document):
    schema_id: str = schema_field(SCHEMA_ID)
    exit_code: int
    backend_url: str
    implementation: str
    model: str
    tier: str
    steps: list[WorkflowStep]
    findings: list[Finding]
    matches: list[MatchDocument]
    incident: Incident | None
    notes: list[str]


def document(report: TroubleshootReport, exit_code: int) -> TroubleshootDocument:
    matches = [MatchDocument(incident_id=m.incident.id, similarity=m.similarity, reasons=m.reasons,
                             cause=m.incident.cause, status=m.incident.status, fixed_by=m.fixed_by)
               for m in report.matches]
    return TroubleshootDocument(exit_code=exit_code, backend_url=report.backend_url,
                                implementation=report.implementation, model=report.model, tier=report.tier,
                                steps=report.steps, findings=report.findings, matches=matches,
                                incident=report.incident, notes=report.notes)
