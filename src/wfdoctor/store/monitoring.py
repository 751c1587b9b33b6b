"""What the monitor keeps beside samples: alert history, silences, and per-minute aggregates.

A subclass of `Store`, so the monitor (and the recovery responder it hands the store to) use one
connection, and db.py stays about runs, samples and findings. Retention works in small
transactions (a batch of rows each, see `fold_old_samples`), so a monitor folding a day of samples never holds
the write lock long enough to stall `history`, `regress` or its own sample writer.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TypeVar

from wfdoctor.model import Alert, Sample, WfdoctorError
from wfdoctor.store.db import Store, _stored_sample

T = TypeVar("T")

MINUTE_S = 60.0


@dataclass(frozen=True)
class AlertEvent:
    """One stored alert transition (pending, firing or resolved)."""

    id: int
    ts: float
    name: str
    fingerprint: str
    state: str
    severity: str
    labels: dict[str, str]
    annotations: dict[str, str]
    value: float | None
    active_at: float
    run_id: int | None


@dataclass(frozen=True)
class Silence:
    """Notifications of alerts whose labels match every matcher are muted until `ends_at`."""

    id: int
    created_at: float
    ends_at: float
    matchers: tuple[str, ...]   # as written: `name="value"`, `name=~"re"`, ...
    comment: str
    created_by: str
    expired_at: float | None


@dataclass(frozen=True)
class RunSample:
    """A sample of a finished run, with what names the run on a chart: its id, command, server and model."""

    run_id: int
    command: str
    backend: str
    model: str
    sample: Sample


EVENT_COLUMNS = "id, ts, name, fingerprint, state, severity, labels, annotations, value, active_at, run_id"
SILENCE_COLUMNS = "id, created_at, ends_at, matchers, comment, created_by, expired_at"
# The monitor's raw samples older than the cut-off, a batch at a time (other commands' runs are history: kept).
OLD_MONITOR_SAMPLES = ("SELECT s.id FROM samples s JOIN runs r ON r.id = s.run_id WHERE r.command = 'monitor' "
                       "AND s.ts < ? AND typeof(s.value) IN ('integer', 'real') ORDER BY s.id LIMIT ?")


class MonitorStore(Store):
    """The store with the monitor's tables; open with `MonitorStore.open(path)`."""

    def points_between(self, metric: str, start: float, end: float) -> list[Sample]:
        """Stored points of `metric` taken in [start, end), from any run but a failed one (the monitor's own
        run is still running while it reads its history): by sample time, through the (metric, ts) index."""
        with self._errors():
            rows = self._db.execute(
                "SELECT s.metric, s.value, s.unit, s.source, s.labels, s.ts FROM samples s JOIN runs r "
                "ON r.id = s.run_id WHERE s.metric = ? AND s.ts >= ? AND s.ts < ? AND r.status != 'failed'",
                (metric, start, end)).fetchall()
        return [sample for row in rows if (sample := _stored_sample(*row)) is not None]

    def finished_run_samples(self, metrics: Sequence[str], commands: Sequence[str], since: float) -> list[RunSample]:
        """Samples of `metrics` taken after `since` by finished runs of `commands`, oldest first, but for the
        monitor's canary runs (settings `canary`: a monitor charts its canary as it measures it): what the
        monitor's charts add from the store.

        One query through the (metric, ts) index: only the new points of those metrics are read, however long
        the history; each run is found by its primary key. The server is the run's `backend` setting (tokens)
        or the first of its `backends` (diagnose).
        """
        if not metrics or not commands:
            return []
        query = ("SELECT r.id, r.command, COALESCE(json_extract(r.settings, '$.backend'), "
                 "json_extract(r.settings, '$.backends[0]'), ''), COALESCE(json_extract(r.settings, '$.model'), ''), "
                 "s.metric, s.value, s.unit, s.source, s.labels, s.ts FROM samples s INDEXED BY samples_by_metric "
                 f"JOIN runs r ON r.id = s.run_id WHERE s.metric IN ({', '.join('?' for _ in metrics)}) "
                 f"AND s.ts > ? AND r.status = 'finished' AND r.command IN ({', '.join('?' for _ in commands)}) "
                 "AND json_valid(r.settings) AND NOT COALESCE(json_extract(r.settings, '$.canary'), 0) "
                 "ORDER BY s.ts, s.id")
        with self._errors():
            rows = self._db.execute(query, (*metrics, since, *commands)).fetchall()
        return [RunSample(int(run_id), str(command), str(backend), str(model), sample)
                for run_id, command, backend, model, *row in rows if (sample := _stored_sample(*row)) is not None]

    def add_alert_events(self, run_id: int | None, alerts: Sequence[Alert], ts: float) -> None:
        """Store a tick's transitions in one transaction."""
        rows = [(ts, a.name, a.fingerprint, a.state.value, a.severity, json.dumps(a.labels, sort_keys=True),
                 json.dumps(a.annotations, sort_keys=True), a.value, a.active_at, run_id) for a in alerts]
        with self._errors(), self._transaction():
            self._db.executemany(
                "INSERT INTO alert_events (ts, name, fingerprint, state, severity, labels, annotations, value, "
                "active_at, run_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)

    def alert_history(self, limit: int = 100) -> list[AlertEvent]:
        """Every transition, newest first."""
        with self._errors():
            rows = self._db.execute(f"SELECT {EVENT_COLUMNS} FROM alert_events ORDER BY ts DESC, id DESC LIMIT ?",
                                    (limit,)).fetchall()
        return _decoded(self, "alert_events", rows, _event)

    def current_alerts(self, include_resolved: bool = False, running_only: bool = False) -> list[AlertEvent]:
        """The last transition of every alert still pending or firing (or of every alert), newest first.

        `running_only`: of monitors still running. A stopped or killed monitor judges nothing: its last
        "firing" is not a fact about now, and the next monitor starts afresh and never resolves it."""
        state = "" if include_resolved else "AND state != 'resolved'"
        if running_only:
            state += " AND run_id IN (SELECT id FROM runs WHERE status = 'running')"
        with self._errors():
            rows = self._db.execute(
                f"SELECT {EVENT_COLUMNS} FROM alert_events WHERE id IN (SELECT MAX(id) FROM alert_events "
                f"GROUP BY fingerprint) {state} ORDER BY ts DESC, id DESC").fetchall()
        return _decoded(self, "alert_events", rows, _event)

    def add_silence(self, matchers: Sequence[str], created_at: float, ends_at: float, comment: str,
                    created_by: str) -> int:
        """Store a silence; its id is what `alerts unsilence` takes."""
        with self._errors():
            cursor = self._db.execute(
                "INSERT INTO silences (created_at, ends_at, matchers, comment, created_by) VALUES (?, ?, ?, ?, ?)",
                (created_at, ends_at, json.dumps(list(matchers)), comment, created_by))
        return int(cursor.lastrowid or 0)

    def silences(self, now: float, include_ended: bool = False) -> list[Silence]:
        """Silences in force at `now` (or all of them), newest first."""
        where = "" if include_ended else "WHERE expired_at IS NULL AND ends_at > ?"
        with self._errors():
            rows = self._db.execute(f"SELECT {SILENCE_COLUMNS} FROM silences {where} ORDER BY id DESC",
                                    () if include_ended else (now,)).fetchall()
        return _decoded(self, "silences", rows,
                             lambda r: Silence(r[0], r[1], r[2], tuple(json.loads(r[3])), r[4], r[5], r[6]))

    def expire_silence(self, silence_id: int, now: float) -> bool:
        """End a silence now; False when no silence in force has that id."""
        with self._errors():
            cursor = self._db.execute("UPDATE silences SET expired_at = ? WHERE id = ? AND expired_at IS NULL "
                                      "AND ends_at > ?", (now, silence_id, now))
        return cursor.rowcount > 0

    def fold_old_samples(self, before: float, batch: int) -> int:
        """Fold up to `batch` of the monitor's raw samples older than `before` into per-minute aggregates
        (count, min, max, sum: the mean and the extremes survive) and delete them, in one transaction,
        so a crash between batches neither loses nor double-counts a sample. Returns how many."""
        with self._errors(), self._transaction("BEGIN IMMEDIATE"):
            ids = [row[0] for row in self._db.execute(OLD_MONITOR_SAMPLES, (before, batch))]
            if not ids:
                return 0
            marks = ", ".join("?" for _ in ids)
            self._db.execute(
                "INSERT INTO aggregates (metric, labels, unit, minute, count, min, max, sum) "
                f"SELECT metric, labels, unit, CAST(ts / {MINUTE_S} AS INTEGER) * {MINUTE_S}, COUNT(*), MIN(value), "
                f"MAX(value), SUM(value) FROM samples WHERE id IN ({marks}) GROUP BY metric, labels, unit, "
                f"CAST(ts / {MINUTE_S} AS INTEGER) "
                "ON CONFLICT (metric, labels, minute) DO UPDATE SET count = count + excluded.count, "
                "min = MIN(min, excluded.min), max = MAX(max, excluded.max), sum = sum + excluded.sum", ids)
            self._db.execute(f"DELETE FROM samples WHERE id IN ({marks})", ids)
        return len(ids)

    def drop_old_aggregates(self, before: float) -> int:
        """Delete aggregates of minutes before `before`; returns how many."""
        with self._errors():
            return int(self._db.execute("DELETE FROM aggregates WHERE minute < ?", (before,)).rowcount)

    def aggregates_of(self, metric: str) -> list[tuple[str, float, int, float, float, float]]:
        """(labels JSON, minute, count, min, max, sum) of one metric, oldest first."""
        with self._errors():
            return [tuple(row) for row in self._db.execute(
                "SELECT labels, minute, count, min, max, sum FROM aggregates WHERE metric = ? ORDER BY minute, "
                "labels", (metric,))]


def _event(row: tuple[object, ...]) -> AlertEvent:
    (id_, ts, name, fingerprint, state, severity, labels, annotations, value, active_at, run_id) = row
    return AlertEvent(int(id_), float(ts), str(name), str(fingerprint), str(state), str(severity),
                      json.loads(str(labels)), json.loads(str(annotations)),
                      float(value) if isinstance(value, (int, float)) else None, float(active_at),
                      int(run_id) if isinstance(run_id, int) else None)


def _decoded(store: Store, table: str, rows: Sequence[tuple[object, ...]],
             decode: Callable[[tuple[object, ...]], T]) -> list[T]:
    """Rows decoded, or one line naming the file and the row: a hand edit or a torn disk, not a traceback."""
    decoded: list[T] = []
    for row in rows:
        try:
            decoded.append(decode(row))
        except (ValueError, TypeError) as exc:
            raise WfdoctorError(f"{store.path}: {table} row {row[0]} is corrupt ({exc}); move the database "
                                f"aside or choose another with --db") from None
    return decoded


def alert_events_of(store: Store, run_id: int) -> list[AlertEvent]:
    """Every alert transition one monitor run stored, oldest first (a report marks them on its time axes)."""
    with store._errors():
        rows = store._db.execute(f"SELECT {EVENT_COLUMNS} FROM alert_events WHERE run_id = ? ORDER BY ts, id",
                                 (run_id,)).fetchall()
    return _decoded(store, "alert_events", rows, _event)
