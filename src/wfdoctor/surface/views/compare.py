"""What `wfdoctor compare` shows: the text report, the `--json` document (compare/v1) and the `--markdown` card.

All three lead with what makes the verdicts less than they seem (a partial run, another machine or
model), then the overall line, then one row per tested series, worst first. The cells are built once
(`comparison_cells`, `summary_cells`) and only escaped differently: Rich markup for the terminal,
Markdown and HTML for the card. Every name in them came from a server or a stored row: untrusted text.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from pydantic import BaseModel
from rich import box
from rich.console import Console
from rich.table import Table
from rich.text import Text

from wfdoctor.app.reports.compare import ComparedRun, CompareReport, Difference, OneSided, SummaryValue
from wfdoctor.config.limits import CompareLimits
from wfdoctor.model import MetricComparison, Verdict, plausible_time
from wfdoctor.surface.views.common import Document, iso, schema_field
from wfdoctor.surface.views.safe import markdown_text, plain, shown

SCHEMA_ID = "wfdoctor.compare/v1"
# The verdict second: on a narrow terminal the answer stays on screen when the numbers do not.
COLUMNS = ("metric", "verdict", "unit", "before median", "after median", "change ({confidence:.0%} CI)", "Cliff's d",
           "p", "reason")
SUMMARY_COLUMNS = ("summary", "unit", "before", "after", "change")
DIFFERENCE_COLUMNS = ("in", "what", "before", "after")
VERDICT_STYLE = {Verdict.WORSE: "bold red", Verdict.IMPROVED: "bold green", Verdict.UNCHANGED: "",
                 Verdict.INCONCLUSIVE: "yellow"}
NOT_RECORDED = "(not recorded)"
NOT_JUDGED = "not judged"
CONTEXT_TITLE = "Context: no better direction (CPU share, load...), tested but not judged"
TABLE_WIDTH = 170                    # narrower terminals get one block a series: every column of the table needs it
NAME_WIDTH = 28                      # a longer word (a series name) folds at this width


# --- cells, shared by the text and the Markdown views ---

def _number(value: float | None) -> str:
    return "-" if value is None else f"{value:.4g}"


def _percent(value: float | None) -> str:
    return "-" if value is None else f"{value:+.1%}"


def series_name(metric: str, labels: dict[str, str]) -> str:
    """`metric{key="value",...}` as Prometheus writes a series."""
    inside = ",".join(f'{key}="{value}"' for key, value in sorted(labels.items()))
    return f"{metric}{{{inside}}}" if inside else metric


def comparison_cells(c: MetricComparison) -> list[str]:
    interval = "" if c.change_low is None or c.change_high is None else \
        f" [{_percent(c.change_low)}, {_percent(c.change_high)}]"
    return [series_name(c.metric, c.labels), c.verdict.value, c.unit, f"{_number(c.before_median)} (n={c.before_n})",
            f"{_number(c.after_median)} (n={c.after_n})", _percent(c.change) + interval,
            "-" if c.effect_size is None else f"{c.effect_size:+.2f}",
            "-" if c.p_value is None else f"{c.p_value:.2g}", c.reason]


def context_cells(c: MetricComparison) -> list[str]:
    """A context series' cells: its verdict cell says "not judged" (the metric has no better direction), not
    "inconclusive", which the method line keeps for too few measurements."""
    name, _, *rest = comparison_cells(c)
    return [name, NOT_JUDGED, *rest]


def summary_cells(s: SummaryValue) -> list[str]:
    return [series_name(s.metric, s.labels), s.unit, _number(s.before), _number(s.after), _percent(s.change)]


def difference_cells(d: Difference) -> list[str]:
    return [d.section, d.key, NOT_RECORDED if d.before is None else d.before,
            NOT_RECORDED if d.after is None else d.after]


def _when(ts: float) -> str:
    """Local time with its offset: a card pasted elsewhere is read in another time zone."""
    return datetime.fromtimestamp(ts).astimezone().strftime("%Y-%m-%d %H:%M:%S %z") if plausible_time(ts) \
        else "(invalid time)"


def run_line(run: ComparedRun) -> str:
    return f"run {run.id} ({run.command}, {_when(run.started_at)}, {run.status}, {run.samples} samples)"


def method_line(limits: CompareLimits) -> str:
    """How a verdict is reached, in one line (docs/compare.md says why)."""
    return (f"Mann-Whitney two-sided (exact for small samples): p < {limits.alpha:g} and a median shift of at least "
            f"{limits.min_effect:.0%} is improved or worse by the metric's better direction, anything less unchanged; "
            f"fewer than {limits.min_samples} measurements a side is inconclusive")


# --- the terminal ---

def _table(title: str, columns: tuple[str, ...], rows: list[list[str]], styles: list[str] | None = None) -> Table:
    """Cells wrap between words, never inside one (a number split over lines misreads); only a word longer than
    NAME_WIDTH (a series name) folds."""
    table = Table(title=title, title_justify="left", box=box.SIMPLE_HEAD)
    for index, column in enumerate(columns):
        words = [word for cell in [column, *(row[index] for row in rows)] for word in cell.split()]
        table.add_column(column, overflow="fold", min_width=min(max(map(len, words), default=1), NAME_WIDTH))
    for index, row in enumerate(rows):
        table.add_row(*(shown(cell) for cell in row), style=styles[index] if styles else None)
    return table


def _comparisons(console: Console, title: str, items: list[MetricComparison], confidence: float,
                 cells: Callable[[MetricComparison], list[str]] = comparison_cells) -> None:
    """A table where it fits; on a narrower terminal one block a series (a table would crop its right columns)."""
    if not items:
        return
    columns = tuple(c.format(confidence=confidence) for c in COLUMNS)
    rows = [cells(c) for c in items]
    styles = ["dim" if cells is context_cells else VERDICT_STYLE[c.verdict] for c in items]
    if console.width >= TABLE_WIDTH:
        console.print(_table(title, columns, rows, styles))
        return
    console.print(Text(title, style="italic"))
    for row, style in zip(rows, styles):
        name, verdict, unit, before, after, change, delta, p, reason = row
        console.print(Text(plain(f"{verdict}: {name} ({unit})"), style=style or "bold"), soft_wrap=True)
        for line in (f"{before} -> {after}, {change}, Cliff's d {delta}, p {p}", reason):
            console.print(Text("    " + plain(line)))


def render(report: CompareReport, console: Console, exit_code: int) -> None:
    def say(text: str, style: str = "") -> None:
        console.print(Text(plain(text), style=style), soft_wrap=True)

    say(f"Comparing {run_line(report.before)} -> {run_line(report.after)}", "bold")
    for warning in report.warnings:
        say(f"! {warning}", "bold yellow")
    say(report.overall, "bold")
    say(method_line(report.limits), "dim")
    _comparisons(console, "Tested series (worse first)", report.comparisons, report.limits.confidence)
    if not report.comparisons:
        say("No series with a better direction measured several times by both runs: nothing to judge.")
    _comparisons(console, CONTEXT_TITLE, report.context, report.limits.confidence, context_cells)
    if report.summaries:
        console.print(_table("Summaries: one number per run, not tested", SUMMARY_COLUMNS,
                             [summary_cells(s) for s in report.summaries]))
    if report.differences:
        console.print(_table("Settings and machine facts that differ", DIFFERENCE_COLUMNS,
                             [difference_cells(d) for d in report.differences]))
    for note in report.notes:
        say(f"Note: {note}", "dim")
    say(f"Exit code {exit_code}.", "dim")


# --- the Markdown card ---

def _markdown_table(columns: tuple[str, ...], rows: list[list[str]]) -> list[str]:
    def line(cells: list[str]) -> str:
        return "| " + " | ".join(markdown_text(cell) for cell in cells) + " |"

    return [line(list(columns)), "|" + "---|" * len(columns), *(line(row) for row in rows)]


def _details(summary: str, lines: list[str]) -> list[str]:
    return ["", f"<details><summary>{markdown_text(summary)}</summary>", "", *lines, "", "</details>"]


def markdown(report: CompareReport, version: str) -> str:
    """A card for a GitHub issue or pull request: both runs, the warnings, the overall line and the table."""
    before, after = report.before, report.after
    facts: list[tuple[str, Callable[[ComparedRun], object]]] = [
        ("started", lambda r: _when(r.started_at)), ("status", lambda r: r.status),
        ("samples", lambda r: r.samples), ("backend", lambda r: r.backend), ("model", lambda r: r.model),
        ("hostname", lambda r: r.hostname), ("wfdoctor", lambda r: r.wfdoctor)]
    lines = [f"### wfdoctor compare: run {before.id} -> run {after.id} ({markdown_text(before.command)})", ""]
    lines += _markdown_table(("", f"run {before.id} (before)", f"run {after.id} (after)"),
                             [[name, *(NOT_RECORDED if (v := get(r)) is None else str(v) for r in (before, after))]
                              for name, get in facts])
    lines += ([""] + [f"> **Warning:** {markdown_text(w)}  " for w in report.warnings]) if report.warnings else []
    lines += ["", f"**{markdown_text(report.overall)}**", ""]
    columns = tuple(c.format(confidence=report.limits.confidence) for c in COLUMNS)
    lines += _markdown_table(columns, [comparison_cells(c) for c in report.comparisons])
    if report.context:
        lines += _details(f"{CONTEXT_TITLE} ({len(report.context)})",
                          _markdown_table(columns, [context_cells(c) for c in report.context]))
    if report.summaries:
        lines += _details(f"Summaries: one number per run, not tested ({len(report.summaries)})",
                          _markdown_table(SUMMARY_COLUMNS, [summary_cells(s) for s in report.summaries]))
    if report.differences:
        lines += _details(f"Settings and machine facts that differ ({len(report.differences)})",
                          _markdown_table(DIFFERENCE_COLUMNS, [difference_cells(d) for d in report.differences]))
    lines += [""] + [f"- {markdown_text(note)}" for note in report.notes]
    lines += ["", f"<sub>{markdown_text(method_line(report.limits))}. wfdoctor {markdown_text(version)}.</sub>"]
    return "\n".join(lines) + "\n"


# --- the JSON document ---

class ComparedRunDoc(BaseModel):
    id: int
    command: str
    status: str
    partial: bool                    # did not finish: its samples are partial
    started_at: str | None
    finished_at: str | None
    samples: int
    backend: str | None
    model: str | None
    hostname: str | None
    wfdoctor: str | None


class VerdictCounts(BaseModel):
    worse: int
    improved: int
    unchanged: int
    inconclusive: int


class CompareDocument(Document):
    schema_id: str = schema_field(SCHEMA_ID)
    exit_code: int
    before: ComparedRunDoc
    after: ComparedRunDoc
    warnings: list[str]              # what makes the verdicts less than they seem, said first
    overall: str
    counts: VerdictCounts
    comparisons: list[MetricComparison]   # worse, improved, unchanged, inconclusive
    context: list[MetricComparison]  # no better direction: tested, never judged nor counted
    summaries: list[SummaryValue]    # one number per run: shown, not tested
    one_sided: list[OneSided]        # measured by one run only: not compared
    differences: list[Difference]
    notes: list[str]
    limits: CompareLimits


def _run_doc(run: ComparedRun) -> ComparedRunDoc:
    return ComparedRunDoc(id=run.id, command=run.command, status=run.status, partial=run.partial,
                          started_at=iso(run.started_at) if plausible_time(run.started_at) else None,
                          finished_at=iso(run.finished_at) if run.finished_at is not None
                          and plausible_time(run.finished_at) else None, samples=run.samples, backend=run.backend,
                          model=run.model, hostname=run.hostname, wfdoctor=run.wfdoctor)


def document(report: CompareReport, exit_code: int) -> CompareDocument:
    return CompareDocument(exit_code=exit_code, before=_run_doc(report.before), after=_run_doc(report.after),
                           warnings=report.warnings, overall=report.overall,
                           counts=VerdictCounts(**{v.value: report.count(v) for v in Verdict}),
                           comparisons=report.comparisons, context=report.context, summaries=report.summaries,
                           one_sided=report.one_sided,
                           differences=report.differences, notes=report.notes, limits=report.limits)
