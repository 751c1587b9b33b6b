"""`tokens`: measure token generation, explain it, record it.

Order: data files are checked; the backend is found (the named URL, else
discovery, else the embedded SmolLM2 server); the workload runs with the system
sampled alongside; then the analysis (metrics, knee, causes, roofline, triage
rules) and the store. Ctrl-C stops the workload and keeps what finished.
"""

from __future__ import annotations

import os
import time
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlparse

from wfdoctor.analyze.bottleneck import LevelSystem, ServerFacts, busy_threads, classify, model_resident
from wfdoctor.analyze.failures import check_failed, request_failures, token_attempts
from wfdoctor.analyze.roofline import Roofline, roofline
from wfdoctor.analyze.server_view import ServerLevel, server_level, view_samples, with_server_view
from wfdoctor.analyze.tiers import classify_tier
from wfdoctor.analyze.tokens import (LevelSummary, find_knee, level_metrics, request_samples, summarize_level,
                                     summary_samples)
from wfdoctor.app.backends import ChosenBackend, choose_backend
from wfdoctor.app.datafiles import DataFiles, load_data_files
from wfdoctor.app.judge import judge, record
from wfdoctor.app.progress import SILENT, Progress
from wfdoctor.config.limits import TokenLimits
from wfdoctor.config.rules import Circumstances
from wfdoctor.config.textfile import read_text
from wfdoctor.app.reports.tokens import TokensReport
from wfdoctor.config.remedies import Remedies
from wfdoctor.measure.bandwidth import Bandwidth, cpu_read_bandwidth, gpu_bandwidth
from wfdoctor.measure.loop import run_measured
from wfdoctor.measure.snapshot import environment_fingerprint
from wfdoctor.measure.tokens import DEFAULT_PROMPT, LevelRun, Workload, run_workload, synthetic_prompt
from wfdoctor.model import Finding, Run, Sample, WfdoctorError
from wfdoctor.sense.backends.base import GenerationRequest
from wfdoctor.sense.backends.client import Backend, connect
from wfdoctor.sense.backends.discovery import checked_url
from wfdoctor.sense.backends.streaming import client_name
from wfdoctor.sense.gpu_nvml import GpuReport, probe_gpus
from wfdoctor.sense.gguf import weight_bits
from wfdoctor.sense.processes import model_file_of, pid_listening_on, thread_cpu_seconds
from wfdoctor.sense.system import SystemProbe
from wfdoctor.store.db import Store

LOOPBACK_HOSTS = {"127.0.0.1", "localhost", "::1"}
ARRIVALS = ("closed", "poisson")
APIS = ("chat", "completion")
MAX_CONCURRENCY = 1024


@dataclass(frozen=True)
class TokensOptions:
    backend_url: str | None = None
    model: str | None = None
    prompt: str | None = None            # at most one of prompt, prompt_file, prompt_tokens; none: a short question
    prompt_file: Path | None = None
    prompt_tokens: int | None = None     # a synthetic prompt of about this many tokens
    max_tokens: int = 64
    runs: int = 10
    warmup: int = 1
    concurrency: list[int] = field(default_factory=lambda: [1])
    arrival: str = "closed"              # closed or poisson
    rate_per_s: float = 1.0
    api: str = "chat"                    # chat or completion
    timeout_s: float = 60.0
    model_file: Path | None = None
    embedded: bool = True
    embedded_args: list[str] = field(default_factory=list)
    measure_bandwidth: bool = True
    facts_path: Path | None = None
    rules_paths: list[Path] = field(default_factory=list)
    canary: bool = False                 # the monitor's canary: its dashboard charts it as measured, not from the store
    client: str | None = None            # the stream reader: lean or aiohttp (None: $WFDOCTOR_CLIENT, else lean)

    def __post_init__(self) -> None:
        """Usage errors surface when the options are made, before anything is opened or measured."""
        if self.backend_url:
            checked_url(self.backend_url)
        if self.arrival not in ARRIVALS:
            raise WfdoctorError(f"arrival must be closed or poisson, not '{self.arrival}'")
        if self.api not in APIS:
            raise WfdoctorError(f"api must be chat or completion, not '{self.api}'")
        if not self.concurrency or any(not 1 <= level <= MAX_CONCURRENCY for level in self.concurrency):
            raise WfdoctorError(f"concurrency levels must be between 1 and {MAX_CONCURRENCY}: {self.concurrency}")
        client_name(self.client)
        if sum(x is not None for x in (self.prompt, self.prompt_file, self.prompt_tokens)) > 1:
            raise WfdoctorError("give one of prompt, prompt file or prompt tokens")
        if self.runs < 1 or self.warmup < 0 or self.max_tokens < 1 or self.timeout_s <= 0 or self.rate_per_s <= 0:
            raise WfdoctorError("runs and max tokens must be at least 1, warm-up at least 0, timeout and rate "
                                "above 0")


