"""The `wfdoctor report --json` document: which files were written, and what the report could not show."""

from __future__ import annotations

from pathlib import Path

from wfdoctor.app.reports.report import ReportDocument
from wfdoctor.surface.views.common import Document, schema_field

SCHEMA_ID = "wfdoctor.report/v1"


class ReportFilesDocument(Document):
    schema_id: str = schema_field(SCHEMA_ID)
    target: str                 # "run:7" or "incident:3"
    title: str
    runs: list[int]             # the runs the report shows (an incident's before and after runs)
    plots: int
    files: list[str]            # the HTML, the Markdown, then the Markdown's plot files
    notes: list[str]            # what the report could not show (no samples, a plot without data)


def document(report: ReportDocument, files: list[Path]) -> ReportFilesDocument:
    return ReportFilesDocument(target=f"{report.target.kind}:{report.target.id}", title=report.title,
                               runs=[section.run_id for section in report.runs],
                               plots=sum(len(section.plots) for section in report.runs),
                               files=[str(path) for path in files], notes=report.notes)
