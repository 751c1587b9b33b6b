"""`incidents`: the knowledge base (list, show, search, export, import) and the matcher troubleshoot asks.

Export and import move one JSON document (store.incident_json.ExportJson) so a team shares what fixed
what. An imported file is untrusted: it must be a regular file (a FIFO or a device would block or never
end) of at most MAX_IMPORT_BYTES, valid UTF-8 JSON, and every incident in it passes the strict check
before anything is written; then all of it is added in one transaction (incidents already present skipped).
"""

from __future__ import annotations

import json
import stat
import time
from collections.abc import Mapping, Sequence
from datetime import datetime, timezone
from pathlib import Path

from wfdoctor.analyze.incidents import IncidentMatch, match_incidents
from wfdoctor.app.reports.incidents import ExportReport, ImportReport, IncidentReport, IncidentsReport
from wfdoctor.config.limits import IncidentLimits
from wfdoctor.config.textfile import write_text
from wfdoctor.model import Finding, Incident, WfdoctorError
from wfdoctor.store.db import Store
from wfdoctor.store.incident_json import FORMAT, MAX_INCIDENTS, VERSION, ExportJson, export_from_json, incident_to_json
from wfdoctor.store.incidents import find_incidents, import_incidents, load_incident, read_incidents

MAX_IMPORT_BYTES = 50 << 20   # thousands of incidents; a file past it is not an export, and would be read whole


def list_incidents(store: Store, limit: int = 50) -> IncidentsReport:
    listing = read_incidents(store, limit)
    return IncidentsReport(store.path, listing.incidents, listing.unreadable)


def show_incident(store: Store, incident_id: int) -> IncidentReport:
    return IncidentReport(store.path, _existing(store, incident_id))


def search(store: Store, text: str, limit: int = 50) -> IncidentsReport:
    """Incidents whose cause, summary, symptoms, note or action titles hold `text`, any case."""
    if not text.strip():
        raise WfdoctorError("incidents search: give some text to look for")
    found = find_incidents(store, text, limit)
    return IncidentsReport(store.path, found.incidents, found.unreadable, query=text)


def similar_incidents(store: Store, findings: Sequence[Finding], fingerprint: Mapping[str, str],
                      limits: IncidentLimits) -> list[IncidentMatch]:
    """The stored incidents like this diagnosis (analyze.incidents.match_incidents), best first."""
    return match_incidents(findings, fingerprint, read_incidents(store, MAX_INCIDENTS).incidents, limits)


def past_incident_notes(store: Store, findings: Sequence[Finding], fingerprint: Mapping[str, str],
                        limits: IncidentLimits) -> list[str]:
    """One line per past incident like this diagnosis, with what fixed it: how `diagnose` points at the
    knowledge base (`troubleshoot` shows the matches whole)."""
    if not findings:
        return []
    notes = []
    for match in similar_incidents(store, findings, fingerprint, limits):
        past = match.incident
        fixed = ", ".join(f"{a.title} ({a.level})" for a in match.fixed_by)
        notes.append(f"like past incident {past.id} ({past.cause}, {past.status}, similarity {match.similarity:.0%})"
                     f"{': fixed then by ' + fixed if fixed else ''}; `wfdoctor incidents show {past.id}`")
    return notes


def export_incidents(store: Store, ids: Sequence[int] = (), out: Path | None = None) -> ExportReport:
    """The export document of the incidents `ids` (each once, in the order named; every readable one when
    none is named), written to `out` when given (atomically: a reader never sees half a file)."""
    if ids:
        incidents, unreadable = [_existing(store, incident_id) for incident_id in dict.fromkeys(ids)], []
    else:
        listing = read_incidents(store, MAX_INCIDENTS)
        incidents, unreadable = listing.incidents, listing.unreadable
    document = ExportJson.model_validate({
        "format": FORMAT, "version": VERSION, "incidents": [incident_to_json(i) for i in incidents],
        "exported_at": datetime.fromtimestamp(time.time(), tz=timezone.utc).isoformat()})
    if out is not None:
        write_text(out, document.model_dump_json(indent=2) + "\n", "export")
    return ExportReport(store.path, document, out, unreadable)


def read_export(path: Path) -> list[Incident]:
    """The incidents of an export file, every one checked; WfdoctorError naming the file, item and field."""
    return export_from_json(_json_file(path), str(path))


def import_file(store: Store, path: Path, incidents: Sequence[Incident]) -> ImportReport:
    """Add the incidents read from `path` (`read_export`), origin "imported: <file name>"; present ones skipped."""
    origin = f"imported: {path.name}"
    added = import_incidents(store, incidents, origin)
    return ImportReport(store.path, path, origin, len(incidents), added)


def _existing(store: Store, incident_id: int) -> Incident:
    found = load_incident(store, incident_id)
    if found is None:
        raise WfdoctorError(f"{store.path}: no incident {incident_id} (`wfdoctor incidents list` shows them)")
    return found


def _json_file(path: Path) -> object:
    """The parsed JSON of a regular file of at most MAX_IMPORT_BYTES (checked before it is opened)."""
    try:
        found = path.stat()   # never blocks, where opening a FIFO waits for a writer forever
        if not stat.S_ISREG(found.st_mode):
            raise WfdoctorError(f"{path}: not a regular file; an incidents export is a JSON file")
        if found.st_size > MAX_IMPORT_BYTES:
            raise WfdoctorError(f"{path}: {found.st_size >> 20} MiB is over the {MAX_IMPORT_BYTES >> 20} MiB an "
                                f"incidents export may have")
        with path.open("rb") as handle:
            data = handle.read(MAX_IMPORT_BYTES + 1)   # a file that grew after stat() is still read bounded
    except OSError as exc:
        raise WfdoctorError(f"{path}: cannot read the incidents file: {exc.strerror or exc}") from None
    if len(data) > MAX_IMPORT_BYTES:
        raise WfdoctorError(f"{path}: over the {MAX_IMPORT_BYTES >> 20} MiB an incidents export may have")
    try:
        return json.loads(data.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise WfdoctorError(f"{path}: not a text file (byte {exc.start} is not UTF-8)") from None
    except json.JSONDecodeError as exc:
        raise WfdoctorError(f"{path}:{exc.lineno}: not valid JSON ({exc.msg})") from None
    except RecursionError:
        raise WfdoctorError(f"{path}: JSON nested too deeply to be an incidents export") from None


