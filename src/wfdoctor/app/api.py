"""The public Python API: the same pipelines the CLI runs, each opening the database it is given.

`import wfdoctor` re-exports these (see docs/api.md). Every function imports its
pipeline when called, so `import wfdoctor` stays cheap and a command pays only
for what it uses.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

from wfdoctor.app.progress import SILENT, Progress
from wfdoctor.store.db import Store, default_db_path

if TYPE_CHECKING:
    from wfdoctor.analyze.regress_check import CheckSettings
    from wfdoctor.app.capacity import CapacityOptions
    from wfdoctor.app.council import CouncilOptions
    from wfdoctor.app.diagnose import DiagnoseOptions
    from wfdoctor.app.reports.guide import Guide
    from wfdoctor.app.memory import ModelsOptions, ProfileOptions, WatchOptions
    from wfdoctor.app.reports.capacity import CapacityReport
    from wfdoctor.app.reports.compare import CompareReport
    from wfdoctor.app.reports.council import CouncilReport
    from wfdoctor.app.reports.diagnose import DiagnoseReport
    from wfdoctor.app.recover import RecoverOptions
    from wfdoctor.app.reports.history import HistoryReport
    from wfdoctor.app.reports.incidents import ExportReport, ImportReport, IncidentReport, IncidentsReport
    from wfdoctor.app.reports.recover import RecoverReport
    from wfdoctor.app.reports.monitor import AlertsReport, Silence
    from wfdoctor.app.reports.memory import ModelsReport, ProfileReport, WatchReport
    from wfdoctor.app.reports.regress import RecordReport, RegressReport
    from wfdoctor.app.reports.report import ReportDocument
    from wfdoctor.app.reports.tokens import TokensReport
    from wfdoctor.app.tokens import TokensOptions
    from wfdoctor.app.reports.troubleshoot import TroubleshootReport
    from wfdoctor.app.troubleshoot import TroubleshootOptions
    from wfdoctor.app.troubleshoot_actions import Asker

__all__ = ["diagnose", "measure_tokens", "measure_capacity", "run_council", "watch_memory", "profile_memory", "model_action",
           "check_regressions", "show_series", "record_results", "history", "database", "list_alerts",
           "silence_alerts", "unsilence", "recover", "check_recovery_inputs", "troubleshooting_guide", "troubleshoot",
           "validate_incident", "compare_runs", "list_incidents", "show_incident", "search_incidents",
           "export_incidents",
           "import_incidents", "build_report"]

Database = Path | str | None  # None: $WFDOCTOR_DB or ~/.local/share/wfdoctor/wfdoctor.db
R = TypeVar("R")


def _in_store(db: Database, pipeline: Callable[[Store], R]) -> R:
    """Run `pipeline` with the database open (and closed after, whatever happens)."""
    with Store.open(database(db)) as store:
        return pipeline(store)


def database(db: Database) -> Path:
    """The database a call records in: `db`, else $WFDOCTOR_DB, else the XDG data folder."""
    return Path(db) if db is not None else default_db_path()


def diagnose(options: DiagnoseOptions | None = None, *, db: Database = None,
             progress: Progress = SILENT) -> DiagnoseReport:
    """Snapshot the machine, find LLM servers, classify the tier and run the triage matrix."""
    from wfdoctor.app.diagnose import DiagnoseOptions, run_diagnose

    return _in_store(db, lambda store: run_diagnose(options or DiagnoseOptions(), store, progress))


def measure_tokens(options: TokensOptions | None = None, *, db: Database = None,
                   progress: Progress = SILENT) -> TokensReport:
    """TTFT, ITL, TPOT, decode and prefill rates per concurrency level, the knee, the causes, the roofline."""
    from wfdoctor.app.tokens import TokensOptions, prompt_of, run_tokens

    options = options or TokensOptions()
    prompt_of(options)  # an unreadable prompt file is reported before the database is touched
    return _in_store(db, lambda store: run_tokens(options, store, progress))


def measure_capacity(options: CapacityOptions | None = None, *, db: Database = None,
                     progress: Progress = SILENT) -> CapacityReport:
    """The most concurrent streams the server serves within the tier's TTFT and decode targets, with goodput."""
    from wfdoctor.app.capacity import CapacityOptions, run_capacity
    from wfdoctor.app.tokens import prompt_of

    options = options or CapacityOptions()
    prompt_of(options.tokens)  # an unreadable prompt file is reported before the database is touched
    return _in_store(db, lambda store: run_capacity(options, store, progress))


