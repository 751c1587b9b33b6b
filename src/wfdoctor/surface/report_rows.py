"""A report's tables as rows of plain text, shared by the HTML and the Markdown writers.

One place decides what a report's tables say (and with which units); the writers only escape and lay
them out, so the two formats cannot disagree. The text stays raw here: escaping is the writer's job,
as each format escapes differently.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone

from wfdoctor.app.reports.report import ReportDocument, ReportFinding, RunSection
from wfdoctor.model import Incident, MetricComparison, plausible_time


@dataclass(frozen=True)
class Table:
    title: str
    header: list[str]
    rows: list[list[str]]
    empty: str = "none"            # what the table says when it has no rows


def utc(ts: float | None) -> str:
    """The time in UTC; a hand-edited stored time that is no time (NaN, the year 10^292) says so, as in history."""
    if ts is None:
        return "-"
    return datetime.fromtimestamp(ts, timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC") if plausible_time(ts) \
        else "(invalid time)"


def _number(value: float | None, unit: str = "") -> str:
    if value is None:
        return "-"
    return f"{value:.4g} {unit}".strip()


def _share(value: float | None) -> str:
    return "-" if value is None else f"{value * 100:+.1f}\u00a0%"   # a no-break space: the sign stays with its number


def findings_table(findings: list[ReportFinding]) -> Table:
    """Causes first (by priority), each with the symptoms it explains."""
    rows = [[f.priority, f.code, f.cause, f.summary, "; ".join(f.explains) or "-", "; ".join(f.actions) or "-"]
            for f in findings]
    return Table("Findings (most urgent first; a cause lists the symptoms it explains)",
                 ["priority", "code", "cause", "summary", "explains", "actions"], rows,
                 "no findings: every rule that could be judged passed")


def facts_table(section: RunSection) -> Table:
    rows = [["command", section.command], ["status", section.status], ["started", utc(section.started_at)],
            ["finished", utc(section.finished_at)], ["samples stored", str(section.samples)]]
    return Table("Measured on", ["what", "value"], rows + [list(pair) for pair in section.facts])


def _comparison_row(c: MetricComparison) -> list[str]:
    labels = ",".join(f"{k}={v}" for k, v in sorted(c.labels.items()))
    interval = ("-" if c.change_low is None or c.change_high is None
                else f"{_share(c.change_low)} to {_share(c.change_high)} ({c.confidence:.0%})")
    direction = {True: "higher is better", False: "lower is better", None: "no direction"}[c.higher_is_better]
    return [f"{c.metric}{{{labels}}}" if labels else c.metric, c.verdict.value, direction, f"{c.before_n}",
            _number(c.before_median, c.unit), f"{c.after_n}", _number(c.after_median, c.unit), _share(c.change), interval,
            "-" if c.effect_size is None else f"{c.effect_size:+.2f}", "-" if c.p_value is None else f"{c.p_value:.2g}",
            c.reason]


def incident_tables(incident: Incident, findings: list[ReportFinding]) -> list[Table]:
    """The answer first (status, cause, findings), then symptoms, actions with levels and dispositions, the
    validation, and where it happened."""
    summary = [["status", incident.status], ["verdict", incident.verdict.value], ["cause", incident.cause or "-"],
               ["summary", incident.summary], ["created", utc(incident.created_at)],
               ["resolved", utc(incident.resolved_at)], ["note", incident.note or "-"],
               ["matched past incidents", ", ".join(str(i) for i in incident.matched) or "-"]]
    actions = [[a.level, a.action_id, a.title, a.disposition.value, a.detail or "-"] for a in incident.actions]
    return [
        Table("Incident", ["what", "value"], summary),
        findings_table(findings),
        Table("Symptoms", ["symptom"], [[s] for s in incident.symptoms], "no symptom was recorded"),
        Table("Actions (escalation level and what became of each)",
              ["level", "action", "title", "disposition", "detail"], actions, "no action was proposed"),
        Table("Validation: before against after (Mann-Whitney, Cliff's delta, bootstrap interval of the median "
              "change)", ["series", "verdict", "direction", "before n", "before median", "after n", "after median",
                          "median change", "interval", "effect (Cliff's delta)", "p", "why"],
              [_comparison_row(c) for c in incident.validation], "nothing was compared before and after"),
        Table("Where it happened (fingerprint)", ["key", "value"],
              [[k, v] for k, v in sorted(incident.fingerprint.items())], "no fingerprint was recorded"),
    ]


def run_heading(document: ReportDocument, section: RunSection) -> str:
    role = document.run_roles.get(section.run_id)
    return f"Run {section.run_id}: {section.command}" + (f" ({role} the fix)" if role else "")
