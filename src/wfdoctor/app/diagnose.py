"""`diagnose`: snapshot, discovery, tier, triage, store, in that order.

Data files are loaded and cross-checked before anything is measured, so a
broken rule file costs no waiting. Discovery runs during the sampling window;
the embedded engine starts only after it, so its model load does not show up
as CPU load in the snapshot. A short token check against the first server
that answers then feeds the token rules (TTFT, decode rate), and what other
commands measured in the last 24 h (leaks, regressions, the latest council)
fills the rows diagnose cannot measure in its own window; the pages' frame reports
to a running monitor fill the UI row (`app/ui.py`).
"""

from __future__ import annotations

import asyncio
import time
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path

from wfdoctor.analyze.failures import no_server
from wfdoctor.analyze.tiers import classify_tier
from wfdoctor.analyze.triage import row_statuses
from wfdoctor.app.backends import EMBEDDED_NOTE, embedded_model_dirs, embedded_status
from wfdoctor.app.datafiles import DataFiles, load_data_files
from wfdoctor.app.incidents import past_incident_notes
from wfdoctor.app.judge import judge, record
from wfdoctor.config.rules import Circumstances
from wfdoctor.app.progress import SILENT, Progress
from wfdoctor.app.reports.diagnose import DiagnoseReport
from wfdoctor.app.ui import ui_row
from wfdoctor.measure.snapshot import default_paths, take_snapshot
from wfdoctor.model import Finding, Run, Sample, WfdoctorError
from wfdoctor.sense.backends.base import BackendStatus
from wfdoctor.sense.backends.discovery import backend_samples, checked_url, discover
from wfdoctor.store.db import Store


@dataclass(frozen=True)
class DiagnoseOptions:
    window_s: float = 2.0
    backend_urls: list[str] = field(default_factory=list)
    embedded: bool = True
    facts_path: Path | None = None
    rules_paths: list[Path] = field(default_factory=list)
    top: int = 5
    discovery_timeout_s: float = 1.0
    token_runs: int = 3  # short token check against the first server that answers; 0 skips it
    token_timeout_s: float = 10.0  # seconds a token-check request may go without data

    def __post_init__(self) -> None:
        if self.window_s <= 0 or self.top < 1 or self.token_runs < 0 or self.discovery_timeout_s <= 0:
            raise WfdoctorError("the window and discovery timeout must be above 0, top at least 1, token runs at "
                                "least 0")
        if not self.token_timeout_s > 0:  # also refuses NaN
            raise WfdoctorError(f"the token timeout must be above 0 seconds, not {self.token_timeout_s}")
        for url in self.backend_urls:  # a URL that cannot be read is a usage error, before the window is sampled
            checked_url(url)


NO_EMBEDDED = "no LLM server answered and the embedded engine is off (--no-embedded)"
RECENT_S = 24 * 3600
# What other commands measured that diagnose cannot in its window: (metric, label telling series apart).
RECENT_FINDINGS = [
    ("wf_memory_leak_bytes_per_minute", "pid"),        # memory watch
    ("wf_regressions_detected", ""),                    # regress check
    ("wf_council_sync_delay_seconds", ""),              # council (the latest council as a whole)
    ("wf_council_efficiency_ratio", ""),
]


def _recent(store: Store) -> list[Sample]:
    """The newest sample per series of each RECENT_FINDINGS metric from the last 24 h."""
    out: list[Sample] = []
    for metric, key_label in RECENT_FINDINGS:
        latest: dict[str, Sample] = {}
        for sample in store.recent_samples(metric, time.time() - RECENT_S):
            latest.setdefault(sample.labels.get(key_label, ""), sample)
        out += latest.values()
    return out


def _where(tier: str, environment: dict[str, object], backends: list[BackendStatus]) -> dict[str, str]:
    """The incident fingerprint of this diagnosis: the machine, and the first server that answered."""
    answering = next((b for b in backends if b.answered), None)
    found = {"tier": tier, "hostname": environment.get("hostname"), "cpu_model": environment.get("cpu_model"),
             "os": environment.get("os"), "wfdoctor": environment.get("wfdoctor"),
             "backend_url": answering.url if answering else None}
    return {key: str(value) for key, value in found.items() if value}


