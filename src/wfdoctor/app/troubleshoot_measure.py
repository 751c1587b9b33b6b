"""Troubleshoot's measurements: what its findings call for, and the same again after a fix.

Step 1 (identify) runs `diagnose` on the chosen server, a short token run against it (the
`tokens` pipeline: per-request TTFT and decode rate, and the causes it names, such as CPU
contention with the competing processes), a memory watch of the largest process when
diagnose found memory pressure, and, when a council is configured (its members named), a few
council rounds: one council is one number of each kind (efficiency, sync delay), so several
rounds give the distribution the comparison tests. Each is an ordinary stored run of its command.

Step 4 (validate) repeats each of those runs from its stored settings, never from memory of
this session, so `troubleshoot --validate INCIDENT` in another process an hour later measures
exactly what the first session did: the same server, model, prompt length, requests and
concurrency, the same process for the memory watch.
"""

from __future__ import annotations

from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

import psutil

from wfdoctor.app.backends import start_embedded
from wfdoctor.app.council import CouncilOptions, run_council_command
from wfdoctor.app.diagnose import DiagnoseOptions, run_diagnose
from wfdoctor.app.memory import WatchOptions, run_memory_watch
from wfdoctor.app.progress import Progress
from wfdoctor.app.reports.diagnose import DiagnoseReport
from wfdoctor.app.tokens import TokensOptions, run_tokens
from wfdoctor.measure.council import MemberSpec
from wfdoctor.model import Finding, Run, Sample, WfdoctorError
from wfdoctor.store.db import Store

MEMORY_ROW = "high_memory"          # the triage row whose findings call for a memory watch
MEASURED_COMMANDS = ("tokens", "memory watch", "council")   # the runs troubleshoot makes, and validates again
COUNCIL_COMPARED = ("wf_council_efficiency_ratio", "wf_council_sync_delay_seconds", "wf_council_wall_seconds")


@dataclass(frozen=True)
class MeasureSettings:
    """How much troubleshoot measures: enough requests on each side for the comparison's test."""

    window_s: float = 2.0
    model: str | None = None            # None: the server's first loaded model
    requests: int = 8                   # per token run; limits.compare.min_samples is the least that can be tested
    max_tokens: int = 32
    concurrency: tuple[int, ...] = (1,)
    timeout_s: float = 60.0             # a token run's request waiting this long for data fails (a hung server)
    memory_watch_s: float = 20.0
    council_members: tuple[str, ...] = ()  # "URL[#MODEL]" of each member; none: no council is configured
    council_rounds: int = 5             # councils per measurement (limits.compare.min_samples is the least tested)
    facts_path: Path | None = None
    rules_paths: tuple[Path, ...] = ()


@dataclass(frozen=True)
class Measured:
    """One measurement troubleshoot made: its command, runs (several for council rounds), findings, and the
    samples validation compares."""

    command: str
    run_ids: list[int]
    findings: list[Finding]
    samples: list[Sample]
    implementation: str = ""
    model: str = ""


def compared_samples(command: str, samples: list[Sample]) -> list[Sample]:
    """The series a before/after test can judge: one value per request (tokens) or per reading (memory watch).

    A token run's level summaries (`stat` labels) and its system readings are one number per run: shown
    in the run itself, not tested.
    """
    if command == "tokens":
        return [s for s in samples if "request" in s.labels]
    if command == "council":
        return [s for s in samples if s.metric in COUNCIL_COMPARED]
    return [s for s in samples if s.metric == "wf_process_resident_memory_bytes"]


def _tokens(url: str, settings: MeasureSettings, store: Store, progress: Progress, model: str | None = None,
            max_tokens: int | None = None, runs: int | None = None, concurrency: list[int] | None = None) -> Measured:
    report = run_tokens(TokensOptions(
        backend_url=url, model=model or settings.model, max_tokens=max_tokens or settings.max_tokens,
        runs=runs or settings.requests,
        concurrency=concurrency or list(settings.concurrency), embedded=False, measure_bandwidth=False,
        timeout_s=settings.timeout_s,
        facts_path=settings.facts_path, rules_paths=list(settings.rules_paths)), store, progress)
    run = report.run
    if report.interrupted:
        raise KeyboardInterrupt     # the token run keeps what it measured; troubleshoot stops, as Ctrl-C asked
    return Measured("tokens", [run.id or 0], report.findings, compared_samples("tokens", run.samples),
                    report.implementation, report.model)


def _memory(pid: int, settings: MeasureSettings, store: Store, progress: Progress,
            duration_s: float | None = None) -> Measured:
    report = run_memory_watch(WatchOptions(pid=pid, duration_s=duration_s or settings.memory_watch_s,
                                           facts_path=settings.facts_path, rules_paths=list(settings.rules_paths)),
                              store, progress)
    if report.series.interrupted:
        raise KeyboardInterrupt     # as for the token run: the watch is kept, troubleshoot stops
    return Measured("memory watch", [report.run.id or 0], report.findings,
                    compared_samples("memory watch", report.run.samples))


