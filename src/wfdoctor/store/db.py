"""SQLite store: runs, samples and findings, in WAL mode.

WAL lets the monitor write while `history`, reports and the web app read. The
schema is versioned with `PRAGMA user_version` and moved forward by the
MIGRATIONS (the SQL files in store/migrations); a database from a newer wfdoctor, a corrupt file or a locked
one is reported with its path and never recreated over the user's data.
A run is written when it starts and marked finished at the end, so a killed
run keeps the samples it had saved.
"""

from __future__ import annotations

import json
import os
import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path

from wfdoctor.analyze.series import VOLATILE_LABELS, Reading
from wfdoctor.config.metrics import load_metrics
from wfdoctor.model import (EARLIEST_TS, LATEST_TS, MAX_MAGNITUDE, PLAUSIBLE_TIMES, ActionRecord, Finding, Run,
                            Sample, WfdoctorError, plausible_point)

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
# Forward migrations, one SQL file per schema version, applied in name order.
MIGRATIONS: list[str] = [path.read_text(encoding="utf-8") for path in sorted(MIGRATIONS_DIR.glob("*.sql"))]
SCHEMA_VERSION = len(MIGRATIONS)
BUSY_TIMEOUT_MS = 5000
MAX_ROW_ID = 2 ** 63 - 1          # SQLite's largest integer: no row has a larger id (and sqlite3 cannot bind one)


