"""`wfdoctor tokens`: measure token generation, explain it, record it.

Order: data files are checked; the backend is found (the named URL, else
discovery, else the embedded SmolLM2 server); the workload runs with the system
sampled alongside; then the analysis (metrics, knee, causes, roofline, triage
rules) and the store. Ctrl-C stops the workload and keeps what finished.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass, field
from itertools import zip_longest
from pathlib import Path
from urllib.parse import urlparse

from wfdoctor.analyze.bottleneck import LevelSystem, ServerFacts, classify, model_resident
from wfdoctor.analyze.roofline import Roofline, roofline
from wfdoctor.analyze.tiers import TierVerdict, classify_tier
from wfdoctor.analyze.tokens import (Knee, LevelSummary, RequestMetrics, find_knee, output_token_count,
                                     request_metrics, summarize_level)
from wfdoctor.analyze.triage import findings_of, triage
from wfdoctor.config.facts import Facts
from wfdoctor.config.limits import TokenLimits
from wfdoctor.config.rules import RuleBook
from wfdoctor.measure.bandwidth import Bandwidth, cpu_read_bandwidth, gpu_bandwidth
from wfdoctor.measure.tokens import LevelRun, Workload, run_workload
from wfdoctor.model import Finding, Run, Sample, WfdoctorError
from wfdoctor.sense.backends.base import GenerationRequest
from wfdoctor.sense.backends.client import Backend, connect
from wfdoctor.sense.backends.discovery import discover
from wfdoctor.sense.backends.embedded import EmbeddedServer
from wfdoctor.sense.gpu_nvml import GpuReport, probe_gpus
from wfdoctor.sense.processes import model_file_of, pid_listening_on
from wfdoctor.sense.system import SystemProbe
from wfdoctor.store.db import Store
from wfdoctor.surface.datafiles import load_data_files

DEFAULT_PROMPT = "Explain in a few sentences why the sky is blue."
FILLER = "The quick brown fox jumps over the lazy dog while the council of models deliberates. "
CHARS_PER_TOKEN = 4.0  # English text with BPE tokenizers; the server's own count is reported beside


def synthetic_prompt(tokens: int) -> str:
    """A prompt of roughly `tokens` tokens (filler text, then the question), for prefill tests."""
    filler_chars = max(int(tokens * CHARS_PER_TOKEN) - len(DEFAULT_PROMPT), 0)
    filler = (FILLER * (filler_chars // len(FILLER) + 1))[:filler_chars]
    return f"{filler}\n\n{DEFAULT_PROMPT}" if filler else DEFAULT_PROMPT
LOOPBACK_HOSTS = {"127.0.0.1", "localhost", "::1"}


@dataclass
class TokensOptions:
    backend_url: str | None = None
    model: str | None = None
    prompt: str = DEFAULT_PROMPT
    max_tokens: int = 64
    runs: int = 10
    warmup: int = 1
    concurrency: list[int] = field(default_factory=lambda: [1])
    arrival: str = "closed"
    rate_per_s: float = 1.0
    api: str = "chat"
    timeout_s: float = 60.0
    model_file: Path | None = None
    embedded: bool = True
    embedded_args: list[str] = field(default_factory=list)
    measure_bandwidth: bool = True
    facts_path: Path | None = None
    rules_paths: list[Path] = field(default_factory=list)


@dataclass
class TokenReport:
    run: Run
    backend_url: str
    implementation: str
    protocol: str
    model: str
    embedded: bool
    levels: list[LevelSummary]
    requests: dict[int, list[RequestMetrics]]
    knee: Knee
    findings: list[Finding]
    roofline: Roofline | None
    roofline_note: str
    tier: TierVerdict
    rulebook: RuleBook
    facts: Facts
    interrupted: bool
    notes: list[str]


async def _find_backend(options: TokensOptions, stack: ExitStack, report: Callable[[str], None]) -> tuple[str, bool]:
    """The URL to measure, and whether it is the embedded engine wfdoctor started."""
    if options.backend_url:
        return options.backend_url.rstrip("/"), options.backend_url.startswith("embedded")
    answering = [s for s in await discover() if s.answered]
    if answering:
        return answering[0].url, False
    if not options.embedded:
        raise WfdoctorError("no LLM server answered on the usual ports; name one with --backend URL")
    report("no LLM server answered: starting the embedded SmolLM2 engine")
    server = stack.enter_context(EmbeddedServer(extra_args=options.embedded_args))
    options.model_file = options.model_file or server.model_path
    return server.base_url, True


def server_facts(backend: Backend) -> ServerFacts:
    parsed = urlparse(backend.url)
    if backend.protocol == "inprocess":
        pid: int | None = os.getpid()
    else:
        pid = pid_listening_on(parsed.port) if parsed.hostname in LOOPBACK_HOSTS and parsed.port else None
    model = next((m for m in backend.status.models if m.name == backend.model), None)
    return ServerFacts(url=backend.url, implementation=backend.implementation, model=backend.model, pid=pid,
                       model_size_bytes=model.size_bytes if model and model.loaded else None,
                       model_vram_bytes=model.vram_bytes if model and model.loaded else None,
                       model_file=backend.model_file or (model_file_of(pid) if pid else None))


def level_metrics(level: LevelRun, protocol: str, stall_s: float) -> list[RequestMetrics]:
    return [request_metrics(trace, output_token_count(trace, protocol), count, stall_s=stall_s)
            for trace, count in zip_longest(level.traces, level.token_counts[: len(level.traces)])
            if trace is not None]


SUMMARY_METRICS = {
    "ttft_s": ("wf_llm_time_to_first_token_seconds", "s"),
    "ttfb_s": ("wf_llm_time_to_first_byte_seconds", "s"),
    "itl_s": ("wf_llm_inter_token_latency_seconds", "s"),
    "tpot_s": ("wf_llm_time_per_output_token_seconds", "s"),
    "decode_tps": ("wf_llm_decode_tokens_per_second", "tokens/s"),
    "prefill_tps": ("wf_llm_prefill_tokens_per_second", "tokens/s"),
    "e2e_s": ("wf_llm_e2e_latency_seconds", "s"),
}


def summary_samples(levels: list[LevelSummary]) -> list[Sample]:
    """Level statistics as Samples (what the triage rules and the history read)."""
    out: list[Sample] = []
    source = "wfdoctor tokens (client-measured)"
    for level in levels:
        labels = {"concurrency": str(level.concurrency)}
        for key, (metric, unit) in SUMMARY_METRICS.items():
            dist = level.metrics.get(key)
            if dist is None:
                continue
            for stat in ("p50", "p90", "p95", "p99", "mean"):
                out.append(Sample(metric, getattr(dist, stat), unit, source, labels | {"stat": stat}))
        if level.throughput_tps:
            out.append(Sample("wf_llm_output_tokens_per_second", level.throughput_tps, "tokens/s", source, labels))
        failed = level.requests - level.ok
        out.append(Sample("wf_llm_failed_requests", float(failed), "requests", source, labels))
    return out


def request_samples(requests: dict[int, list[RequestMetrics]]) -> list[Sample]:
    """One sample per request and metric, for history and regression checks."""
    out: list[Sample] = []
    for concurrency, metrics in requests.items():
        for index, request in enumerate(metrics):
            if not request.ok:
                continue
            labels = {"concurrency": str(concurrency), "request": str(index),
                      "tokens_source": request.output_tokens_source}
            for key, metric, unit in (("ttft_s", "wf_llm_request_ttft_seconds", "s"),
                                      ("decode_tps", "wf_llm_request_decode_tokens_per_second", "tokens/s"),
                                      ("e2e_s", "wf_llm_request_e2e_seconds", "s")):
                value = getattr(request, key)
                if value is not None:
                    out.append(Sample(metric, value, unit, "wfdoctor tokens (client-measured)", labels))
    return out


def _model_bytes(options: TokensOptions, facts: ServerFacts, levels: list[LevelRun]) -> tuple[int | None, str]:
    """The model's weight bytes: a named file, the path the server reports, or Ollama's size."""
    candidates = [options.model_file] if options.model_file else []
    candidates += [Path(facts.model_file)] if facts.model_file else []
    candidates += [Path(t.reported_model) for lv in levels for t in lv.traces[:1] if t.reported_model]
    for path in candidates:
        if path and path.is_file():
            return path.stat().st_size, f"file {path.name}"
    if facts.model_size_bytes:
        return facts.model_size_bytes, "server-reported model size (includes the KV cache)"
    return None, ""


def _roofline(decode_tps: float | None, model: tuple[int | None, str], gpu: GpuReport, facts: ServerFacts,
              measure_cpu: bool, limits: TokenLimits) -> tuple[Roofline | None, str]:
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


def _level_systems(levels: list[LevelRun]) -> list[LevelSystem]:
    return [LevelSystem(level.concurrency, level.system, level.own_pids) for level in levels]


def run_tokens(options: TokensOptions, store: Store, report: Callable[[str], None] = lambda _: None,
               progress: Callable[[int, int], None] = lambda c, n: None) -> TokenReport:
    """Measure, analyse and record one token run."""
    facts, rulebook = load_data_files(options.facts_path, options.rules_paths)
    run = Run(command="tokens", started_at=time.time(), settings={
        "backend": options.backend_url, "model": options.model, "prompt_chars": len(options.prompt),
        "max_tokens": options.max_tokens, "runs": options.runs, "warmup": options.warmup,
        "concurrency": options.concurrency, "arrival": options.arrival, "rate_per_s": options.rate_per_s,
        "api": options.api,
    })
    with ExitStack() as stack:  # holds the embedded server, if one is started, until the end
        url, embedded = asyncio.run(_find_backend(options, stack, report))
        with store.recording(run):
            return _measure(options, store, run, url, embedded, facts, rulebook, report, progress)


def _measure(options: TokensOptions, store: Store, run: Run, url: str, embedded: bool, facts: Facts,
             rulebook: RuleBook, report: Callable[[str], None], progress: Callable[[int, int], None]) -> TokenReport:
    system_now = SystemProbe().read()
    gpu = probe_gpus()
    tier = classify_tier(system_now + gpu.samples, facts)
    levels: list[LevelRun] = []
    request = GenerationRequest(prompt=options.prompt, model=options.model or "", max_tokens=options.max_tokens,
                                api=options.api)
    workload = Workload(request, runs=options.runs, warmup=options.warmup, concurrency=options.concurrency,
                        arrival=options.arrival, rate_per_s=options.rate_per_s)
    interrupted = False
    known: dict[str, Backend] = {}

    async def measure() -> None:
        backend = await connect(url, options.model, options.timeout_s, max(options.concurrency))
        known["backend"] = backend
        try:
            report(f"measuring {backend.implementation} at {url}, model {backend.model}")
            await run_workload(backend, workload, levels, progress)
        finally:
            await backend.aclose()

    try:
        asyncio.run(measure())
    except KeyboardInterrupt:
        if "backend" not in known:
            raise  # nothing measured yet
        interrupted = True
    backend = known["backend"]
    implementation, protocol, model = backend.implementation, backend.protocol, backend.model
    server = server_facts(backend)
    limits = facts.limits_for(tier.tier).tokens
    requests = {lv.concurrency: level_metrics(lv, protocol, limits.stall_s) for lv in levels}
    summaries = [summarize_level(c, metrics) for c, metrics in requests.items()]
    knee = find_knee(summaries, limits)
    systems = _level_systems(levels)
    system_samples = [Sample(s.metric, s.value, s.unit, s.source, s.labels | {"concurrency": str(lv.concurrency)},
                             s.ts) for lv in levels for s in lv.system]
    samples = summary_samples(summaries) + request_samples(requests) + system_samples + gpu.samples
    findings = classify(summaries, knee, systems, server, os.getpid(), limits=limits,
                        ttft_target_s=tier.targets.ttft_seconds, remedies=rulebook.remedies)
    findings += findings_of(triage(samples, rulebook, facts, tier.tier, command="tokens"))
    findings.sort(key=lambda f: f.priority.rank)
    base = min(summaries, key=lambda lv: lv.concurrency, default=None)
    limit, note = (None, "interrupted") if interrupted else _roofline(
        base.p50("decode_tps") if base else None, _model_bytes(options, server, levels), gpu, server,
        options.measure_bandwidth, limits)
    if limit is not None:
        samples.append(Sample("wf_llm_roofline_tokens_per_second", limit.limit_tps, "tokens/s",
                              limit.bandwidth_source, {"model": model}))
        samples.append(Sample("wf_llm_roofline_fraction", limit.fraction, "ratio", "decode p50 / roofline",
                              {"model": model}))
    run.samples, run.findings, run.tier = samples, findings, tier.tier
    run.settings |= {"backend": url, "implementation": implementation, "model": model, "embedded": embedded}
    store.add_samples(run.id or 0, samples)
    store.add_findings(run.id or 0, findings)
    if interrupted:
        store.finish_run(run, status="interrupted")
    notes = [f"token counts from: {', '.join(sorted({s for lv in summaries for s in lv.token_sources}))}"]
    if embedded:
        notes.append("no LLM server answered: the embedded SmolLM2 engine was measured")
    return TokenReport(run, url, implementation, protocol, model, embedded, summaries, requests, knee, findings,
                       limit, note, tier, rulebook, facts, interrupted, notes)