def run_council(options: CouncilOptions | None = None, *, db: Database = None,
                progress: Progress = SILENT) -> CouncilReport:
    """Several members at once: stragglers, serialisation (alpha), early consensus, the right size."""
    from wfdoctor.app.council import CouncilOptions, members_of, run_council_command

    options = options or CouncilOptions()
    members_of(options)  # a bad members file is reported before the database is touched
    return _in_store(db, lambda store: run_council_command(options, store, progress))


def watch_memory(options: WatchOptions, *, db: Database = None, progress: Progress = SILENT) -> WatchReport:
    """A process's memory over time and a leak verdict by statistics."""
    from wfdoctor.app.memory import run_memory_watch

    return _in_store(db, lambda store: run_memory_watch(options, store, progress))


def profile_memory(options: ProfileOptions, *, db: Database = None, progress: Progress = SILENT) -> ProfileReport:
    """A Python program run under tracemalloc: where its memory grows, line by line."""
    from wfdoctor.app.memory import run_memory_profile, script_of

    script_of(options)  # a missing script is reported before the database is touched
    return _in_store(db, lambda store: run_memory_profile(options, store, progress))


def model_action(options: ModelsOptions, *, db: Database = None, progress: Progress = SILENT) -> ModelsReport:
    """List, unload, preload or evict Ollama's loaded models (a dry run unless `options.apply`)."""
    from wfdoctor.app.memory import run_model_action

    return _in_store(db, lambda store: run_model_action(options, store, progress))


def check_regressions(metrics: list[str] | None = None, settings: CheckSettings | None = None, *,
                      db: Database = None) -> RegressReport:
    """Change points in every stored series; `discovery` marks regressions that survive BH."""
    from wfdoctor.analyze.regress_check import CheckSettings
    from wfdoctor.app.regress import check_regressions as check

    return _in_store(db, lambda store: check(store, metrics, settings or CheckSettings()))


def show_series(metric: str, *, db: Database = None) -> RegressReport:
    """One metric's stored series with its change points (nothing recorded)."""
    from wfdoctor.app.regress import show_series as show

    return _in_store(db, lambda store: show(store, metric))


def record_results(path: Path | str, *, db: Database = None) -> RecordReport:
    """Import pytest-benchmark JSON or CSV/JSON rows into the history."""
    from wfdoctor.app.regress import read_results
    from wfdoctor.app.regress import record_results as record

    samples = read_results(Path(path))  # a bad file is reported before the database is touched
    return _in_store(db, lambda store: record(Path(path), samples, store))


def history(limit: int = 20, *, db: Database = None) -> HistoryReport:
    """Stored runs, newest first, with findings counted by priority."""
    from wfdoctor.app.history import list_history

    return _in_store(db, lambda store: list_history(store, limit))


def list_alerts(scope: str = "current", *, db: Database = None) -> AlertsReport:
    """Alerts the monitor stored: `current` (pending or firing), `all` (last state of each) or `history`."""
    from wfdoctor.app.monitor_alerts import list_alerts as listed

    return listed(database(db), scope)


def silence_alerts(matchers: list[str], duration_s: float, comment: str = "", *, db: Database = None) -> Silence:
    """Mute notifications of alerts matching every `name="value"` matcher for `duration_s`."""
    from wfdoctor.app.monitor_alerts import add_silence

    return add_silence(database(db), matchers, duration_s, comment)


def unsilence(silence_id: int, *, db: Database = None) -> None:
    """End a silence now."""
    from wfdoctor.app.monitor_alerts import end_silence

    end_silence(database(db), silence_id)


def check_recovery_inputs(options: RecoverOptions) -> None:
    """Raise WfdoctorError for an unknown step or a broken ladder or config, before any database is opened."""
    from wfdoctor.app.recover import recover_inputs

    recover_inputs(options)


def recover(options: RecoverOptions, *, db: Database = None) -> RecoverReport:
    """The recovery ladder (L1-L4) against memory now, or one step of it run (dry run unless `options.apply`)."""
    from wfdoctor.app.recover import run_recover

    return _in_store(db, lambda store: run_recover(options, store))


