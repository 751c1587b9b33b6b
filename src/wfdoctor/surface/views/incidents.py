"""What the `wfdoctor incidents` commands show, and their documents (incidents-list, incidents-show,
incidents-import, incidents-exported; the export file itself is store.incident_json.ExportJson).

Every text of an incident may come from a colleague's file (an import), so all of it is printed as text:
control characters made visible (`safe.plain`), Rich markup off. Numbers carry their unit and source.
"""

from __future__ import annotations

from datetime import datetime, timezone

from pydantic import BaseModel
from rich.console import Console

from wfdoctor.app.reports.incidents import ExportReport, ImportReport, IncidentReport, IncidentsReport
from wfdoctor.model import Incident, MetricComparison, Sample, plausible_time
from wfdoctor.store.incident_json import IncidentJson, incident_to_json
from wfdoctor.surface.views.common import Document, iso, schema_field
from wfdoctor.surface.views.safe import plain
from wfdoctor.units import format_value

LIST_SCHEMA_ID = "wfdoctor.incidents-list/v1"
SHOW_SCHEMA_ID = "wfdoctor.incidents-show/v1"
IMPORT_SCHEMA_ID = "wfdoctor.incidents-import/v1"
EXPORTED_SCHEMA_ID = "wfdoctor.incidents-exported/v1"
EXPORT_FILE_SCHEMA_ID = "wfdoctor.incidents-export/v1"   # the file `export` writes and `import` reads


class IncidentLine(BaseModel):
    """One incident in a listing."""

    id: int | None
    created_at: str | None
    resolved_at: str | None
    status: str
    verdict: str
    cause: str
    summary: str
    note: str
    origin: str
    fingerprint: dict[str, str]


class ListDocument(Document):
    schema_id: str = schema_field(LIST_SCHEMA_ID)
    database: str
    query: str | None                # the searched text (`incidents search`); null for `incidents list`
    incidents: list[IncidentLine]
    unreadable: list[str]            # stored rows skipped, one line each (damaged or edited by hand)


class ShowDocument(Document):
    schema_id: str = schema_field(SHOW_SCHEMA_ID)
    database: str
    incident: IncidentJson           # every field, as an export holds it


class ImportDocument(Document):
    schema_id: str = schema_field(IMPORT_SCHEMA_ID)
    database: str
    file: str
    origin: str
    read: int
    added: int
    skipped: int                     # already in the database (same created_at, cause and summary)


class ExportedDocument(Document):
    schema_id: str = schema_field(EXPORTED_SCHEMA_ID)
    database: str
    file: str
    incidents: int
    unreadable: list[str]


def list_document(report: IncidentsReport) -> ListDocument:
    lines = [IncidentLine(id=i.id, created_at=_iso(i.created_at), resolved_at=_iso(i.resolved_at), status=i.status,
                          verdict=i.verdict.value, cause=i.cause, summary=i.summary, note=i.note, origin=i.origin,
                          fingerprint=i.fingerprint) for i in report.incidents]
    return ListDocument(database=str(report.database), query=report.query, incidents=lines,
                        unreadable=report.unreadable)


def show_document(report: IncidentReport) -> ShowDocument:
    return ShowDocument(database=str(report.database),
                        incident=IncidentJson.model_validate(incident_to_json(report.incident)))


def import_document(report: ImportReport) -> ImportDocument:
    return ImportDocument(database=str(report.database), file=str(report.file), origin=report.origin,
                          read=report.read, added=report.added, skipped=report.skipped)


def exported_document(report: ExportReport) -> ExportedDocument:
    return ExportedDocument(database=str(report.database), file=str(report.file),
                            incidents=len(report.document.incidents), unreadable=report.unreadable)


def render_list(report: IncidentsReport, console: Console) -> None:
    if report.query is not None:
        count = len(report.incidents)
        console.print(plain(f"{count} incident{'' if count == 1 else 's'} matching {report.query!r} in "
                            f"{report.database}"),
                      markup=False, highlight=False, soft_wrap=True)
    elif not report.incidents and report.unreadable:   # stored, but damaged: not "none yet"
        console.print(plain(f"No readable incidents in {report.database}: {len(report.unreadable)} could not be read "
                            "(the notes on stderr say which)"), markup=False, highlight=False, soft_wrap=True)
    elif not report.incidents:
        console.print(plain(f"No incidents stored in {report.database} yet: `wfdoctor troubleshoot` documents "
                            "one."), markup=False, highlight=False, soft_wrap=True)
    for i in report.incidents:
        origin = "" if i.origin == "local" else f"  [{i.origin}]"
        _say(console, f"{i.id or 0:>5}  {_when(i.created_at)}  {i.status:<11} {verdict_text(i):<13} {i.cause}: "
                      f"{i.summary}{origin}")   # one line an incident, however narrow: for grep