def run_diagnose(options: DiagnoseOptions, store: Store, progress: Progress = SILENT) -> DiagnoseReport:
    """Measure, judge and record one diagnose run."""
    data = load_data_files(options.facts_path, options.rules_paths)
    run = Run(command="diagnose", started_at=time.time(), settings={
        "window_s": options.window_s, "backends": options.backend_urls, "embedded": options.embedded,
        "facts": str(options.facts_path or ""), "rules": [str(p) for p in options.rules_paths],
        "token_runs": options.token_runs, "token_timeout_s": options.token_timeout_s,
    })
    with store.recording(run), ExitStack() as stack:
        return _measure_and_judge(run, options, store, data, stack, progress)


def _find_servers(found: list[BackendStatus], options: DiagnoseOptions, stack: ExitStack,
                  progress: Progress) -> tuple[list[BackendStatus], list[str]]:
    """The servers discovery found, plus the embedded engine when none answered (and it is allowed)."""
    if any(b.answered for b in found):
        return found, []
    if not options.embedded:
        return found, [NO_EMBEDDED]
    try:
        return found + [embedded_status(stack, progress)], [EMBEDDED_NOTE]
    except WfdoctorError as exc:
        return found, [f"no LLM server answered; {exc}"]


def _server_findings(backends: list[BackendStatus], notes: list[str], options: DiagnoseOptions, data: DataFiles,
                     progress: Progress) -> tuple[list[Sample], list[Finding]]:
    """What the servers say, and the short token check against the first that answers.

    No server at all, a check that cannot start or whose requests fail: each is a
    finding, so diagnose never calls a server it could not measure healthy.
    """
    samples = backend_samples(backends)
    probed = [s for s in samples if s.metric == "wf_llm_server_up"]
    answering = next((b for b in backends if b.answered), None)
    if answering is None:
        return samples, [no_server(probed, notes[-1] if notes else NO_EMBEDDED, data.rulebook.remedies)]
    # A server the user named that did not answer is a finding even when another (the embedded engine) did.
    named = [b for b in backends if options.backend_urls and not b.answered and not b.embedded]
    findings = [no_server([s for s in probed if s.labels.get("url") == b.url],
                          f"no LLM server answered at {b.url}, which was named with --backend ({b.error})",
                          data.rulebook.remedies) for b in named]
    if not options.token_runs:
        return samples, findings
    from wfdoctor.app.tokens import quick_token_check  # the tokens pipeline loads only when a server answers

    # The tier is not known yet (it reads these samples): stalls use the tier-independent limits.
    check = quick_token_check(answering.url, options.token_runs, options.token_timeout_s, data.facts.limits.tokens,
                              data.rulebook.remedies, progress)
    return samples + check.samples, findings + check.findings


def _measure_and_judge(run: Run, options: DiagnoseOptions, store: Store, data: DataFiles, stack: ExitStack,
                       progress: Progress) -> DiagnoseReport:
    progress.note(f"sampling the system for {options.window_s:g} s and looking for LLM servers")
    model_dirs = embedded_model_dirs() if options.embedded else []
    snapshot, found = asyncio.run(take_snapshot(
        options.window_s, default_paths(store.path, model_dirs), options.top,
        during=lambda: discover(options.backend_urls or None, options.discovery_timeout_s),
    ))
    store.add_samples(run.id or 0, snapshot.samples)  # kept even if the rest is interrupted
    backends, notes = _find_servers(found or [], options, stack, progress)
    server_samples, causes = _server_findings(backends, notes, options, data, progress)
    ui = ui_row(store, data.facts, data.rulebook.remedies)  # what pages reported to a running monitor
    causes, notes = causes + ui.causes, notes + ui.notes
    measured = snapshot.samples + server_samples
    samples = measured + _recent(store) + ui.samples  # other runs' samples: judged, not stored again
    tier = classify_tier(samples, data.facts)
    judgement = judge(samples, data, tier.tier, "diagnose", causes, Circumstances(
        frozenset(b.kind for b in backends if b.answered), {"gpu": snapshot.gpu.found}))
    run.tier, run.environment = tier.tier, snapshot.environment
    record(store, run, measured, judgement.findings, saved=len(snapshot.samples))
    run.samples = samples
    notes += past_incident_notes(store, judgement.findings, _where(tier.tier, snapshot.environment, backends),
                                 data.facts.limits.incidents)
    return DiagnoseReport(run=run, window_s=snapshot.window_s, gpu=snapshot.gpu, tier=tier,
                          rows=row_statuses(data.rulebook, judgement.results, causes), findings=judgement.findings,
                          backends=backends, rulebook=data.rulebook, facts=data.facts, notes=notes + tier.notes)
