"""`council`: run a council, measure it against its members alone, explain it.

Order: warm-up (one short request per server), the members one after another
(the measured baseline for speed-up and alpha), the council itself (everyone
at once, waiting for all), with `sweep` councils of the sizes the capacity
search asks for (analyze/capacity.py: 1, 2, 4, ... up to n, then bisection) for
the recommended size, then with a quorum the same council stopping at consensus
(the time saved is measured, not estimated).
"""

from __future__ import annotations

import time
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path

from wfdoctor.analyze.capacity import next_level
from wfdoctor.analyze.council import (baseline_of, council_metrics, council_samples, diagnose_council, recommend_size,
                                      size_meets)
from wfdoctor.analyze.failures import council_failures
from wfdoctor.analyze.tiers import TierVerdict, classify_tier
from wfdoctor.app.backends import QUEUED_MEMBERS, choose_backend
from wfdoctor.app.datafiles import DataFiles, load_data_files
from wfdoctor.app.judge import judge, record
from wfdoctor.app.progress import SILENT, Progress
from wfdoctor.app.reports.council import CouncilReport
from wfdoctor.config.facts import Targets
from wfdoctor.config.rules import Circumstances
from wfdoctor.config.yamlfile import read_yaml
from wfdoctor.measure.agreement import AGREEMENTS, Agreement, majority
from wfdoctor.measure.council import CouncilRun, MemberSpec, Unreachable, run_council, run_sequentially, warm_up
from wfdoctor.measure.loop import run_measured
from wfdoctor.measure.snapshot import environment_fingerprint
from wfdoctor.measure.tokens import DEFAULT_PROMPT
from wfdoctor.model import Run, Sample, WfdoctorError
from wfdoctor.sense.backends.base import GenerationRequest
from wfdoctor.sense.backends.client import Backend, connect
from wfdoctor.sense.backends.discovery import checked_url
from wfdoctor.sense.backends.registry import speaking
from wfdoctor.sense.backends.streaming import client_name
from wfdoctor.sense.gpu_nvml import probe_gpus
from wfdoctor.sense.system import SystemProbe
from wfdoctor.store.db import Store

DEFAULT_MEMBERS = 3


@dataclass(frozen=True)
class CouncilOptions:
    members: list[MemberSpec | str] = field(default_factory=list)  # specs or "URL[#MODEL]"; none: 3 members on
    members_file: Path | None = None                                # the first server that answers
    prompt: str | None = None           # None: a short question
    max_tokens: int = 48
    timeout_s: float | None = None      # None: the facts file's member timeout
    retries: int | None = None          # None: the facts file's retries
    quorum: int = 0
    agreement: str = "exact"            # exact or tokenset
    similarity: float = 0.8
    sweep: bool = False
    facts_path: Path | None = None
    rules_paths: list[Path] = field(default_factory=list)
    client: str | None = None           # the stream reader: lean or aiohttp (None: $WFDOCTOR_CLIENT, else lean)

    def __post_init__(self) -> None:
        """Usage errors surface when the options are made, before anything is opened or measured."""
        client_name(self.client)
        if self.agreement not in AGREEMENTS:
            raise WfdoctorError(f"agreement must be one of {', '.join(AGREEMENTS)}, not '{self.agreement}'")
        if self.quorum < 0 or self.max_tokens < 1 or (self.retries is not None and self.retries < 0):
            raise WfdoctorError("quorum and retries must be at least 0, max tokens at least 1")
        if self.quorum and self.members and not self.members_file and self.quorum > len(self.members):
            raise WfdoctorError(f"quorum {self.quorum} exceeds the {len(self.members)} members")


@dataclass(frozen=True)
class CouncilMeasurement:
    sequential: CouncilRun              # the members one after another: the baseline
    council: CouncilRun
    early: CouncilRun | None            # with a quorum: stopped at consensus
    sweep: list[tuple[int, CouncilRun]]
    agree: Agreement
    implementation_of: dict[str, str]