def render_show(report: IncidentReport, console: Console) -> None:
    for line in show_lines(report.incident):
        _say(console, line)


def render_import(report: ImportReport, console: Console) -> None:
    _say(console, f"Imported {report.added} of {report.read} incidents from {report.file} into {report.database} "
                  f"({report.skipped} already there, skipped); origin \"{report.origin}\".")


def render_exported(report: ExportReport, console: Console) -> None:
    _say(console, f"Exported {len(report.document.incidents)} incidents from {report.database} to {report.file}.")


def verdict_text(incident: Incident) -> str:
    """The verdict as words: an open incident was not validated yet, which "inconclusive" (a validation that
    could test nothing) would misstate."""
    return "not validated" if incident.status == "open" else incident.verdict.value


def show_lines(incident: Incident) -> list[str]:
    """The whole incident, answer first: cause and verdict, then what was done, the evidence, the detail."""
    resolved = f", resolved {_when(incident.resolved_at)}" if incident.resolved_at is not None else ""
    lines = [(f"Incident {incident.id}: {incident.status}, validation {verdict_text(incident)} "
              f"({_when(incident.created_at)}{resolved})"),
             f"Cause: {incident.cause}: {incident.summary}"]
    if incident.origin != "local":
        lines.append(f"Origin: {incident.origin}")
    lines += ["Symptoms:", *(f"  - {symptom}" for symptom in incident.symptoms)]
    lines += ["Actions:", *(f"  {a.level} {a.action_id} ({a.title}): {a.disposition.value}"
                            f"{': ' + a.detail if a.detail else ''}" for a in incident.actions)]
    lines += ["Validation: before against after:", *(f"  {_comparison(c)}" for c in incident.validation)]
    lines.append("Findings (ranked, causes first):")
    for f in incident.findings:
        under = f" (explained by {f.explained_by})" if f.explained_by else ""
        lines.append(f"  {f.priority.value.upper()} {f.code}{under}: {f.summary}")
        lines += [f"      {_sample(s)}" for s in f.evidence]
    lines.append("On: " + (", ".join(f"{k}={v}" for k, v in sorted(incident.fingerprint.items())) or "(not known)"))
    runs = [f"before {_ids(incident.before_runs)}", f"after {_ids(incident.after_runs)}"]
    where = "" if incident.origin == "local" else " (ids in the database it came from, not this one)"
    lines.append(f"Runs{where}: {'; '.join(runs)}; matched incidents {_ids(incident.matched)}")
    if incident.note:
        lines.append(f"Note: {incident.note}")
    return lines


def _comparison(c: MetricComparison) -> str:
    labels = "{" + ", ".join(f"{k}={v}" for k, v in sorted(c.labels.items())) + "}" if c.labels else ""
    medians = (f"median {_value(c.before_median, c.unit)} -> {_value(c.after_median, c.unit)} "
               f"({c.before_n} -> {c.after_n} samples)")
    change = "" if c.change is None else f", change {c.change:+.1%}"
    if c.change is not None and c.change_low is not None and c.change_high is not None:
        change += f" [{c.change_low:+.1%}, {c.change_high:+.1%}] at {c.confidence:.0%} confidence"
    effect = "" if c.effect_size is None else f", Cliff's delta {c.effect_size:+.2f}"
    p = "" if c.p_value is None else f", Mann-Whitney p {c.p_value:.3g}"
    return f"{c.metric}{labels}: {c.verdict.value}: {medians}{change}{effect}{p} ({c.reason})"


def _sample(s: Sample) -> str:
    labels = ", ".join(f"{k}={v}" for k, v in sorted(s.labels.items()))
    return f"{s.metric}{{{labels}}} = {format_value(s.value, s.unit)} (source {s.source}, at {_when(s.ts)})"


def _value(value: float | None, unit: str) -> str:
    return "none" if value is None else format_value(value, unit)


def _ids(ids: list[int]) -> str:
    return ", ".join(map(str, ids)) or "none"


def _iso(ts: float | None) -> str | None:
    return iso(ts) if ts is not None and plausible_time(ts) else None


def _when(ts: float | None) -> str:
    if ts is None or not plausible_time(ts):
        return "(no time)"
    return datetime.fromtimestamp(ts, tz=timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")


def _say(console: Console, line: str) -> None:
    console.print(plain(line), markup=False, highlight=False, soft_wrap=True)