def _council(members: list[MemberSpec | str], rounds: int, settings: MeasureSettings, store: Store,
             progress: Progress) -> Measured:
    """`rounds` councils of the same members; the findings are the last round's (each round finds the same)."""
    reports = []
    for number in range(1, rounds + 1):
        progress.note(f"council round {number} of {rounds}")
        reports.append(run_council_command(CouncilOptions(members=list(members), facts_path=settings.facts_path,
                                                          rules_paths=list(settings.rules_paths)), store, progress))
    return Measured("council", [r.run.id or 0 for r in reports], reports[-1].findings,
                    [s for r in reports for s in compared_samples("council", r.run.samples)])


def largest_process(samples: list[Sample]) -> int | None:
    """The pid with the largest resident memory in diagnose's snapshot (the top of its culprit list)."""
    sizes = [(s.value, s.labels.get("pid", "")) for s in samples if s.metric == "wf_process_resident_memory_bytes"]
    pid = max(sizes, default=(0.0, ""))[1]
    return int(pid) if pid.isdigit() else None


def diagnose_server(url: str, settings: MeasureSettings, store: Store, progress: Progress) -> DiagnoseReport:
    """The machine, the tier and the triage rows, with the chosen server as the one probed (no token check:
    troubleshoot's own token run follows)."""
    return run_diagnose(DiagnoseOptions(window_s=settings.window_s, backend_urls=[url], embedded=False,
                                        facts_path=settings.facts_path, rules_paths=list(settings.rules_paths),
                                        token_runs=0), store, progress)


def identify(url: str, diagnosis: DiagnoseReport, settings: MeasureSettings, store: Store,
             progress: Progress) -> list[Measured]:
    """The measurements diagnose's findings call for: always the token run, a memory watch on memory pressure,
    council rounds when a council is configured."""
    measured = [_tokens(url, settings, store, progress)]
    if any(f.row == MEMORY_ROW for f in diagnosis.findings):
        pid = largest_process(diagnosis.run.samples)
        if pid is not None:
            progress.note(f"memory pressure: watching the largest process (pid {pid}) for "
                          f"{settings.memory_watch_s:g} s")
            measured.append(_memory(pid, settings, store, progress))
    if settings.council_members:
        measured.append(_council(list(settings.council_members), settings.council_rounds, store=store,
                                 settings=settings, progress=progress))
    return measured


def _int(value: object, default: int) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else default


def server_of(run: Run, embedded: bool, stack: ExitStack, progress: Progress) -> str:
    """The server a stored token run measured; the embedded engine is started again if that is what it was
    (its port died with the session that started it)."""
    url = run.settings.get("backend")
    if embedded or run.settings.get("embedded"):
        return start_embedded(stack, progress, why="the run being validated measured it").base_url
    if not isinstance(url, str) or not url:
        raise WfdoctorError(f"run {run.id} names no server to measure again")
    return url


def _watched_name(run: Run) -> str | None:
    """The name of the process a stored memory watch watched (None when its samples do not say)."""
    return next((s.labels["name"] for s in run.samples if s.metric == "wf_process_resident_memory_bytes"
                 and "name" in s.labels), None)


def _process_name(pid: int) -> str | None:
    try:
        return psutil.Process(pid).name()
    except psutil.Error:
        return None


def measurement_groups(runs: list[Run]) -> list[list[Run]]:
    """The stored runs of one troubleshoot as measurements: each token run and memory watch alone, the council
    rounds together."""
    council = [run for run in runs if run.command == "council"]
    return [[run] for run in runs if run.command != "council"] + ([council] if council else [])


def _members(run: Run) -> list[MemberSpec]:
    members = run.settings.get("members")
    specs = [MemberSpec(str(m.get("name", "")), str(m.get("url", "")), m.get("model") or None)
             for m in members if isinstance(m, dict)] if isinstance(members, list) else []
    if not specs:
        raise WfdoctorError(f"council run {run.id} names no members to measure again")
    return specs


def remeasure(runs: list[Run], embedded: bool, settings: MeasureSettings, store: Store, stack: ExitStack,
              progress: Progress) -> Measured | None:
    """The same measurement as the stored `runs` (one of `measurement_groups`), taken now; None when it cannot be
    repeated (the watched process has exited), which validation reports."""
    run = runs[0]
    if run.command == "council":
        return _council(list(_members(run)), len(runs), settings, store, progress)
    if run.command == "tokens":
        concurrency = run.settings.get("concurrency")
        levels = [c for c in concurrency if isinstance(c, int)] if isinstance(concurrency, list) else None
        model = run.settings.get("model")
        return _tokens(server_of(run, embedded, stack, progress), settings, store, progress,
                       model=model if isinstance(model, str) and model else None,
                       max_tokens=_int(run.settings.get("max_tokens"), settings.max_tokens),
                       runs=_int(run.settings.get("runs"), settings.requests), concurrency=levels or None)
    if run.command == "memory watch":
        pid = _int(run.settings.get("pid"), 0)
        watched = _watched_name(run)
        if pid < 1 or not psutil.pid_exists(pid) or (watched is not None and _process_name(pid) != watched):
            return None     # exited, or the pid is another program's now (pids are reused): not the same thing
        duration = run.settings.get("duration_s")
        return _memory(pid, settings, store, progress, duration if isinstance(duration, float) else None)
    return None