def parse_member(text: str, index: int, option: str = "--member") -> MemberSpec:
    """`URL[#MODEL]` as given on the command line (`option`: the one that gave it, named in the error)."""
    url, _, model = text.partition("#")
    if not speaking(url):  # a URL no registered backend speaks (also "localhost:8080": no scheme)
        raise WfdoctorError(f"{option} '{text}': expected URL[#MODEL] of a server a backend speaks, e.g. "
                            "http://127.0.0.1:11434#llama3.1:8b")
    return MemberSpec(name=f"m{index + 1}", url=checked_url(url), model=model or None)


def members_from_file(path: Path, first: int = 0) -> list[MemberSpec]:
    """A YAML list of {url, model?, name?}; unnamed members are numbered on from `first`."""
    data, _ = read_yaml(path)
    if not isinstance(data, list) or not data:
        raise WfdoctorError(f"{path}:1: a members file is a non-empty list of {{url, model, name}}")
    members = []
    for index, entry in enumerate(data):
        if not isinstance(entry, dict) or "url" not in entry:
            raise WfdoctorError(f"{path}: entry {index + 1}: each member needs a 'url'")
        spec = parse_member(f"{entry['url']}#{entry.get('model') or ''}", first + index)
        members.append(MemberSpec(str(entry.get("name", spec.name)), spec.url, spec.model))
    return members


def members_of(options: CouncilOptions) -> list[MemberSpec]:
    """The members named in the options (as specs, `URL[#MODEL]` texts, or a members file), checked."""
    members = [m if isinstance(m, MemberSpec) else parse_member(m, index) for index, m in enumerate(options.members)]
    if options.members_file is not None:
        members += members_from_file(options.members_file, first=len(members))
    if options.quorum and members and options.quorum > len(members):
        raise WfdoctorError(f"quorum {options.quorum} exceeds the {len(members)} members")
    return members


async def _sweep(members: list[MemberSpec], backends: list[Backend], request: GenerationRequest, timeout_s: float,
                 retries: int, targets: Targets) -> list[tuple[int, CouncilRun]]:
    """Councils of the sizes the capacity search asks for (analyze/capacity.py), up to every member given.

    Doubling then bisection: a council of n members is measured only when the sizes
    measured so far leave its verdict open.
    """
    sweep: list[tuple[int, CouncilRun]] = []
    results: dict[int, bool] = {}
    while (size := next_level(results, 1, len(members))) is not None:
        run = await run_council(members[:size], backends[:size], request, timeout_s, retries)
        results[size] = size_meets(council_metrics(run), targets.ttft_seconds, targets.decode_tokens_per_second)[0]
        sweep.append((size, run))
    return sweep


async def _measure(members: list[MemberSpec], options: CouncilOptions, timeout_s: float, retries: int,
                   progress: Progress, targets: Targets | None) -> CouncilMeasurement:
    backends: list[Backend] = []
    unreachable: list[tuple[str, WfdoctorError]] = []
    report = progress.note

    def member_event(name: str, event: str) -> None:
        report(f"  {name}: {event}")

    try:
        for spec in members:
            # A member's answer may take longer than its first token (the member timeout): each
            # request's own deadline stays longer; probing the server is held to the member timeout.
            # A member whose server does not answer the probe fails; the others still meet.
            try:
                backends.append(await connect(spec.url, spec.model, max(timeout_s, 30.0), 4,
                                              probe_timeout_s=timeout_s, client=options.client))
            except WfdoctorError as exc:
                unreachable.append((spec.name, exc))
                backends.append(Unreachable(spec.url, f"no answer to the probe within {timeout_s:g} s "
                                            f"(timeout): {exc}"))
        if unreachable and len(unreachable) == len(members):
            raise unreachable[0][1]  # no server to measure: a one-line error, exit 2
        for name, exc in unreachable:
            report(f"  {name}: {exc}")
        prompt = options.prompt or DEFAULT_PROMPT
        request = GenerationRequest(prompt, max_tokens=options.max_tokens)
        for url, error in (await warm_up(backends, GenerationRequest(prompt, max_tokens=4), timeout_s)).items():
            report(f"  warm-up of {url} failed: {error}")
        sequential = await run_sequentially(members, backends, request, timeout_s, retries)
        council = await run_council(members, backends, request, timeout_s, retries, progress=member_event)
        sweep = await _sweep(members, backends, request, timeout_s, retries, targets) if targets else []
        # Last: members cancelled at consensus may keep their server busy for a while.
        agree = AGREEMENTS[options.agreement](options.similarity)
        early = None
        if options.quorum:
            early = await run_council(members, backends, request, timeout_s, retries, agree, options.quorum,
                                      member_event)
        return CouncilMeasurement(sequential=sequential, council=council, early=early, sweep=sweep, agree=agree,
                                  implementation_of={b.url: b.implementation for b in backends})
    finally:
        for backend in backends:
            await backend.aclose()


