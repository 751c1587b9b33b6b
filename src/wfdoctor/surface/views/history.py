"""What `wfdoctor history` shows: one line per stored run; its `--json` is the list of runs."""

from __future__ import annotations

from datetime import datetime

from pydantic import RootModel
from rich.console import Console

from wfdoctor.app.reports.history import HistoryReport, RunSummary
from wfdoctor.model import Priority, plausible_time

SCHEMA_ID = "wfdoctor.history/v1"


class HistoryDocument(RootModel[list[RunSummary]]):
    """A JSON array of runs, newest first (kept an array: it was one before schemas existed)."""


def document(report: HistoryReport) -> HistoryDocument:
    return HistoryDocument(report.runs)


def render(report: HistoryReport, console: Console) -> None:
    if not report.runs:
        console.print(f"No runs stored in {report.database} yet: run `wfdoctor diagnose`.")
        return
    for run in report.runs:
        when = (datetime.fromtimestamp(run.started_at).strftime("%Y-%m-%d %H:%M:%S")
                if plausible_time(run.started_at) else "(invalid time)".ljust(19))  # a hand-edited row
        counts = ", ".join(f"{run.findings_by_priority[p.value]} {p.value}" for p in Priority
                           if run.findings_by_priority.get(p.value)) or "no findings"
        state = "" if run.status == "finished" else f" [{run.status}]"
        console.print(f"{run.id:>5}  {when}  {run.command:<10} tier={run.tier or '?':<5} {counts}{state}",
                      highlight=False, markup=False, soft_wrap=True)  # one line a run, however narrow: for grep