def prompt_of(options: TokensOptions) -> str:
    """The prompt text the options ask for; an unreadable prompt file is a one-line error."""
    if options.prompt_tokens is not None:
        return synthetic_prompt(options.prompt_tokens)
    if options.prompt_file is not None:
        return read_text(options.prompt_file, "prompt file")
    return options.prompt or DEFAULT_PROMPT


@dataclass(frozen=True)
class TokenCheck:
    """What diagnose's short token check measured, and the finding a failed check is (never a silent pass)."""

    samples: list[Sample]
    findings: list[Finding]


def quick_token_check(url: str, runs: int, timeout_s: float, limits: TokenLimits, remedies: Remedies,
                      progress: Progress) -> TokenCheck:
    """A short `tokens` run (1 warm-up, `runs` requests, 32 tokens) whose summary feeds diagnose's token rules.

    Each request may wait `timeout_s` without data. A check that cannot start, or
    whose requests fail, comes back as a finding beside whatever it did measure.
    """
    progress.note(f"short token check against {url}")

    async def check() -> tuple[str, list[LevelRun]]:
        backend = await connect(url, None, timeout_s=timeout_s, max_streams=1)
        levels: list[LevelRun] = []
        try:
            await run_workload(backend, Workload(GenerationRequest(DEFAULT_PROMPT, max_tokens=32), runs=runs,
                                                 read_gauges=False), levels)  # no readings while it streams
        finally:
            await backend.aclose()
        return backend.implementation, levels

    try:
        implementation, levels = run_measured(check())
    except WfdoctorError as exc:
        return TokenCheck([], [check_failed(url, str(exc), remedies)])
    requests = {lv.concurrency: level_metrics(lv, limits.stall_s) for lv in levels}
    summaries = [summarize_level(c, metrics) for c, metrics in requests.items()]
    samples = [Sample(s.metric, s.value, s.unit, s.source, s.labels | {"check": "diagnose"}, s.ts)
               for s in summary_samples(summaries)]
    return TokenCheck(samples, request_failures(token_attempts(requests, []), "token-check requests",
                                                implementation, limits, remedies))


def _local_pid(url: str) -> int | None:
    """The process serving a loopback URL (None for a remote server or one we may not see)."""
    parsed = urlparse(url)
    return pid_listening_on(parsed.port) if parsed.hostname in LOOPBACK_HOSTS and parsed.port else None


def server_facts(backend: Backend, threads: tuple[dict[int, float], dict[int, float]] | None = None,
                 limits: TokenLimits | None = None, pid: int | None = None) -> ServerFacts:
    """What is known about the measured server beside its timings: its process (`pid`: the one found listening
    before the run, which a server that died during it no longer shows), model size and file, and (with per-thread
    CPU readings before and after the run) how many of its threads did the work."""
    pid = backend.server_pid or pid or _local_pid(backend.url)
    model = next((m for m in backend.status.models if m.name == backend.model), None)
    return ServerFacts(url=backend.url, implementation=backend.implementation, model=backend.model, pid=pid,
                       model_size_bytes=model.size_bytes if model and model.loaded else None,
                       model_vram_bytes=model.vram_bytes if model and model.loaded else None,
                       model_file=backend.model_file or (model_file_of(pid) if pid else None),
                       slots=backend.status.slots,
                       busy_threads=busy_threads(*threads, limits) if threads and limits else None)


def _model_path(model_file: Path | None, facts: ServerFacts, levels: list[LevelRun]) -> Path | None:
    """The model's file: a named file, the path the server's command line or its answers report."""
    candidates = [model_file] if model_file else []
    candidates += [Path(facts.model_file)] if facts.model_file else []
    candidates += [Path(t.reported_model) for lv in levels for t in lv.traces[:1] if t.reported_model]
    return next((path for path in candidates if path.is_file()), None)


def _model_bytes(path: Path | None, facts: ServerFacts) -> tuple[int | None, str]:
    """The model's weight bytes: its file's size, else Ollama's size."""
    if path is not None:
        return path.stat().st_size, f"file {path.name}"
    if facts.model_size_bytes:
        return facts.model_size_bytes, "server-reported model size (includes the KV cache)"
    return None, ""


