"""The incident knowledge base: documented troubleshooting sessions, saved, read back, searched, shared.

A row keeps the whole incident as its JSON document (`incident_to_json`), so what `troubleshoot` saved is
what `show`, `export` and the matcher read, field for field; the columns beside it (cause, status,
summary, ...) are copies to list and filter by. A row that cannot be read back (a hand edit, a broken
disk) is one line naming the database and the row: `load_incident` raises it, the listings skip the row
and say so (`read_incidents`), so one bad row never hides the rest of a team's knowledge.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace

from wfdoctor.model import Incident, WfdoctorError
from wfdoctor.store.db import MAX_ROW_ID, Store
from wfdoctor.store.incident_json import incident_from_json, incident_to_json

__all__ = ["IncidentListing", "find_incidents", "import_incidents", "incident_from_json", "incident_to_json", "list_incidents",
           "load_incident", "read_incidents", "save_incident", "search_incidents", "update_incident"]

COLUMNS = "id, origin, document"
LOCAL = "local"


@dataclass(frozen=True)
class IncidentListing:
    """Incidents read back, newest first, and one line for each row that could not be."""

    incidents: list[Incident]
    unreadable: list[str]


def save_incident(store: Store, incident: Incident) -> int:
    """Insert the incident (checked as an import would be: see incident_json); its id is set and returned."""
    values = _row_values(incident)
    with store._errors():
        cursor = store._db.execute(
            "INSERT INTO incidents (created_at, resolved_at, status, cause, verdict, summary, note, fingerprint, "
            "document, origin) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", (*values, incident.origin))
    incident.id = int(cursor.lastrowid or 0)
    return incident.id


def update_incident(store: Store, incident: Incident) -> None:
    """Write the incident's present state (status, actions, validation, note...) over its row, by its id."""
    if incident.id is None:
        raise WfdoctorError(f"{store.path}: an incident not saved yet cannot be updated (save it first)")
    with store._errors():
        cursor = store._db.execute(
            "UPDATE incidents SET created_at = ?, resolved_at = ?, status = ?, cause = ?, verdict = ?, summary = ?, "
            "note = ?, fingerprint = ?, document = ? WHERE id = ?", (*_row_values(incident), incident.id))
    if cursor.rowcount == 0:
        raise WfdoctorError(f"{store.path}: no incident {incident.id} to update")


def load_incident(store: Store, incident_id: int) -> Incident | None:
    """The incident with this id, None if there is none (nor for an id past SQLite's integers); an unreadable row
    is a WfdoctorError naming it."""
    if not 0 < incident_id <= MAX_ROW_ID:
        return None
    with store._errors():
        row = store._db.execute(f"SELECT {COLUMNS} FROM incidents WHERE id = ?", (incident_id,)).fetchone()
    return None if row is None else _incident(store, *row)


def list_incidents(store: Store, limit: int = 50) -> list[Incident]:
    """The newest `limit` readable incidents, newest first (unreadable rows left out: see read_incidents)."""
    return read_incidents(store, limit).incidents


def read_incidents(store: Store, limit: int = 50) -> IncidentListing:
    """The newest `limit` readable incidents, newest first, and a line for each unreadable row among them."""
    incidents, unreadable = [], []
    for item in _rows(store, "ORDER BY created_at DESC, id DESC LIMIT ?", (limit,)):
        if isinstance(item, Incident):
            incidents.append(item)
        else:
            unreadable.append(item)
    return IncidentListing(incidents, unreadable)


def search_incidents(store: Store, text: str, limit: int = 50) -> list[Incident]:
    """Incidents whose cause, summary, symptoms, note or actions' titles hold `text` (any case), newest first."""
    return find_incidents(store, text, limit).incidents


def find_incidents(store: Store, text: str, limit: int = 50) -> IncidentListing:
    """`search_incidents`, with a line for each unreadable row met on the way.

    Matched in Python over the parsed documents (symptoms and titles live inside them): a team's knowledge
    base holds hundreds of incidents, not millions.
    """
    wanted = text.casefold()
    found, unreadable = [], []
    for item in _rows(store, "ORDER BY created_at DESC, id DESC", ()):
        if not isinstance(item, Incident):
            unreadable.append(item)
        elif any(wanted in field.casefold() for field in _searched(item)):
            found.append(item)
            if len(found) >= limit:
                break
    return IncidentListing(found, unreadable)


def import_incidents(store: Store, incidents: Sequence[Incident], origin: str) -> int:
    """Add the incidents with `origin` ("imported: <file name>") in one transaction; the number added.

    An incident already here (the same created_at, cause and summary: the same session, whoever exported
    it) is skipped, so importing a file twice, or a colleague's export that holds ours, adds nothing new.
    """
    added = 0
    with store._errors(), store._transaction():
        for incident in incidents:
            if store._db.execute("SELECT 1 FROM incidents WHERE created_at = ? AND cause = ? AND summary = ?",
                                 (incident.created_at, incident.cause, incident.summary)).fetchone():
                continue
            copy = replace(incident, id=None, origin=origin)
            store._db.execute(
                "INSERT INTO incidents (created_at, resolved_at, status, cause, verdict, summary, note, fingerprint, "
                "document, origin) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", (*_row_values(copy), origin))
            added += 1
    return added


def _row_values(incident: Incident) -> tuple[object, ...]:
    """The columns of an incident's row, its document last (checked: refused before anything is written)."""
    document = incident_to_json(incident)
    return (incident.created_at, incident.resolved_at, incident.status, incident.cause, incident.verdict.value,
            incident.summary, incident.note, json.dumps(incident.fingerprint, sort_keys=True), json.dumps(document))


def _rows(store: Store, order: str, args: tuple[object, ...]) -> Iterator[Incident | str]:
    """Each row as its incident, or as the one line saying why it cannot be read."""
    with store._errors():
        rows = store._db.execute(f"SELECT {COLUMNS} FROM incidents {order}", args).fetchall()
    for row in rows:
        try:
            yield _incident(store, *row)
        except WfdoctorError as exc:
            yield str(exc)


def _incident(store: Store, incident_id: int, origin: object, document: object) -> Incident:
    where = f"{store.path}: incident {incident_id}"
    try:
        data = json.loads(document)   # type: ignore[arg-type]  # a hand edit may have stored any SQLite type
    except (TypeError, ValueError, RecursionError):
        raise WfdoctorError(f"{where}: its stored document is not JSON (edited by hand or damaged)") from None
    incident = incident_from_json(data, where)
    return replace(incident, id=int(incident_id), origin=str(origin))


def _searched(incident: Incident) -> Iterator[str]:
    yield incident.cause
    yield incident.summary
    yield incident.note
    yield from incident.symptoms
    yield from (action.title for action in incident.actions)
