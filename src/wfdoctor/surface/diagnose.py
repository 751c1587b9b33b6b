"""`wfdoctor diagnose`: snapshot, discovery, tier, triage, store, in that order.

Data files are loaded and cross-checked before anything is measured, so a
broken rule file costs no waiting. Discovery runs during the sampling window;
the embedded engine starts only after it, so its model load does not show up
as CPU load in the snapshot.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from wfdoctor.analyze.tiers import TierVerdict, classify_tier
from wfdoctor.analyze.triage import check_references, findings_of, triage
from wfdoctor.config import user_config_dir
from wfdoctor.config.facts import Facts, load_facts
from wfdoctor.config.rules import RuleBook, load_rulebook
from wfdoctor.measure.snapshot import Snapshot, default_paths, take_snapshot
from wfdoctor.model import Finding, RuleResult, Run, WfdoctorError
from wfdoctor.sense.backends.base import BackendStatus
from wfdoctor.sense.backends.discovery import backend_samples, discover
from wfdoctor.sense.backends.embedded import EmbeddedServer, smollm2_model_path
from wfdoctor.store.db import Store


@dataclass
class DiagnoseOptions:
    window_s: float = 2.0
    backend_urls: list[str] = field(default_factory=list)
    embedded: bool = True
    facts_path: Path | None = None
    rules_paths: list[Path] = field(default_factory=list)
    top: int = 5
    discovery_timeout_s: float = 1.0


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


def load_data_files(options: DiagnoseOptions) -> tuple[Facts, RuleBook]:
    """Facts and rules in force: packaged, then the user's config dir, then options."""
    user_dir = user_config_dir()
    facts_path = options.facts_path
    if facts_path is None and (user_dir / "facts.yaml").is_file():
        facts_path = user_dir / "facts.yaml"
    facts = load_facts(facts_path)
    extra = ([user_dir / "rules"] if (user_dir / "rules").is_dir() else []) + options.rules_paths
    rulebook = load_rulebook(extra)
    check_references(rulebook, facts)
    return facts, rulebook


def _probe_embedded(report: Callable[[str], None]) -> BackendStatus:
    """Start the embedded SmolLM2 server, probe it like any server, stop it."""
    report("no LLM server answered: starting the embedded SmolLM2 engine")
    with EmbeddedServer() as server:
        status = asyncio.run(discover([server.base_url]))[0]
    status.embedded = True
    status.detail = (f"embedded llama-cpp-python server with {smollm2_model_path().name}, "
                     f"started in {server.startup_seconds:.1f} s and stopped after the probe")
    return status


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
    facts, rulebook = load_data_files(options)
    run = Run(command="diagnose", started_at=time.time(), settings={
        "window_s": options.window_s, "backends": options.backend_urls, "embedded": options.embedded,
        "facts": str(options.facts_path or ""), "rules": [str(p) for p in options.rules_paths],
    })
    store.begin_run(run)
    try:
        return _measure_and_judge(run, options, store, facts, rulebook, report)
    except KeyboardInterrupt:
        store.finish_run(run, status="interrupted")  # the samples saved so far stay
        raise


def _measure_and_judge(run: Run, options: DiagnoseOptions, store: Store, facts: Facts, rulebook: RuleBook,
                       report: Callable[[str], None]) -> Diagnosis:
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
                backends.append(_probe_embedded(report))
                notes.append("no LLM server answered: the embedded SmolLM2 engine stood in as the backend")
            except WfdoctorError as exc:
                notes.append(f"no LLM server answered and the embedded engine could not start: {exc}")
    server_samples = backend_samples(backends)
    store.add_samples(run_id, server_samples)
    samples = snapshot.samples + server_samples
    tier = classify_tier(samples, facts)
    results = triage(samples, rulebook, facts, tier.tier)
    findings = findings_of(results)
    run.samples, run.findings, run.tier = samples, findings, tier.tier
    run.environment = snapshot.environment
    store.add_findings(run_id, findings)
    store.finish_run(run)
    return Diagnosis(run, snapshot, tier, results, findings, backends, rulebook, facts, notes + tier.notes)