def circumstances(facts: ServerFacts, gpu: GpuReport, model_path: Path | None, limits: TokenLimits) -> Circumstances:
    """What decides which actions fit: the server's implementation, a GPU, and a model already at few bits."""
    known = {"gpu": gpu.found}
    bits = weight_bits(model_path) if model_path is not None else None
    if bits is not None:
        known["low_bit_model"] = bits <= limits.low_bit_weights
    return Circumstances(frozenset({facts.implementation}), known)


def _roofline(decode_tps: float | None, model: tuple[int | None, str], gpu: GpuReport, facts: ServerFacts,
              measure_cpu: bool, limits: TokenLimits) -> tuple[Roofline | None, str]:
    """Decode speed against the memory-bandwidth limit of wherever the model sits."""
    model_bytes, model_source = model
    if decode_tps is None:
        return None, "no decode rate measured"
    if model_bytes is None:
        return None, "model size unknown: name the model file with --model-file"
    on_gpu = gpu.found and model_resident(facts, limits)
    bandwidth: Bandwidth | None = gpu_bandwidth(gpu.gpus[0]) if on_gpu else None
    if bandwidth is None:
        if not measure_cpu:
            return None, "bandwidth not measured (--no-bandwidth)"
        bandwidth = cpu_read_bandwidth()
    limit = roofline(decode_tps, model_bytes, bandwidth.bytes_per_second, f"{bandwidth.source}, {bandwidth.detail}")
    return limit, f"model bytes from {model_source}"


def run_tokens(options: TokensOptions, store: Store, progress: Progress = SILENT) -> TokensReport:
    """Measure, analyse and record one token run."""
    prompt = prompt_of(options)
    data = load_data_files(options.facts_path, options.rules_paths)
    run = Run(command="tokens", started_at=time.time(), settings={
        "backend": options.backend_url, "model": options.model, "prompt_chars": len(prompt),
        "max_tokens": options.max_tokens, "runs": options.runs, "warmup": options.warmup,
        "concurrency": options.concurrency, "arrival": options.arrival, "rate_per_s": options.rate_per_s,
        "api": options.api, "canary": options.canary, "client": client_name(options.client),
    }, environment=environment_fingerprint())  # so `compare` can say when two runs measured other machines
    request = GenerationRequest(prompt=prompt, model=options.model or "", max_tokens=options.max_tokens,
                                api=options.api)
    workload = Workload(request, runs=options.runs, warmup=options.warmup, concurrency=options.concurrency,
                        arrival=options.arrival, rate_per_s=options.rate_per_s)
    with ExitStack() as stack:  # holds the embedded server, if one is started, until the end
        chosen = choose_backend(options.backend_url, options.embedded, stack, progress, options.embedded_args)
        with store.recording(run):
            return _measure(options, workload, chosen, store, run, data, progress)


def _run_levels(url: str, options: TokensOptions, workload: Workload,
                progress: Progress) -> tuple[Backend, list[LevelRun], bool]:
    """Run the workload; on Ctrl-C keep the levels measured so far (interrupted = True)."""
    levels: list[LevelRun] = []
    known: list[Backend] = []

    async def measure() -> None:
        backend = await connect(url, options.model, options.timeout_s, max(options.concurrency),
                                client=options.client)
        known.append(backend)
        try:
            progress.note(f"measuring {backend.implementation} at {url}, model {backend.model}")
            await run_workload(backend, workload, levels,
                               lambda c, done: progress.advance(f"concurrency {c}", done, options.runs))
        finally:
            await backend.aclose()

    try:
        run_measured(measure())
    except KeyboardInterrupt:
        if not known:
            raise  # nothing measured yet
        return known[0], levels, True
    return known[0], levels, False