def run_council_command(options: CouncilOptions, store: Store, progress: Progress = SILENT) -> CouncilReport:
    """Measure, judge and record one council."""
    members = members_of(options)
    data = load_data_files(options.facts_path, options.rules_paths)
    timeout_s = options.timeout_s or float(data.facts.common["council_member_timeout_ms"]) / 1000
    retries = options.retries if options.retries is not None else int(data.facts.common["council_retries"])
    gpu = probe_gpus()
    tier = classify_tier(SystemProbe().read() + gpu.samples, data.facts)
    with ExitStack() as stack:
        notes: list[str] = []
        if not members:
            chosen = choose_backend(None, True, stack, progress, ["--interrupt_requests", "False"], QUEUED_MEMBERS)
            members = [MemberSpec(f"m{i + 1}", chosen.url) for i in range(DEFAULT_MEMBERS)]
            notes += [chosen.note] if chosen.note else []
        run = Run(command="council", started_at=time.time(), tier=tier.tier, settings={
            "members": [m.__dict__ for m in members], "timeout_s": timeout_s, "retries": retries,
            "quorum": options.quorum, "agreement": options.agreement, "max_tokens": options.max_tokens,
            "client": client_name(options.client),
        }, environment=environment_fingerprint())  # so `compare` can say when two runs measured other machines
        with store.recording(run):
            measured = run_measured(_measure(members, options, timeout_s, retries, progress,
                                            tier.targets if options.sweep else None))
            return _analyse(run, measured, options.quorum, len(members), store, data, tier, notes, gpu.found)


def _analyse(run: Run, measured: CouncilMeasurement, quorum: int, size: int, store: Store, data: DataFiles,
             tier: TierVerdict, notes: list[str], gpu_found: bool) -> CouncilReport:
    metrics = council_metrics(measured.council, baseline_of(measured.sequential, size))
    early = council_metrics(measured.early) if measured.early else None
    sweep = [council_metrics(c, baseline_of(measured.sequential, n)) for n, c in measured.sweep]
    recommended = recommend_size(sweep, tier.targets.ttft_seconds, tier.targets.decode_tokens_per_second,
                                 tier.targets.council_size) if sweep else None
    answers = {member.spec.name: member.answer.text for member in measured.council.members
               if member.answer is not None}
    combined = majority(answers, measured.agree)
    samples = council_samples(metrics) + [s for m in sweep for s in council_samples(m) if m.n != metrics.n]
    saved = metrics.wall_s - early.wall_s if early else None
    if saved is not None:
        samples.append(Sample("wf_council_consensus_saved_seconds", saved, "s", "wfdoctor council (measured: "
                              "wait-for-all wall - early-consensus wall)", {"quorum": str(quorum)}))
    causes = diagnose_council(metrics, measured.implementation_of, limits=data.facts.limits_for(tier.tier).council,
                              sync_delay_warning_s=float(data.facts.common["council_sync_delay_ms"]["warning"]) / 1000,
                              remedies=data.rulebook.remedies)
    causes += council_failures(metrics, measured.implementation_of, data.rulebook.remedies)
    findings = judge(samples, data, tier.tier, "council", causes, Circumstances(
        frozenset(measured.implementation_of.values()), {"gpu": gpu_found})).findings
    record(store, run, samples, findings)
    notes = notes + ([] if combined else ["no member answered: no combined answer"])
    return CouncilReport(run=run, council=metrics, answer=answers.get(combined[0], "") if combined else "",
                         answer_from=combined[1] if combined else [], quorum=quorum, early=early, saved_s=saved,
                         sweep=sweep, size=recommended, findings=findings, tier=tier, rulebook=data.rulebook,
                         implementation_of=measured.implementation_of, notes=notes)
