"""`tokens --capacity`: how many concurrent streams this machine serves within the tier's targets.

The search (analyze/capacity.py) names each concurrency to measure from the
verdicts so far; every level is an ordinary closed-loop `tokens` level
(`measure/tokens.run_workload`, the same request metrics), judged as soon as it
ends so the next one can be chosen. Each stream sends at least
`limits.capacity.rounds` measured requests, so a level's percentiles see the
queue its streams build, not only the first wave. The run is stored as a
`tokens` run with `capacity: true` in its settings; its findings are judged on
the levels the answer rests on (those within capacity), so a search that
pushes the server past its limit, as it must, is not itself a failure.
"""

from __future__ import annotations

import time
from contextlib import ExitStack
from dataclasses import dataclass, field

from wfdoctor.analyze.capacity import LevelVerdict, Slo, conclude, judge_level, next_level
from wfdoctor.analyze.failures import request_failures, token_attempts
from wfdoctor.analyze.server_view import counted_waiting, server_level
from wfdoctor.analyze.tiers import TierVerdict, classify_tier
from wfdoctor.analyze.tokens import (
    LevelSummary,
    RequestMetrics,
    level_metrics,
    request_samples,
    summarize_level,
    summary_samples,
)
from wfdoctor.app.backends import ChosenBackend, choose_backend
from wfdoctor.app.datafiles import DataFiles, load_data_files
from wfdoctor.app.judge import judge, record
from wfdoctor.app.progress import SILENT, Progress
from wfdoctor.app.reports.capacity import CapacityReport
from wfdoctor.app.tokens import MAX_CONCURRENCY, TokensOptions, prompt_of
from wfdoctor.config.limits import Limits
from wfdoctor.config.rules import Circumstances
from wfdoctor.measure.loop import run_measured
from wfdoctor.measure.snapshot import environment_fingerprint
from wfdoctor.measure.tokens import LevelRun, Workload, run_workload
from wfdoctor.model import Run, Sample, WfdoctorError
from wfdoctor.sense.backends.base import GenerationRequest
from wfdoctor.sense.backends.client import connect
from wfdoctor.sense.backends.streaming import client_name
from wfdoctor.sense.gpu_nvml import probe_gpus
from wfdoctor.sense.system import SystemProbe
from wfdoctor.store.db import Store

SOURCE = "wfdoctor tokens --capacity (client-measured)"


@dataclass(frozen=True)
class CapacityOptions:
    """The token options (model, prompt, max tokens, runs per level, warm-up, timeout, ...) and the search's ceiling.

    `tokens.concurrency`, `arrival` and `rate_per_s` are not used: the search chooses the levels, closed-loop.
    """

    tokens: TokensOptions = field(default_factory=TokensOptions)
    max_concurrency: int | None = None   # None: the facts' limits.capacity.ceiling

    def __post_init__(self) -> None:
        if self.max_concurrency is not None and not 1 <= self.max_concurrency <= MAX_CONCURRENCY:
            raise WfdoctorError(f"max concurrency must be between 1 and {MAX_CONCURRENCY}: {self.max_concurrency}")


@dataclass(frozen=True)
class Search:
    """What one search works with: the server, the request, the tier and its targets, the limits, the ceiling."""

    chosen: ChosenBackend
    options: TokensOptions
    request: GenerationRequest
    data: DataFiles
    tier: TierVerdict
    gpu_found: bool
    slo: Slo
    limits: Limits
    ceiling: int


@dataclass
class Measured:
    """What the search measured so far (kept when Ctrl-C stops it)."""

    implementation: str = ""
    model: str = ""
    slots: int | None = None  # what the server says it generates at once (llama.cpp's /props)
    levels: list[LevelRun] = field(default_factory=list)
    judged: int = 0          # the levels that ran to their end and were judged (an interrupted one did not)


@dataclass(frozen=True)
class Judged:
    """One measured level: its requests, their summary, and its verdict against the targets."""

    requests: list[RequestMetrics]
    summary: LevelSummary
    verdict: LevelVerdict


def _judged(level: LevelRun, search: Search) -> Judged:
    requests = level_metrics(level, search.limits.tokens.stall_s)
    summary = summarize_level(level.concurrency, requests)
    view = server_level(level.concurrency, level.server_before, level.server_after, level.server_during)
    return Judged(requests, summary, judge_level(level.concurrency, requests, summary.wall_s, search.slo,
                                                 search.limits.capacity, view.waiting if view else None))


def _said(verdict: LevelVerdict) -> str:
    """A level's verdict in one progress line."""
    ttft = "no TTFT" if verdict.ttft_s is None else f"TTFT {verdict.ttft_s:.2f} s"
    decode = "no decode rate" if verdict.decode_tps is None else f"decode {verdict.decode_tps:.1f} tokens/s"
    numbers = (f"{ttft}, {decode}, {verdict.failed} of {verdict.requests} failed, goodput "
               f"{verdict.goodput_rps or 0.0:.2f} requests/s")
    if verdict.server_waiting:
        numbers += f", {counted_waiting(verdict.server_waiting)}"
    outcome = "meets the targets" if verdict.passed else f"limited by {' and '.join(verdict.misses)}"
    return f"concurrency {verdict.concurrency}: {outcome} ({numbers})"


