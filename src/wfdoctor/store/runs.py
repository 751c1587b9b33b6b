"""One stored run read back whole: settings, environment, samples and findings.

`compare`, `report` and troubleshoot's incidents read a past run as the `Run` it was when it
was recorded. A row a hand edit broke reads as what can be read (a finding's unreadable
evidence as none), never as a traceback.
"""

from __future__ import annotations

import json
import math

from wfdoctor.model import Finding, Priority, Run, Sample
from wfdoctor.store.db import MAX_ROW_ID, Store, _json_object, _stored_sample


def _evidence(text: str) -> list[Sample]:
    try:
        items = json.loads(text)
    except (TypeError, ValueError):
        return []
    if not isinstance(items, list):
        return []
    evidence = []
    for item in items:
        if not isinstance(item, dict):
            continue
        sample = _stored_sample(str(item.get("metric", "")), item.get("value"), str(item.get("unit", "")),
                                str(item.get("source", "")), json.dumps(item.get("labels", {})), item.get("ts"))
        if sample is not None:
            evidence.append(sample)
    return evidence


def _actions(text: str) -> list[str]:
    try:
        items = json.loads(text)
    except (TypeError, ValueError):
        return []
    return [str(item) for item in items] if isinstance(items, list) else []


def _priority(text: str) -> Priority:
    try:
        return Priority(text)
    except ValueError:
        return Priority.INFO


def run_status(store: Store, run_id: int) -> str | None:
    """A run's status ("running", "finished", "interrupted", "failed", "abandoned"), None for no such run."""
    if not 0 < run_id <= MAX_ROW_ID:
        return None
    with store._errors():
        row = store._db.execute("SELECT status FROM runs WHERE id = ?", (run_id,)).fetchone()
    return None if row is None else str(row[0])


def load_run(store: Store, run_id: int) -> Run | None:
    """The run with this id, with its samples and findings (in the order they were stored); None if there is none
    (an id past SQLite's integers names none: typed by hand, it is not a crash)."""
    if not 0 < run_id <= MAX_ROW_ID:
        return None
    with store._errors():
        row = store._db.execute("SELECT command, started_at, finished_at, tier, settings, environment FROM runs "
                                "WHERE id = ?", (run_id,)).fetchone()
        if row is None:
            return None
        finding_rows = store._db.execute(
            "SELECT rule_id, code, row, symptom, cause, priority, actions, evidence, summary, explained_by "
            "FROM findings "
            "WHERE run_id = ? ORDER BY id", (run_id,)).fetchall()
    command, started_at, finished_at, tier, settings, environment = row
    findings = [Finding(rule_id, code, row_name, symptom, cause, _priority(priority), _actions(actions),
                        _evidence(evidence), summary, str(explained_by))
                for rule_id, code, row_name, symptom, cause, priority, actions, evidence, summary, explained_by
                in finding_rows]
    return Run(command=str(command), started_at=_time(started_at), settings=_json_object(settings),
               environment=_json_object(environment), samples=store.samples_of(run_id), findings=findings,
               tier=str(tier), finished_at=None if finished_at is None else _time(finished_at), id=run_id)


def _time(value: object) -> float:
    """A stored time; a hand-edited one that is not a number reads as NaN (views show "(invalid time)")."""
    return float(value) if isinstance(value, (int, float)) else math.nan