def troubleshoot(options: TroubleshootOptions | None = None, *, db: Database = None, progress: Progress = SILENT,
                 asker: Asker | None = None) -> TroubleshootReport:
    """The troubleshooting workflow: identify, classify (with past incidents), apply, validate, document.

    `asker` answers `--interactive`'s questions (None: not interactive)."""
    from wfdoctor.app.troubleshoot import TroubleshootOptions, run_troubleshoot

    return _in_store(db, lambda store: run_troubleshoot(options or TroubleshootOptions(), store, progress, asker))


def validate_incident(incident_id: int, options: TroubleshootOptions | None = None, *, db: Database = None,
                      progress: Progress = SILENT, asker: Asker | None = None) -> TroubleshootReport:
    """Validate a stored incident after acting on it: its runs measured again, compared, the verdict documented."""
    from wfdoctor.app.troubleshoot import TroubleshootOptions
    from wfdoctor.app.troubleshoot import validate_incident as validate

    return _in_store(db, lambda store: validate(incident_id, options or TroubleshootOptions(), store, progress,
                                                asker))


def troubleshooting_guide(facts_path: Path | None = None, rules_paths: Sequence[Path] = ()) -> Guide:
    """The troubleshooting guide of the rules in force (packaged, the user's config dir, `rules_paths`)."""
    from wfdoctor.app.guide import build_guide

    return build_guide(facts_path, rules_paths)


def compare_runs(run_a: int, run_b: int, *, facts_path: Path | None = None, db: Database = None) -> CompareReport:
    """Run `run_a` (before) against run `run_b` (after), metric by metric, with a statistical verdict each."""
    from wfdoctor.app.compare import compare_runs as compare

    return _in_store(db, lambda store: compare(store, run_a, run_b, facts_path))
# --- The incident knowledge base (issue 13) ---

def list_incidents(limit: int = 50, *, db: Database = None) -> IncidentsReport:
    """Documented troubleshooting sessions, newest first (unreadable rows named, not shown)."""
    from wfdoctor.app.incidents import list_incidents as listed

    return _in_store(db, lambda store: listed(store, limit))


def show_incident(incident_id: int, *, db: Database = None) -> IncidentReport:
    """One incident, whole: symptoms, evidence, cause, actions, validation, note, fingerprint."""
    from wfdoctor.app.incidents import show_incident as shown

    return _in_store(db, lambda store: shown(store, incident_id))


def search_incidents(text: str, limit: int = 50, *, db: Database = None) -> IncidentsReport:
    """Incidents whose cause, summary, symptoms, note or action titles hold `text` (any case)."""
    from wfdoctor.app.incidents import search

    return _in_store(db, lambda store: search(store, text, limit))


def export_incidents(ids: Sequence[int] = (), out: Path | str | None = None, *,
                     db: Database = None) -> ExportReport:
    """The export document of the incidents `ids` (all when none), written to `out` when given."""
    from wfdoctor.app.incidents import export_incidents as export

    return _in_store(db, lambda store: export(store, ids, None if out is None else Path(out)))


def import_incidents(path: Path | str, *, db: Database = None) -> ImportReport:
    """Add a team's exported incidents (origin "imported: <file name>"); ones already present are skipped."""
    from wfdoctor.app.incidents import import_file, read_export

    incidents = read_export(Path(path))  # a bad file is reported before the database is touched
    return _in_store(db, lambda store: import_file(store, Path(path), incidents))


# --- reports (issue 13) ---

def build_report(target: str, *, db: Database = None) -> ReportDocument:
    """The report of a stored run (`"7"`) or incident (`"incident:3"`): findings, fingerprints, the plots' data.

    Nothing is measured; a database that does not exist is an error, not a new empty one."""
    from wfdoctor.app.report import build_report as build
    from wfdoctor.app.reports.report import parse_target
    from wfdoctor.model import WfdoctorError

    parsed = parse_target(target)  # a malformed target is reported before the database is touched
    path = database(db)
    if not path.is_file():
        raise WfdoctorError(f"no database at {path}: nothing to report (record a run first, or name one with --db)")
    return _in_store(path, lambda store: build(store, parsed))