async def _search(search: Search, measured: Measured, progress: Progress) -> None:
    options = search.options
    backend = await connect(search.chosen.url, options.model, options.timeout_s, search.ceiling,
                            client=options.client)
    measured.implementation, measured.model = backend.implementation, backend.model
    measured.slots = backend.status.slots
    capacity = search.limits.capacity
    try:
        progress.note(f"capacity search on {backend.implementation} at {search.chosen.url}, model {backend.model}: "
                      f"doubling from {capacity.start}, at most {search.ceiling} streams")
        results: dict[int, bool] = {}
        while (concurrency := next_level(results, capacity.start, search.ceiling)) is not None:
            runs = max(options.runs, capacity.rounds * concurrency)
            workload = Workload(search.request, runs=runs, warmup=options.warmup, concurrency=[concurrency])
            await run_workload(backend, workload, measured.levels,
                               lambda c, done, total=runs: progress.advance(f"concurrency {c}", done, total))
            verdict = _judged(measured.levels[-1], search).verdict
            results[concurrency] = verdict.passed
            measured.judged += 1
            progress.note(_said(verdict))
    finally:
        await backend.aclose()


def run_capacity(options: CapacityOptions, store: Store, progress: Progress = SILENT) -> CapacityReport:
    """Search, judge and record the capacity of one server."""
    tokens = options.tokens
    prompt = prompt_of(tokens)
    data = load_data_files(tokens.facts_path, tokens.rules_paths)
    gpu = probe_gpus()
    tier = classify_tier(SystemProbe().read() + gpu.samples, data.facts)
    limits = data.facts.limits_for(tier.tier)
    ceiling = options.max_concurrency or limits.capacity.ceiling
    run = Run(command="tokens", started_at=time.time(), tier=tier.tier, settings={
        "backend": tokens.backend_url, "model": tokens.model, "prompt_chars": len(prompt),
        "max_tokens": tokens.max_tokens, "runs": tokens.runs, "warmup": tokens.warmup, "arrival": "closed",
        "api": tokens.api, "capacity": True, "max_concurrency": ceiling, "client": client_name(tokens.client),
    }, environment=environment_fingerprint())
    request = GenerationRequest(prompt=prompt, model=tokens.model or "", max_tokens=tokens.max_tokens, api=tokens.api)
    slo = Slo(tier.targets.ttft_seconds, tier.targets.decode_tokens_per_second)
    with ExitStack() as stack:
        chosen = choose_backend(tokens.backend_url, tokens.embedded, stack, progress, tokens.embedded_args)
        search = Search(chosen, tokens, request, data, tier, gpu.found, slo, limits, ceiling)
        with store.recording(run):
            measured = Measured()
            interrupted = False
            try:
                run_measured(_search(search, measured, progress))
            except KeyboardInterrupt:
                interrupted = True
            run.settings |= {"backend": chosen.url, "implementation": measured.implementation,
                             "model": measured.model, "embedded": chosen.embedded}
            if interrupted and not measured.judged:
                raise KeyboardInterrupt  # no level finished: nothing to answer or judge (a cut level proves nothing)
            return _analyse(search, measured, run, store, interrupted)


def _capacity_samples(verdicts: list[LevelVerdict], streams: int | None, model: str, tier: str) -> list[Sample]:
    """Goodput per level, and the answer (None: an interrupted search, which stores no answer)."""
    goodput = [Sample("wf_llm_goodput_requests_per_second", v.goodput_rps, "requests/s", SOURCE,
                      {"concurrency": str(v.concurrency)}) for v in verdicts if v.goodput_rps is not None]
    return goodput + ([Sample("wf_llm_capacity_streams", float(streams), "streams", SOURCE,
                              {"model": model, "tier": tier})] if streams is not None else [])


def _analyse(search: Search, measured: Measured, run: Run, store: Store, interrupted: bool) -> CapacityReport:
    data, tier = search.data, search.tier
    # Ctrl-C may stop the search inside a level: that level is unfinished and proves nothing either way.
    finished = measured.levels[:measured.judged]
    judged = [_judged(level, search) for level in finished]
    summaries = [j.summary for j in judged]
    verdicts = [j.verdict for j in judged]
    answer = conclude(verdicts, search.ceiling, measured.model, tier.tier, search.slo, search.limits.capacity,
                      search.limits.tokens, interrupted, measured.slots)
    # The levels the answer rests on: those within capacity (level 1 when not even 1 stream passes).
    every = {j.verdict.concurrency: j.requests for j in judged}
    basis = {concurrency: requests for concurrency, requests in every.items()
             if concurrency <= max(answer.streams, 1)}
    causes = request_failures(token_attempts(basis, []), "requests", measured.implementation, search.limits.tokens,
                              data.rulebook.remedies)
    basis_samples = summary_samples([s for s in summaries if s.concurrency in basis])
    findings = judge(basis_samples, data, tier.tier, "tokens", causes,
                     Circumstances(frozenset({measured.implementation}), {"gpu": search.gpu_found})).findings
    samples = (summary_samples(summaries) + request_samples(every)
               + _capacity_samples(verdicts, None if interrupted else answer.streams, measured.model, tier.tier))
    record(store, run, samples, findings, interrupted=interrupted)
    return CapacityReport(run=run, backend_url=search.chosen.url, implementation=measured.implementation,
                          model=measured.model, embedded=search.chosen.embedded, tier=tier, slo=search.slo,
                          limits=search.limits.capacity, ceiling=search.ceiling, levels=summaries, verdicts=verdicts, answer=answer, findings=findings,
                          rulebook=data.rulebook, interrupted=interrupted,
                          notes=[search.chosen.note] if search.chosen.note else [])
