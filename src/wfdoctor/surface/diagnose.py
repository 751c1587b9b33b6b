"""`wfdoctor diagnose`: snapshot, discovery, tier, triage, store, in that order.

Data files are loaded and cross-checked before anything is measured, so a
broken rule file costs no waiting. Discovery runs during the sampling window;
the embedded engine starts only after it, so its model load does not show up
as CPU load in the snapshot. A short token check against the first server
that answers then feeds the token rules (TTFT, decode rate).
"""

from __future__ import annotations

import asyncio
import time
from contextlib import ExitStack
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from wfdoctor.analyze.tiers import TierVerdict, classify_tier
from wfdoctor.analyze.tokens import summarize_level
from wfdoctor.analyze.triage import findings_of, triage
from wfdoctor.config.facts import Facts
from wfdoctor.config.rules import RuleBook
from wfdoctor.measure.snapshot import Snapshot, default_paths, take_snapshot
from wfdoctor.measure.tokens import LevelRun, Workload, run_workload
from wfdoctor.model import Finding, RuleResult, Run, Sample, WfdoctorError
from wfdoctor.sense.backends.base import BackendStatus, GenerationRequest
from wfdoctor.sense.backends.client import connect
from wfdoctor.sense.backends.discovery import backend_samples, discover
from wfdoctor.sense.backends.embedded import EmbeddedServer, smollm2_model_path
from wfdoctor.store.db import Store
from wfdoctor.surface.datafiles import load_data_files
from wfdoctor.surface.tokens import DEFAULT_PROMPT, level_metrics, summary_samples


@dataclass
class DiagnoseOptions:
    window_s: float = 2.0
    backend_urls: list[str] = field(default_factory=list)
    embedded: bool = True
    facts_path: Path | None = None
    rules_paths: list[Path] = field(default_factory=list)
    top: int = 5
    discovery_timeout_s: float = 1.0
    token_runs: int = 3  # short token check against the first server that answers; 0 skips it


@dataclass
class Diagnosis:
    run: Run
    snapshot: Snapshot
    tier: TierVerdict
    results: list[RuleResult]
    findings: list[Finding]
    backends: list[BackendStatus]
    rulebook: RuleBook
    facts: Facts
    notes: list[str]


def _probe_embedded(stack: ExitStack, report: Callable[[str], None]) -> BackendStatus:
    """Start the embedded SmolLM2 server (kept until `stack` closes) and probe it like any server."""
    report("no LLM server answered: starting the embedded SmolLM2 engine")
    server = stack.enter_context(EmbeddedServer())
    status = asyncio.run(discover([server.base_url]))[0]
    status.embedded = True
    status.detail = (f"embedded llama-cpp-python server with {server.model_path.name}, "
                     f"started in {server.startup_seconds:.1f} s")
    return status


RECENT_S = 24 * 3600
# What other commands measured that diagnose cannot in its window: (metric, label telling series apart).
RECENT_FINDINGS = [
    ("wf_memory_leak_bytes_per_minute", "pid"),        # memory watch
    ("wf_regressions_detected", ""),                    # regress check
    ("wf_council_sync_delay_seconds", ""),              # council (the latest council as a whole)
    ("wf_council_efficiency_ratio", ""),
]


def _recent(store: Store, metric: str, key_label: str) -> list[Sample]:
    """The newest sample of `metric` per `key_label` value from the last 24 h: what other commands
    (memory watch, regress check) found, for the rows diagnose cannot measure in its own window."""
    latest: dict[str, Sample] = {}
    for sample in store.recent_samples(metric, time.time() - RECENT_S):
        latest.setdefault(sample.labels.get(key_label, ""), sample)
    return list(latest.values())


def _token_check(url: str, runs: int, stall_s: float, report: Callable[[str], None]) -> list[Sample]:
    """A short `wfdoctor tokens` run (1 warm-up, `runs` requests, 32 tokens) for the token rules."""
    report(f"short token check against {url}")

    async def check() -> tuple[list[LevelRun], str]:
        backend = await connect(url, None, timeout_s=30.0, max_streams=1)
        levels: list[LevelRun] = []
        try:
            await run_workload(backend, Workload(GenerationRequest(DEFAULT_PROMPT, max_tokens=32), runs=runs),
                               levels)
        finally:
            await backend.aclose()
        return levels, backend.protocol

    levels, protocol = asyncio.run(check())
    summaries = [summarize_level(lv.concurrency, level_metrics(lv, protocol, stall_s)) for lv in levels]
    return [Sample(s.metric, s.value, s.unit, s.source, s.labels | {"check": "diagnose"}, s.ts)
            for s in summary_samples(summaries)]


def _model_dirs(embedded: bool) -> list[Path]:
    """Where model files live; a missing embedded model is reported when it is needed."""
    if not embedded:
        return []
    try:
        return [smollm2_model_path().parent]
    except WfdoctorError:
        return []


def run_diagnose(options: DiagnoseOptions, store: Store, report: Callable[[str], None] = lambda _: None) -> Diagnosis:
    """Measure, judge and record one diagnose run."""
    facts, rulebook = load_data_files(options.facts_path, options.rules_paths)
    run = Run(command="diagnose", started_at=time.time(), settings={
        "window_s": options.window_s, "backends": options.backend_urls, "embedded": options.embedded,
        "facts": str(options.facts_path or ""), "rules": [str(p) for p in options.rules_paths],
    })
    with store.recording(run), ExitStack() as stack:
        return _measure_and_judge(run, options, store, facts, rulebook, stack, report)


def _measure_and_judge(run: Run, options: DiagnoseOptions, store: Store, facts: Facts, rulebook: RuleBook,
                       stack: ExitStack, report: Callable[[str], None]) -> Diagnosis:
    report(f"sampling the system for {options.window_s:g} s and looking for LLM servers")
    snapshot, backends = asyncio.run(take_snapshot(
        options.window_s, default_paths(store.path, _model_dirs(options.embedded)), options.top,
        during=lambda: discover(options.backend_urls or None, options.discovery_timeout_s),
    ))
    run_id = run.id or 0
    store.add_samples(run_id, snapshot.samples)
    backends = backends or []
    notes: list[str] = []
    if not any(b.answered for b in backends):
        if not options.embedded:
            notes.append("no LLM server answered and the embedded engine is off (--no-embedded)")
        else:
            try:
                backends.append(_probe_embedded(stack, report))
                notes.append("no LLM server answered: the embedded SmolLM2 engine stood in as the backend")
            except WfdoctorError as exc:
                notes.append(f"no LLM server answered and the embedded engine could not start: {exc}")
    server_samples = backend_samples(backends)
    answering = next((b for b in backends if b.answered), None)
    if answering is not None and options.token_runs:
        try:
            # The tier is not known yet (it reads these samples): stalls use the tier-independent limit.
            server_samples += _token_check(answering.url, options.token_runs, facts.limits.tokens.stall_s, report)
        except WfdoctorError as exc:
            notes.append(f"token check skipped: {exc}")
    store.add_samples(run_id, server_samples)
    samples = snapshot.samples + server_samples + [
        sample for metric, key in RECENT_FINDINGS for sample in _recent(store, metric, key)]
    tier = classify_tier(samples, facts)
    results = triage(samples, rulebook, facts, tier.tier)
    findings = findings_of(results)
    run.samples, run.findings, run.tier = samples, findings, tier.tier
    run.environment = snapshot.environment
    store.add_findings(run_id, findings)
    return Diagnosis(run, snapshot, tier, results, findings, backends, rulebook, facts, notes + tier.notes)
