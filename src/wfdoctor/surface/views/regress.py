"""What the `wfdoctor regress` commands show: the check table, a pull-request comment, a series with its
change points and its plot (drawn by surface/plots.py, as reports draw it); and their documents
(regress-check, regress-show, regress-record)."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table

from pydantic import BaseModel

from wfdoctor.analyze.regress_check import SeriesVerdict
from wfdoctor.analyze.regression import Change
from wfdoctor.analyze.series import Series
from wfdoctor.app.reports.regress import RecordReport, RegressReport
from wfdoctor.app.reports.report import change_plot
from wfdoctor.surface.views.common import Document, RunDocument, run_fields, schema_field
from wfdoctor.surface.views.safe import shown

CHECK_SCHEMA_ID = "wfdoctor.regress-check/v1"
SHOW_SCHEMA_ID = "wfdoctor.regress-show/v1"
RECORD_SCHEMA_ID = "wfdoctor.regress-record/v1"


def markdown(verdicts: list[SeriesVerdict]) -> str:
    """A pull-request comment."""
    found = [v for v in verdicts if v.discovery and v.at_end]
    lines = ["## wfdoctor regress check", ""]
    if not found:
        lines.append(f"No regression in {len(verdicts)} series.")
    else:
        lines += ["| series | change | before -> after | p | since |", "|---|---|---|---|---|"]
        for v in found:
            c = v.at_end
            assert c is not None
            since = c.revision or f"point {c.index}"
            lines.append(f"| `{v.series.name}` | {c.change_pct:+.1f} % | {c.mean_before:.4g} -> {c.mean_after:.4g} "
                         f"| {c.p_value:.3g} | {since} |")
    return "\n".join(lines) + "\n"


def render_check(report: RegressReport, console: Console) -> None:
    table = Table(title="Regression check", title_justify="left")
    for column in ("series", "points", "changes", "at the end"):
        table.add_column(column)
    for v in report.verdicts:
        changes = ", ".join(f"{c.kind} {c.change_pct:+.1f} % at {shown(c.revision or c.index)}"
                            for c in v.changes) or "-"
        end = ("REGRESSION" if v.discovery else "regression (not significant after BH)") if v.at_end else "ok"
        table.add_row(shown(v.series.name), str(len(v.series.values)), changes, end)
    console.print(table)
    if not report.verdicts:
        console.print(f"No series with a known direction and at least {report.min_points} points yet.")


def render_show(report: RegressReport, console: Console) -> None:
    for verdict in report.verdicts:
        console.print(f"{shown(verdict.series.name)}: {len(verdict.series.values)} points "
                      f"({'higher' if verdict.higher_is_better else 'lower'} is better)")
        marks = {c.index: c for c in verdict.changes}
        for index, value in enumerate(verdict.series.values):
            change = marks.get(index)
            note = f"  <- {change.kind} {change.change_pct:+.1f} % (p {change.p_value:.3g})" if change else ""
            console.print(f"  {index:>4}  {shown(verdict.series.revisions[index] or '-'):<12} {value:12.5g}{note}",
                          highlight=False)


class SeriesDoc(BaseModel):
    name: str
    metric: str
    labels: dict[str, str]
    higher_is_better: bool
    points: int
    changes: list[Change]
    regression_at_end: Change | None
    discovery: bool                  # a regression at the end that survives Benjamini-Hochberg


class PointDoc(BaseModel):
    ts: float
    value: float
    revision: str
    run: int


class ShownSeriesDoc(SeriesDoc):
    unit: str
    values: list[PointDoc]


def _series_doc(verdict: SeriesVerdict) -> SeriesDoc:
    s = verdict.series
    return SeriesDoc(name=s.name, metric=s.metric, labels=s.labels, higher_is_better=verdict.higher_is_better,
                     points=len(s.values), changes=verdict.changes, regression_at_end=verdict.at_end,
                     discovery=verdict.discovery)


class CheckDocument(RunDocument):
    schema_id: str = schema_field(CHECK_SCHEMA_ID)
    series: list[SeriesDoc]
    markdown: str


def check_document(report: RegressReport, exit_code: int) -> CheckDocument:
    assert report.run is not None, "regress check records its run"
    return CheckDocument(**run_fields(report.run, exit_code),
                         series=[_series_doc(v) for v in report.verdicts], markdown=markdown(report.verdicts))


class ShowDocument(Document):
    schema_id: str = schema_field(SHOW_SCHEMA_ID)
    metric: str
    series: list[ShownSeriesDoc]


def show_document(report: RegressReport) -> ShowDocument:
    shown = []
    for verdict in report.verdicts:
        s = verdict.series
        points = [PointDoc(ts=t, value=v, revision=r, run=run)
                  for t, v, r, run in zip(s.times, s.values, s.revisions, s.runs)]
        shown.append(ShownSeriesDoc(**_series_doc(verdict).model_dump(), unit=s.unit, values=points))
    return ShowDocument(metric=report.metrics[0], series=shown)


class RecordDocument(RunDocument):
    schema_id: str = schema_field(RECORD_SCHEMA_ID)
    file: str
    points: int


def record_document(report: RecordReport, exit_code: int) -> RecordDocument:
    return RecordDocument(**run_fields(report.run, exit_code), file=str(report.file),
                          points=report.points)


def svg_plot(series: Series, changes: list[Change]) -> str:
    """The series with axes, its unit and a labelled line at each change point (surface/plots.py)."""
    from wfdoctor.surface.plots import svg

    return svg(change_plot(series, changes, f"wfdoctor regress show, {len(series.values)} points (one per run or "
                                            "imported point)"))