def _measure(options: TokensOptions, workload: Workload, chosen: ChosenBackend, store: Store, run: Run,
             data: DataFiles, progress: Progress) -> TokensReport:
    url = chosen.url
    gpu = probe_gpus()
    tier = classify_tier(SystemProbe().read() + gpu.samples, data.facts)
    pid = _local_pid(url)
    before = thread_cpu_seconds(pid) if pid else {}
    backend, levels, interrupted = _run_levels(url, options, workload, progress)
    limits = data.facts.limits_for(tier.tier).tokens
    server = server_facts(backend, (before, thread_cpu_seconds(pid)) if pid and before else None, limits, pid)
    requests = {lv.concurrency: level_metrics(lv, limits.stall_s) for lv in levels}
    summaries = [summarize_level(c, metrics) for c, metrics in requests.items()]
    knee = find_knee(summaries, limits)
    systems = [LevelSystem(level.concurrency, level.system, level.own_pids) for level in levels]
    system_samples = [Sample(s.metric, s.value, s.unit, s.source, s.labels | {"concurrency": str(lv.concurrency)},
                             s.ts) for lv in levels for s in lv.system]
    views, view_notes = _server_views(levels)
    samples = summary_samples(summaries) + request_samples(requests) + system_samples + gpu.samples + \
        view_samples(views)
    model_path = _model_path(options.model_file or chosen.model_file, server, levels)
    limit, note = (None, "interrupted") if interrupted else _roofline(
        _base_decode(summaries), _model_bytes(model_path, server), gpu, server, options.measure_bandwidth, limits)
    # With no request answered, no cause of slow generation can be named (nothing was generated):
    # the failure finding below is the verdict.
    causes = classify(summaries, knee, systems, server, os.getpid(), limits=limits,
                      ttft_target_s=tier.targets.ttft_seconds, remedies=data.rulebook.remedies,
                      roofline_share=limit.fraction if limit else None) if any(lv.ok for lv in summaries) else []
    if any(lv.ok for lv in summaries):  # the server's view adds its evidence to the causes of what it generated
        causes = with_server_view(causes, views, summaries, server.implementation, limits=limits,
                                  ttft_target_s=tier.targets.ttft_seconds, remedies=data.rulebook.remedies)
    causes += request_failures(token_attempts(requests, causes), "requests", server.implementation, limits,
                               data.rulebook.remedies)
    findings = judge(samples, data, tier.tier, "tokens", causes,
                     circumstances(server, gpu, model_path, limits)).findings
    if limit is not None:
        samples += [Sample("wf_llm_roofline_tokens_per_second", limit.limit_tps, "tokens/s", limit.bandwidth_source,
                           {"model": backend.model}),
                    Sample("wf_llm_roofline_fraction", limit.fraction, "ratio", "decode p50 / roofline",
                           {"model": backend.model})]
    run.tier = tier.tier
    run.settings |= {"backend": url, "implementation": backend.implementation, "model": backend.model,
                     "embedded": chosen.embedded}
    record(store, run, samples, findings, interrupted=interrupted)
    sources = sorted({s for lv in summaries for s in lv.token_sources})
    notes = [f"token counts from: {', '.join(sources)}"] if sources else []  # none when no request answered
    notes += [chosen.note] if chosen.note else []
    notes += view_notes
    retried = sum(lv.reconnects for lv in summaries)
    notes += [(f"the server closed {retried} reused connections; wfdoctor retried them on fresh connections "
               "(not failures: wf_llm_connection_retries)")] if retried else []
    return TokensReport(run=run, backend_url=url, implementation=backend.implementation, protocol=backend.protocol,
                        model=backend.model, embedded=chosen.embedded, levels=summaries, requests=requests, knee=knee,
                        findings=findings, roofline=limit, roofline_note=note, tier=tier, rulebook=data.rulebook,
                        interrupted=interrupted, notes=notes, server_slots=server.slots, server_view=views)


def _server_views(levels: list[LevelRun]) -> tuple[list[ServerLevel], list[str]]:
    """Each level as the server counted it, and notes on what the server did not say (or said only in part)."""
    views = [view for lv in levels
             if (view := server_level(lv.concurrency, lv.server_before, lv.server_after, lv.server_during))]
    if views:   # and what it held back (a /slots page too large to read), never a failed read's advice
        partial = dict.fromkeys(lv.server_after.note for lv in levels
                                if lv.server_after and lv.server_after.source and lv.server_after.note)
        during = sum(len(lv.server_during) for lv in levels)
        also = f", and {during} {'time' if during == 1 else 'times'} while they streamed" if during else ""
        return views, [f"the server's own view: {views[0].source}, read before and after each level{also}"] + \
            [f"the server's own view: {note}" for note in partial]
    silent = next((lv.server_after.note for lv in levels if lv.server_after and lv.server_after.note), "")
    return [], [f"the server's own view: nothing to report ({silent})"] if silent else []


def _base_decode(summaries: list[LevelSummary]) -> float | None:
    """The decode rate at the lowest concurrency: what the roofline compares."""
    base = min(summaries, key=lambda lv: lv.concurrency, default=None)
    return base.p50("decode_tps") if base else None
