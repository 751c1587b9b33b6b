"""`wfdoctor council`: run a council, measure it against its members alone, explain it.

Order: warm-up (one short request per server), the members one after another
(the measured baseline for speed-up and alpha), the council itself (everyone
at once, waiting for all), then with a quorum the same council stopping at
consensus (the time saved is measured, not estimated), and with `sweep`
councils of 1..n members for the recommended size.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from wfdoctor.analyze.council import (CouncilMetrics, SizeVerdict, baseline_of, council_metrics,
                                      council_samples, diagnose_council, recommend_size)
from wfdoctor.analyze.tiers import TierVerdict, classify_tier
from wfdoctor.analyze.triage import findings_of, triage
from wfdoctor.config.facts import Facts
from wfdoctor.config.rules import RuleBook
from wfdoctor.config.yamlfile import read_yaml
from wfdoctor.measure.agreement import AGREEMENTS, majority
from wfdoctor.measure.council import CouncilRun, MemberSpec, run_council, run_sequentially
from wfdoctor.model import Finding, Run, Sample, WfdoctorError
from wfdoctor.sense.backends.base import GenerationRequest
from wfdoctor.sense.backends.client import Backend, connect
from wfdoctor.sense.backends.discovery import discover
from wfdoctor.sense.backends.embedded import EmbeddedServer
from wfdoctor.sense.gpu_nvml import probe_gpus
from wfdoctor.sense.system import SystemProbe
from wfdoctor.store.db import Store
from wfdoctor.surface.datafiles import load_data_files
from wfdoctor.surface.tokens import DEFAULT_PROMPT

Progress = Callable[[str, str], None]


@dataclass
class CouncilOptions:
    members: list[MemberSpec] = field(default_factory=list)
    prompt: str = DEFAULT_PROMPT
    max_tokens: int = 48
    timeout_s: float | None = None      # None: the facts file's member timeout
    retries: int | None = None          # None: the facts file's retries
    quorum: int = 0
    agreement: str = "exact"
    similarity: float = 0.8
    sweep: bool = False
    facts_path: Path | None = None
    rules_paths: list[Path] = field(default_factory=list)


@dataclass
class CouncilReport:
    run: Run
    council: CouncilMetrics
    answer: str
    answer_from: list[str]
    early: CouncilMetrics | None
    saved_s: float | None
    sweep: list[CouncilMetrics]
    size: SizeVerdict | None
    findings: list[Finding]
    tier: TierVerdict
    rulebook: RuleBook
    implementation_of: dict[str, str]
    notes: list[str]


def parse_member(text: str, index: int) -> MemberSpec:
    """`URL[#MODEL]` as given on the command line."""
    url, _, model = text.partition("#")
    if not url.startswith(("http://", "https://")) and url != "embedded":
        raise WfdoctorError(f"--member '{text}': expected URL[#MODEL], e.g. http://127.0.0.1:11434#llama3.1:8b")
    return MemberSpec(name=f"m{index + 1}", url=url.rstrip("/"), model=model or None)


def members_from_file(path: Path) -> list[MemberSpec]:
    """A YAML list of {url, model?, name?}."""
    data, _ = read_yaml(path)
    if not isinstance(data, list) or not data:
        raise WfdoctorError(f"{path}:1: a members file is a non-empty list of {{url, model, name}}")
    members = []
    for index, entry in enumerate(data):
        if not isinstance(entry, dict) or "url" not in entry:
            raise WfdoctorError(f"{path}: entry {index + 1}: each member needs a 'url'")
        spec = parse_member(f"{entry['url']}#{entry.get('model') or ''}", index)
        members.append(MemberSpec(str(entry.get("name", spec.name)), spec.url, spec.model))
    return members


async def _default_members(stack: ExitStack, report: Callable[[str], None]) -> list[MemberSpec]:
    answering = [s for s in await discover() if s.answered]
    if answering:
        url = answering[0].url
    else:
        report("no LLM server answered: starting the embedded SmolLM2 engine (interrupts off, so members queue)")
        url = stack.enter_context(EmbeddedServer(extra_args=["--interrupt_requests", "False"])).base_url
    return [MemberSpec(f"m{i + 1}", url) for i in range(3)]


async def _measure(options: CouncilOptions, timeout_s: float, retries: int,
                   progress: Progress) -> dict[str, Any]:
    members = options.members
    backends: list[Backend] = []
    try:
        for spec in members:
            backends.append(await connect(spec.url, spec.model, max(timeout_s, 30.0), 4))
        request = GenerationRequest(options.prompt, max_tokens=options.max_tokens)
        for backend in {b.url: b for b in backends}.values():  # warm-up, one per server
            await backend.stream(GenerationRequest(options.prompt, max_tokens=4))
        sequential = await run_sequentially(members, backends, request, timeout_s, retries)
        council = await run_council(members, backends, request, timeout_s, retries, progress=progress)
        sweep = []
        if options.sweep:
            for size in range(1, len(members) + 1):
                sweep.append((size, await run_council(members[:size], backends[:size], request, timeout_s,
                                                      retries)))
        # Last: members cancelled at consensus may keep their server busy for a while.
        agree = AGREEMENTS[options.agreement](options.similarity)
        early = None
        if options.quorum:
            early = await run_council(members, backends, request, timeout_s, retries, agree, options.quorum,
                                      progress)
        return {"sequential": sequential, "council": council, "early": early, "sweep": sweep, "agree": agree,
                "implementation_of": {b.url: b.implementation for b in backends}}
    finally:
        for backend in backends:
            await backend.aclose()


def run_council_command(options: CouncilOptions, store: Store, report: Callable[[str], None] = lambda _: None,
                        progress: Progress = lambda name, event: None) -> CouncilReport:
    facts, rulebook = load_data_files(options.facts_path, options.rules_paths)
    timeout_s = options.timeout_s or float(facts.common.get("council_member_timeout_ms", 5000)) / 1000
    retries = options.retries if options.retries is not None else int(facts.common.get("council_retries", 3))
    tier = classify_tier(SystemProbe().read() + probe_gpus().samples, facts)
    with ExitStack() as stack:
        if not options.members:
            options.members = asyncio.run(_default_members(stack, report))
        run = Run(command="council", started_at=time.time(), tier=tier.tier, settings={
            "members": [m.__dict__ for m in options.members], "timeout_s": timeout_s, "retries": retries,
            "quorum": options.quorum, "agreement": options.agreement, "max_tokens": options.max_tokens,
        })
        with store.recording(run):
            measured = asyncio.run(_measure(options, timeout_s, retries, progress))
            return _analyse(run, measured, options, store, facts, rulebook, tier)


def _analyse(run: Run, measured: dict[str, Any], options: CouncilOptions, store: Store, facts: Facts,
             rulebook: RuleBook, tier: TierVerdict) -> CouncilReport:
    sequential: CouncilRun = measured["sequential"]
    metrics = council_metrics(measured["council"], baseline_of(sequential, len(options.members)))
    early = council_metrics(measured["early"]) if measured["early"] else None
    sweep = [council_metrics(c, baseline_of(sequential, size)) for size, c in measured["sweep"]]
    size = recommend_size(sweep, tier.targets.ttft_seconds, tier.targets.decode_tokens_per_second,
                          tier.targets.council_size) if sweep else None
    answers = {member.spec.name: member.answer.text for member in measured["council"].members
               if member.answer is not None}
    combined = majority(answers, measured["agree"])
    samples = council_samples(metrics) + [s for m in sweep for s in council_samples(m) if m.n != metrics.n]
    saved = metrics.wall_s - early.wall_s if early else None
    if saved is not None:
        samples.append(Sample("wf_council_consensus_saved_seconds", saved, "s", "wfdoctor council (measured: "
                              "wait-for-all wall - early-consensus wall)", {"quorum": str(options.quorum)}))
    findings = diagnose_council(metrics, measured["implementation_of"], limits=facts.limits_for(tier.tier).council,
                                sync_delay_warning_s=float(facts.common["council_sync_delay_ms"]["warning"]) / 1000,
                                remedies=rulebook.remedies)
    findings += findings_of(triage(samples, rulebook, facts, tier.tier, command="council"))
    findings.sort(key=lambda f: f.priority.rank)
    run.samples, run.findings = samples, findings
    store.add_samples(run.id or 0, samples)
    store.add_findings(run.id or 0, findings)
    notes = [] if combined else ["no member answered: no combined answer"]
    return CouncilReport(run, metrics, answers.get(combined[0], "") if combined else "",
                         combined[1] if combined else [], early, saved, sweep, size, findings, tier, rulebook,
                         measured["implementation_of"], notes)