def default_db_path() -> Path:
    """$WFDOCTOR_DB, else $XDG_DATA_HOME/wfdoctor/wfdoctor.db (~/.local/share by default)."""
    if os.environ.get("WFDOCTOR_DB"):
        return Path(os.environ["WFDOCTOR_DB"]).expanduser()
    data_home = Path(os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share")
    return data_home / "wfdoctor" / "wfdoctor.db"


@dataclass(frozen=True)
class RunSummary:
    id: int
    command: str
    started_at: float
    finished_at: float | None
    status: str
    tier: str
    findings_by_priority: dict[str, int]


# A row `regress check` can judge: a number within MAX_MAGNITUDE at a plausible time (EARLIEST_TS..LATEST_TS),
# labels a JSON object. SQLite stores NaN as NULL and keeps infinities, which abs() then shows as out of range.
VALID_ROW = (f"typeof(s.value) IN ('integer', 'real') AND abs(s.value) <= {MAX_MAGNITUDE:g} "
             "AND typeof(s.ts) IN ('integer', 'real') AND s.ts BETWEEN ? AND ? "
             "AND substr(s.labels, 1, 1) = '{' AND json_valid(s.labels)")  # an object, parsed once


class Store:
    """One connection to the wfdoctor database; open with `Store.open(path)`."""

    def __init__(self, path: Path, connection: sqlite3.Connection) -> None:
        self.path = path
        self._db = connection

    @classmethod
    def open(cls, path: Path | None = None) -> Store:
        path = path or default_db_path()
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise WfdoctorError(f"{path.parent}: cannot create the database folder: {exc.strerror}") from None
        try:
            connection = sqlite3.connect(path, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None)
        except sqlite3.Error as exc:
            raise WfdoctorError(f"{path}: cannot open database: {exc}") from None
        store = cls(path, connection)
        with store._errors():
            connection.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
            store._refuse_foreign()  # before WAL mode: that would already change another program's file
            connection.execute("PRAGMA journal_mode = WAL")
            connection.execute("PRAGMA synchronous = NORMAL")
            connection.execute("PRAGMA foreign_keys = ON")
            store._migrate()
            store._close_abandoned()
        return store

    @contextmanager
    def _errors(self) -> Iterator[None]:
        """Turn SQLite failures into one-line errors that name the file."""
        try:
            yield
        except sqlite3.OperationalError as exc:
            if "locked" in str(exc) or "busy" in str(exc):
                raise WfdoctorError(f"{self.path}: database is locked by another process (waited "
                                    f"{BUSY_TIMEOUT_MS / 1000:.0f} s)") from None
            if getattr(exc, "sqlite_errorcode", None) == sqlite3.SQLITE_FULL or "full" in str(exc):
                raise WfdoctorError(f"disk full: {self.path} (nothing of this batch was written)") from None
            raise WfdoctorError(f"{self.path}: database error: {exc}") from None
        except sqlite3.IntegrityError as exc:  # a value the schema refuses: our bug or a hand edit, not corruption
            raise WfdoctorError(f"{self.path}: refused a row the schema does not allow ({exc})") from None
        except sqlite3.DatabaseError as exc:
            raise WfdoctorError(f"{self.path}: not a wfdoctor database or corrupt ({exc}); move it aside "
                                f"or choose another with --db") from None

    def _migrate(self) -> None:
        version = self._db.execute("PRAGMA user_version").fetchone()[0]
        if version > SCHEMA_VERSION:
            raise WfdoctorError(f"{self.path}: database schema v{version} is newer than this wfdoctor "
                                f"understands (v{SCHEMA_VERSION}): upgrade wfdoctor")
        for number in range(version, SCHEMA_VERSION):
            with self._transaction("BEGIN IMMEDIATE"):
                for statement in _statements(MIGRATIONS[number]):
                    self._db.execute(statement)
                self._db.execute(f"PRAGMA user_version = {number + 1}")

    def _close_abandoned(self) -> None:
        """Runs left "running" by a process that no longer exists become "abandoned" (their samples stay)."""
        running = self._db.execute("SELECT id, pid FROM runs WHERE status = 'running' AND pid IS NOT NULL").fetchall()
        gone = [(run_id,) for run_id, pid in running if not _alive(pid)]
        if gone:
            self._db.executemany("UPDATE runs SET status = 'abandoned' WHERE id = ? AND status = 'running'", gone)

    def _refuse_foreign(self) -> None:
        """A schema-less file that already has tables belongs to another program: never add ours to it."""
        if self._db.execute("PRAGMA user_version").fetchone()[0] != 0:
            return
        tables = [row[0] for row in self._db.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name")]
        if tables:
            shown = ", ".join(tables[:5]) + (", ..." if len(tables) > 5 else "")
            raise WfdoctorError(f"{self.path}: a SQLite database of another program (tables: {shown}); "
                                f"wfdoctor leaves it alone: choose another with --db")

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def begin_run(self, run: Run) -> int:
        """Record a run as started; its id is set on `run` and returned."""
        with self._errors():
            cursor = self._db.execute(
                "INSERT INTO runs (command, started_at, tier, settings, environment, pid) VALUES (?, ?, ?, ?, ?, ?)",
                (run.command, run.started_at, run.tier, json.dumps(run.settings), json.dumps(run.environment),
                 os.getpid()),
            )
        run.id = int(cursor.lastrowid or 0)
        return run.id

    @contextmanager
    def recording(self, run: Run) -> Iterator[int]:
        """Record `run` as started; whatever ends the body, the run is closed with the right status.

        Finished (unless the body closed it itself), "interrupted" on Ctrl-C, "failed"
        on an error; the samples written so far stay either way.
        """
        run_id = self.begin_run(run)
        try:
            yield run_id
        except KeyboardInterrupt:
            self.finish_run(run, status="interrupted")
            raise
        except BaseException:
            self.finish_run(run, status="failed")
            raise
        if run.finished_at is None:
            self.finish_run(run)

    def add_samples(self, run_id: int, samples: list[Sample]) -> None:
        """Append samples in one transaction (one fsync for the batch)."""
        self.add_results(run_id, samples, [])

    def add_results(self, run_id: int, samples: list[Sample], findings: list[Finding]) -> None:
        """Append samples and findings in one transaction: both land, or neither.

        A `wf_` sample (or evidence) the metric registry does not declare, or with another unit,
        is refused before anything is written: a misspelt name would otherwise be history nobody reads.
        So is a sample that is not a plausible value (finite, within MAX_MAGNITUDE) at a plausible time: no reader could judge or show it.
        """
        registry = load_metrics()
        registry.check(samples)
        registry.check(s for f in findings for s in f.evidence)
        bad = next((s for s in samples if not plausible_point(s.value, s.ts)), None)
        if bad is not None:
            raise WfdoctorError(f"{self.path}: {bad.metric} = {bad.value} at time {bad.ts} is not a finite value "
                                f"within ±{MAX_MAGNITUDE:g} at a time {PLAUSIBLE_TIMES}; nothing of this batch was written")
        sample_rows = [(run_id, s.metric, s.value, s.unit, s.source, json.dumps(s.labels, sort_keys=True), s.ts)
                       for s in samples]
        finding_rows = [(run_id, f.rule_id, f.code, f.row, f.priority.value, f.symptom, f.cause, f.summary,
                         json.dumps(f.actions), json.dumps([s.to_dict() for s in f.evidence]), f.explained_by)
                        for f in findings]
        with self._errors(), self._transaction():
            self._db.executemany(
                "INSERT INTO samples (run_id, metric, value, unit, source, labels, ts) VALUES (?, ?, ?, ?, ?, ?, ?)",
                sample_rows,
            )
            self._db.executemany(
                "INSERT INTO findings (run_id, rule_id, code, row, priority, symptom, cause, summary, actions, "
                "evidence, explained_by) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                finding_rows,
            )

    def add_action(self, run_id: int, action: ActionRecord) -> None:
        """Log one action (applied or dry run) with its before/after evidence."""
        with self._errors():
            self._db.execute(
                "INSERT INTO actions (run_id, ts, kind, target, level, applied, reason, before, after, error, alert, "
                "outcome) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (run_id, action.ts, action.kind, action.target, action.level, int(action.applied), action.reason,
                 json.dumps(action.before), json.dumps(action.after), action.error, action.alert, action.outcome),
            )

    def actions(self, run_id: int | None = None, limit: int = 100) -> list[ActionRecord]:
        """Logged actions (applied and dry runs) of one run, or of all runs, newest first."""
        where, args = ("WHERE run_id = ?", (run_id, limit)) if run_id is not None else ("", (limit,))
        with self._errors():
            rows = self._db.execute(
                "SELECT kind, target, level, applied, reason, before, after, error, ts, alert, outcome FROM actions "
                f"{where} ORDER BY ts DESC, id DESC LIMIT ?", args).fetchall()
        return [ActionRecord(kind, target, level, bool(applied), reason, _json_object(before), _json_object(after),
                             error, ts, alert, outcome)
                for kind, target, level, applied, reason, before, after, error, ts, alert, outcome in rows]

    def finish_run(self, run: Run, status: str = "finished") -> None:
        """Close the run, with the settings it learnt on the way (`tokens` finds its server and model)."""
        run.finished_at = run.finished_at or time.time()
        with self._errors():
            self._db.execute(
                "UPDATE runs SET finished_at = ?, status = ?, tier = ?, settings = ?, environment = ? WHERE id = ?",
                (run.finished_at, status, run.tier, json.dumps(run.settings), json.dumps(run.environment), run.id),
            )

    @contextmanager
    def _transaction(self, begin: str = "BEGIN") -> Iterator[None]:
        """All or nothing. A failed COMMIT rolls back too; SQLite may already have ended the transaction
        itself (disk full), and a second ROLLBACK would hide the real error behind "no transaction is active"."""
        self._db.execute(begin)
        try:
            yield
            self._db.execute("COMMIT")
        except BaseException:
            if self._db.in_transaction:
                self._db.execute("ROLLBACK")
            raise

    def list_runs(self, limit: int = 20) -> list[RunSummary]:
        """Most recent runs first, with their findings counted by priority."""
        with self._errors():
            runs = self._db.execute(
                "SELECT id, command, started_at, finished_at, status, tier FROM runs ORDER BY id DESC LIMIT ?",
                (limit,),
            ).fetchall()
            counts = self._db.execute(
                "SELECT run_id, priority, COUNT(*) FROM findings WHERE run_id >= ? GROUP BY run_id, priority",
                (min((r[0] for r in runs), default=0),),
            ).fetchall()
        by_run: dict[int, dict[str, int]] = {}
        for run_id, priority, count in counts:
            by_run.setdefault(run_id, {})[priority] = count
        return [RunSummary(r[0], r[1], r[2], r[3], r[4], r[5], by_run.get(r[0], {})) for r in runs]

    def recent_samples(self, metric: str, since: float) -> list[Sample]:
        """Samples of `metric` from finished runs that started after `since`, newest run first."""
        with self._errors():
            rows = self._db.execute(
                "SELECT s.metric, s.value, s.unit, s.source, s.labels, s.ts, r.id FROM samples s "
                "JOIN runs r ON r.id = s.run_id WHERE s.metric = ? AND r.started_at >= ? AND r.status = 'finished' "
                "ORDER BY r.id DESC", (metric, since),
            ).fetchall()
        return [replace(sample, labels=sample.labels | {"run": str(run_id)}) for *row, run_id in rows
                if (sample := _stored_sample(*row)) is not None]

    def samples_between(self, metrics: list[str], start: float, end: float) -> list[Sample]:
        """Samples of `metrics` taken in [start, end] by any run, running ones included, oldest first.

        The monitor's run stays `running` while it writes, and what it wrote a moment ago (a
        page's frame reports, the machine's CPU) is what `diagnose` judges the UI row on; the
        (metric, ts) index answers it without reading other metrics.
        """
        if not metrics:
            return []
        marks = ", ".join("?" for _ in metrics)
        with self._errors():
            rows = self._db.execute(
                f"SELECT metric, value, unit, source, labels, ts FROM samples WHERE metric IN ({marks}) "
                "AND ts >= ? AND ts <= ? ORDER BY ts, id", (*metrics, start, end),
            ).fetchall()
        return [sample for row in rows if (sample := _stored_sample(*row)) is not None]

    def metric_names(self) -> list[str]:
        with self._errors():
            return [row[0] for row in self._db.execute("SELECT DISTINCT metric FROM samples ORDER BY metric")]

    def metric_readings(self, metrics: list[str]) -> Iterator[Reading]:
        """Every valid sample of `metrics` from finished runs as a series reads it, oldest first, streamed.

        SQLite takes the labels apart (json_remove, json_extract), and rows are yielded as
        the cursor reads them: `regress check` on 300,000 points holds neither the rows nor a
        Sample with a parsed labels dictionary per point, only the series being built.
        Rows no wfdoctor of today would write (`invalid_readings`) are left out.
        """
        volatile = ", ".join(f"'$.\"{label}\"'" for label in sorted(VOLATILE_LABELS))
        query = (f"SELECT s.metric, json_remove(s.labels, {volatile}), s.unit, r.id, "
                 "COALESCE(json_extract(s.labels, '$.point'), ''), s.ts, s.value, "
                 "COALESCE(json_extract(s.labels, '$.revision'), '') FROM samples s JOIN runs r "
                 f"ON r.id = s.run_id WHERE r.status = 'finished' AND {VALID_ROW} "
                 f"AND s.metric IN ({', '.join('?' for _ in metrics)}) ORDER BY s.metric, s.ts, s.id")
        with self._errors():
            yield from map(Reading._make, self._db.execute(query, (EARLIEST_TS, LATEST_TS, *metrics)))

    def invalid_readings(self, metrics: list[str]) -> int:
        """Stored samples of `metrics` that cannot be judged: a non-finite value, an impossible
        time or broken labels (an older version's import or a hand edit); counted, never judged."""
        query = ("SELECT COUNT(*) FROM samples s JOIN runs r ON r.id = s.run_id WHERE r.status = 'finished' "
                 f"AND NOT ({VALID_ROW}) AND s.metric IN ({', '.join('?' for _ in metrics)})")
        with self._errors():
            return int(self._db.execute(query, (EARLIEST_TS, LATEST_TS, *metrics)).fetchone()[0])

    def samples_of(self, run_id: int) -> list[Sample]:
        with self._errors():
            rows = self._db.execute(
                "SELECT metric, value, unit, source, labels, ts FROM samples WHERE run_id = ? ORDER BY id", (run_id,)
            ).fetchall()
        return [sample for row in rows if (sample := _stored_sample(*row)) is not None]


def _stored_sample(metric: str, value: object, unit: str, source: str, labels: str, ts: object) -> Sample | None:
    """The sample a row holds, or None for a row that cannot be judged or shown (see `invalid_readings`)."""
    if not isinstance(value, (int, float)) or not isinstance(ts, (int, float)) or not plausible_point(value, ts):
        return None
    try:
        parsed = json.loads(labels)
    except (TypeError, ValueError):
        return None
    if not isinstance(parsed, dict):
        return None
    return Sample(metric, float(value), unit, source, {str(k): str(v) for k, v in parsed.items()}, float(ts))


def _json_object(text: str) -> dict[str, object]:
    """A stored JSON object; anything else (a hand edit) reads as empty rather than failing the listing."""
    try:
        parsed = json.loads(text)
    except (TypeError, ValueError):
        return {}
    return parsed if isinstance(parsed, dict) else {}


def _alive(pid: int) -> bool:
    """Whether a process with this pid exists (one owned by another user counts)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError, ValueError):
        return True
    return True


def _statements(script: str) -> list[str]:
    """The statements of a migration file (its `--` comment lines dropped, so they may hold any text)."""
    code = "\n".join(line for line in script.splitlines() if not line.lstrip().startswith("--"))
    return [part.strip() for part in code.split(";") if part.strip()]
