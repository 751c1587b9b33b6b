"""`incidents`: what the knowledge base commands hand to the views."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from wfdoctor.model import Incident
from wfdoctor.store.incident_json import ExportJson


@dataclass(frozen=True)
class IncidentsReport:
    """`incidents list` and `incidents search`: incidents newest first, and the rows that could not be read."""

    database: Path
    incidents: list[Incident]
    unreadable: list[str]            # one line per stored row skipped (damaged or edited by hand)
    query: str | None = None         # the searched text; None for a listing


@dataclass(frozen=True)
class IncidentReport:
    """`incidents show ID`: one incident, whole."""

    database: Path
    incident: Incident


@dataclass(frozen=True)
class ExportReport:
    """`incidents export`: the document written (to `file`, or for the caller to print when None)."""

    database: Path
    document: ExportJson
    file: Path | None
    unreadable: list[str]            # rows left out of an export of everything, one line each


@dataclass(frozen=True)
class ImportReport:
    """`incidents import FILE`: how many the file held, how many were new, under which origin."""

    database: Path
    file: Path
    origin: str
    read: int
    added: int

    @property
    def skipped(self) -> int:
        """Incidents already in the database (the same session: created_at, cause and summary)."""
        return self.read - self.added
