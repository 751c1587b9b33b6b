"""Why token generation is slow: named causes with evidence (pure).

Inputs are the per-level summaries of a token run, the system samples taken
*during* each level, and what is known about the server (implementation,
process, model placement). Each cause is a Finding in the "slow token
generation" row, with actions specific to the server that was measured. The
limits come from the facts (`limits.tokens`, the tier's TTFT target) and the
actions from the rule files' remedies, so neither is a number or a list here.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from statistics import fmean

from wfdoctor.analyze.failures import nothing_listened
from wfdoctor.analyze.remedies import RemedyId
from wfdoctor.analyze.tokens import Knee, LevelSummary
from wfdoctor.config.limits import TokenLimits
from wfdoctor.config.remedies import Remedies
from wfdoctor.model import Finding, Priority, Sample

ROW = "slow_token_generation"
SYMPTOM = "Slow token generation"


@dataclass(frozen=True)
class ServerFacts:
    """What is known about the measured server, beside its timings."""

    url: str
    implementation: str               # "ollama", "llama-cpp-python", "llama.cpp", "vllm", "openai-compatible"
    model: str
    pid: int | None = None
    model_size_bytes: int | None = None
    model_vram_bytes: int | None = None
    model_file: str | None = None     # from the server process's command line
    slots: int | None = None          # requests it generates at once, where it says (llama.cpp's /props)
    busy_threads: int | None = None   # threads of the server that did the work (busy_threads), if measured


@dataclass(frozen=True)
class LevelSystem:
    """System samples taken while one level ran, and the pids that are wfdoctor itself."""

    concurrency: int
    samples: list[Sample]
    own_pids: list[int] = field(default_factory=list)

    def mean(self, metric: str) -> float | None:
        values = [s.value for s in self.samples if s.metric == metric]
        return fmean(values) if values else None

    def process_cores(self) -> dict[tuple[str, str], float]:
        """Mean cores per (pid, name) over the level; a reading without the process counts 0."""
        readings = sum(1 for s in self.samples if s.metric == "wf_cpu_utilization_ratio") or 1
        totals: dict[tuple[str, str], float] = defaultdict(float)
        for sample in self.samples:
            if sample.metric == "wf_process_cpu_utilization_ratio":
                totals[(sample.labels["pid"], sample.labels.get("name", "?"))] += sample.value
        return {key: total / readings for key, total in totals.items()}


def _finding(code: str, cause: str, priority: Priority, summary: str, actions: list[str],
             evidence: list[Sample]) -> Finding:
    return Finding(rule_id=f"tokens.{code.lower()}", code=code, row=ROW, symptom=SYMPTOM, cause=cause,
                   priority=priority, actions=actions, evidence=evidence, summary=summary)


def _evidence(metric: str, value: float, unit: str, **labels: str) -> Sample:
    return Sample(metric, value, unit, "wfdoctor tokens (measured)", labels)


def _by_concurrency(levels: list[LevelSummary]) -> list[LevelSummary]:
    return sorted(levels, key=lambda lv: lv.concurrency)


def interrupted_streams(levels: list[LevelSummary], server: ServerFacts, limits: TokenLimits,
                        remedies: Remedies) -> list[Finding]:
    """Streams that fail only when several run at once: the server cancels running ones.

    A level where a request found nothing listening is not evidence of it: the
    server went away (a death between levels looks like failures only at the
    higher one), and analyze/failures.py names that SERVER_DIED.
    """
    ordered = _by_concurrency(levels)
    single = next((lv for lv in ordered if lv.concurrency == 1), None)
    if single is None or single.requests == 0 or single.ok < single.requests:
        return []
    hit = [lv for lv in ordered if lv.concurrency > 1 and lv.requests and not nothing_listened(lv.errors)
           and (lv.requests - lv.ok) / lv.requests >= limits.interrupted_share]
    if not hit:
        return []
    worst = max(hit, key=lambda lv: (lv.requests - lv.ok) / lv.requests)
    failed = worst.requests - worst.ok
    evidence = [_evidence("wf_llm_failed_streams_ratio", failed / worst.requests, "ratio",
                          concurrency=str(worst.concurrency)),
                _evidence("wf_llm_failed_streams_ratio", 0.0, "ratio", concurrency="1")]
    kinds = ", ".join(f"{kind} x{count}" for kind, count in worst.errors.items())
    if server.implementation == "llama-cpp-python":
        cause = ("llama-cpp-python generates one request at a time and, by default (interrupt_requests=True), "
                 "a new request cancels the stream that is running")
    else:
        cause = "the server drops running streams when more arrive (cancellation or a connection limit)"
    actions = remedies.actions(RemedyId.STREAMS_INTERRUPTED, server.implementation)
    summary = (f"{failed} of {worst.requests} streams failed at concurrency {worst.concurrency} ({kinds}); "
               f"none failed at concurrency 1")
    return [_finding("STREAMS_INTERRUPTED", cause, Priority.HIGH, summary, actions, evidence)]


def queueing(levels: list[LevelSummary], knee: Knee, server: ServerFacts, limits: TokenLimits,
             remedies: Remedies) -> list[Finding]:
    """Throughput flat with concurrency: requests queue (TTFT grows) or share the compute (decode slows)."""
    ordered = [lv for lv in _by_concurrency(levels) if lv.ok and lv.p50("ttft_s") and lv.p50("decode_tps")]
    if len(ordered) < 2 or knee.concurrency is None:
        return []
    base, top = ordered[0], ordered[-1]
    ratio = top.concurrency / base.concurrency
    ttft_growth = top.p50("ttft_s") / base.p50("ttft_s")  # type: ignore[operator]
    decode_ratio = top.p50("decode_tps") / base.p50("decode_tps")  # type: ignore[operator]
    evidence = [_evidence("wf_llm_time_to_first_token_seconds", lv.p50("ttft_s") or 0.0, "s",
                          concurrency=str(lv.concurrency), stat="p50") for lv in ordered]
    evidence += [_evidence("wf_llm_decode_tokens_per_second", lv.p50("decode_tps") or 0.0, "tokens/s",
                           concurrency=str(lv.concurrency), stat="p50") for lv in ordered]
    evidence += [_evidence("wf_llm_output_tokens_per_second", lv.throughput_tps or 0.0, "tokens/s",
                           concurrency=str(lv.concurrency)) for lv in ordered]
    parallel = server.slots is not None and server.slots >= top.concurrency  # it says it runs them all at once
    if not parallel and ttft_growth >= limits.serial_ttft_growth * ratio and decode_ratio >= limits.decode_holds:
        fix = remedies.actions(RemedyId.SERIALISED_SERVER, server.implementation)
        summary = (f"TTFT p50 grows {ttft_growth:.1f}x from concurrency {base.concurrency} to {top.concurrency} "
                   f"while each stream's decode rate holds ({decode_ratio:.0%}): requests wait their turn; "
                   f"{knee.explanation}")
        return [_finding("SERVER_SERIALISES", f"{server.implementation} generates one request at a time: "
                         "concurrent requests queue", Priority.HIGH, summary, fix, evidence)]
    summary = (f"per-stream decode rate falls to {decode_ratio:.0%} at concurrency {top.concurrency} while total "
               f"throughput stays flat: the streams share saturated compute; {knee.explanation}")
    slots = f" ({server.slots} slots)" if server.slots and server.slots > 1 else ""
    return [_finding("THROUGHPUT_SATURATED", f"concurrent streams run in parallel{slots} but share saturated compute",
                     Priority.MEDIUM, summary,
                     remedies.actions(RemedyId.THROUGHPUT_SATURATED, server.implementation), evidence)]


def cpu_pressure(systems: list[LevelSystem], server: ServerFacts, limits: TokenLimits, remedies: Remedies,
                 roofline_share: float | None = None) -> list[Finding]:
    """CPU contention from other processes, or a CPU-bound server with no GPU at work (`cpu_bound`)."""
    findings: list[Finding] = []
    for system in systems:
        machine = system.mean("wf_cpu_utilization_ratio")
        if machine is None:
            continue
        cores = system.process_cores()
        own = {str(pid) for pid in system.own_pids} | ({str(server.pid)} if server.pid else set())
        others = sorted(((c, key) for key, c in cores.items() if key[0] not in own), reverse=True)
        other_cores = sum(c for c, _ in others)
        label = {"concurrency": str(system.concurrency)}
        if machine >= limits.contention_cpu and other_cores >= limits.contention_other_cores:
            top = ", ".join(f"{name} (pid {pid}) {c:.2f} cores" for c, (pid, name) in others[:3])
            evidence = [_evidence("wf_cpu_utilization_ratio", machine, "ratio", **label)]
            evidence += [_evidence("wf_process_cpu_utilization_ratio", c, "cores", pid=pid, name=name, **label)
                         for c, (pid, name) in others[:3]]
            server_use = f"; {_server_use(system, server)}" if server.pid else ""
            bandwidth = "" if roofline_share is None else \
                f"; decode at {roofline_share:.0%} of the memory-bandwidth limit"
            findings.append(_finding(
                "CPU_CONTENTION", "other processes compete with the LLM server for the CPU", Priority.HIGH,
                f"CPU {machine:.0%} busy during generation at concurrency {system.concurrency}; "
                f"{other_cores:.2f} cores went to other processes: {top}{server_use}{bandwidth}",
                remedies.actions(RemedyId.CPU_CONTENTION, server.implementation), evidence))
            break
    if findings or server.pid is None or not systems:
        return findings
    return cpu_bound(systems[0], server, limits, remedies, roofline_share)


def busy_threads(before: dict[int, float], after: dict[int, float], limits: TokenLimits) -> int | None:
    """Threads whose CPU time over a run is at least `busy_thread_share` of the busiest thread's.

    A llama.cpp compute pool spins all its threads alike; the HTTP and event-loop threads barely run.
    None when nothing ran (or the process could not be read).
    """
    used = [seconds - before.get(tid, 0.0) for tid, seconds in after.items()]
    busiest = max(used, default=0.0)
    if busiest <= 0.0:
        return None
    return sum(1 for seconds in used if seconds >= limits.busy_thread_share * busiest)


def _server_cores(system: LevelSystem, server: ServerFacts) -> float:
    return next((c for (pid, _), c in system.process_cores().items() if pid == str(server.pid)), 0.0)


def _server_use(system: LevelSystem, server: ServerFacts) -> str:
    """The cores (and busy threads, where measured) the server used, against the machine's cores."""
    logical = system.mean("wf_cpu_logical_cores") or 0
    threads = "" if server.busy_threads is None else \
        f", {server.busy_threads} busy thread{'s' * (server.busy_threads != 1)} of {logical:.0f} cores"
    return f"server (pid {server.pid}) used {_server_cores(system, server):.2f} of {logical:.0f} cores{threads}"


def _pace(roofline_share: float | None, limits: TokenLimits) -> str:
    """What sets the CPU's decode pace, by the roofline measured in the same run."""
    if roofline_share is None:
        return "decode runs on the CPU (its share of the memory-bandwidth limit was not measured)"
    if roofline_share >= limits.bandwidth_bound_share:
        return (f"decode runs on the CPU and is bandwidth-bound (decode at {roofline_share:.0%} of the "
                "memory-bandwidth limit)")
    return (f"decode runs on the CPU and is compute/overhead-bound (decode at only {roofline_share:.0%} of the "
            "bandwidth limit: the cores, not memory, set the pace)")


def _thread_advice(system: LevelSystem, server: ServerFacts, roofline_share: float | None,
                   limits: TokenLimits) -> str:
    """The thread count to try, when the cores (not memory) set the pace and the server computes on fewer
    threads than the machine has cores (llama-cpp-python's default is half of them)."""
    logical = int(system.mean("wf_cpu_logical_cores") or 0)
    busy = server.busy_threads
    bandwidth_bound = roofline_share is not None and roofline_share >= limits.bandwidth_bound_share
    if busy is None or busy >= logical or bandwidth_bound:
        return ""
    return (f"; it computes on {busy} of {logical} cores: {logical} threads would use every core where nothing else "
            f"needs one ({logical - 1} keeps a core for the UI, as the thread action below does)")


def cpu_bound(system: LevelSystem, server: ServerFacts, limits: TokenLimits, remedies: Remedies,
              roofline_share: float | None) -> list[Finding]:
    """The server busy on the CPU with no GPU at work: how many cores and threads it used, and what sets the pace."""
    server_cores = _server_cores(system, server)
    gpu = system.mean("wf_gpu_utilization_ratio")
    if server_cores < limits.cpu_bound_server_cores or (gpu is not None and gpu >= limits.gpu_idle):
        return []
    gpu_text = "no GPU measured" if gpu is None else f"GPU {gpu:.0%} busy"
    evidence = [_evidence("wf_process_cpu_utilization_ratio", server_cores, "cores", pid=str(server.pid),
                          name="server")]
    if server.busy_threads is not None:
        evidence.append(_evidence("wf_process_busy_threads", float(server.busy_threads), "threads",
                                  pid=str(server.pid), name="server"))
    if roofline_share is not None:
        evidence.append(_evidence("wf_llm_roofline_fraction", roofline_share, "ratio", model=server.model))
    return [_finding(
        "CPU_BOUND", _pace(roofline_share, limits), Priority.MEDIUM,
        f"{_server_use(system, server)} at concurrency {system.concurrency}; {gpu_text}"
        f"{_thread_advice(system, server, roofline_share, limits)}",
        remedies.actions(RemedyId.CPU_BOUND, server.implementation), evidence)]


def vram_share(server: ServerFacts) -> float | None:
    """The share of the model's bytes in VRAM, where the server says (Ollama's /api/ps)."""
    if not server.model_size_bytes or server.model_vram_bytes is None:
        return None
    return server.model_vram_bytes / server.model_size_bytes


def model_resident(server: ServerFacts, limits: TokenLimits) -> bool:
    """The whole model sits in VRAM (up to `resident_vram_share`): the GPU's bandwidth sets decode."""
    share = vram_share(server)
    return share is not None and share >= limits.resident_vram_share


def gpu_offload(server: ServerFacts, limits: TokenLimits, remedies: Remedies) -> list[Finding]:
    """Ollama's /api/ps says how much of the model sits in VRAM."""
    share = vram_share(server)
    if share is None or model_resident(server, limits):
        return []
    evidence = [Sample("wf_llm_model_vram_ratio", share, "ratio", f"{server.implementation} /api/ps",
                       {"model": server.model})]
    if share <= 0.0:
        return [_finding("CPU_ONLY_MODEL", "the whole model runs on the CPU (nothing in VRAM)", Priority.MEDIUM,
                         f"{server.model}: 0 % of {server.model_size_bytes / 1e9:.1f} GB in VRAM",
                         remedies.actions(RemedyId.CPU_ONLY_MODEL, server.implementation), evidence)]
    return [_finding("PARTIAL_GPU_OFFLOAD", "the model does not fit in VRAM: the layers left on the CPU set "
                     "the pace", Priority.HIGH,
                     f"{server.model}: only {share:.0%} of {server.model_size_bytes / 1e9:.1f} GB is in VRAM",
                     remedies.actions(RemedyId.PARTIAL_GPU_OFFLOAD, server.implementation), evidence)]


def first_token_time(levels: list[LevelSummary], server: ServerFacts, limits: TokenLimits, ttft_target_s: float,
                     remedies: Remedies) -> list[Finding]:
    """TTFT dominated by model loading or by prompt processing, per the server's own timings.

    Prefill is named only when TTFT misses the tier's target (`ttft_target_s`).
    """
    for level in _by_concurrency(levels):
        ttft = level.p50("ttft_s")
        if not ttft:
            continue
        load = level.p50("server_load_s")
        prefill = level.p50("server_prefill_s")
        label = {"concurrency": str(level.concurrency), "stat": "p50"}
        base = [_evidence("wf_llm_time_to_first_token_seconds", ttft, "s", **label)]
        if load is not None and load >= max(limits.load_share_of_ttft * ttft, limits.min_load_s):
            return [_finding(
                "COLD_MODEL_LOAD", "model load dominates TTFT: the model is loaded for requests instead of "
                "staying resident", Priority.HIGH,
                f"load {load:.2f} s of TTFT {ttft:.2f} s (p50, concurrency {level.concurrency})",
                remedies.actions(RemedyId.COLD_MODEL_LOAD, server.implementation),
                base + [_evidence("wf_llm_server_load_seconds", load, "s", **label)])]
        if prefill is not None and ttft > ttft_target_s and prefill >= limits.prefill_share_of_ttft * ttft:
            rate = level.p50("prefill_tps")
            return [_finding(
                "PREFILL_DOMINATED", "prompt processing (prefill) dominates TTFT", Priority.MEDIUM,
                f"prefill {prefill:.2f} s of TTFT {ttft:.2f} s" + (f" at {rate:.0f} prompt tokens/s" if rate else ""),
                remedies.actions(RemedyId.PREFILL_DOMINATED, server.implementation),
                base + [_evidence("wf_llm_server_prefill_seconds", prefill, "s", **label)])]
        return []
    return []


def client_overhead(systems: list[LevelSystem], client_pid: int, server: ServerFacts, limits: TokenLimits,
                    remedies: Remedies) -> list[Finding]:
    """wfdoctor's own client near a full core: it could be what limits the numbers.

    Not judged when the model runs inside the client's process (in-process engine).
    """
    if server.pid == client_pid:
        return []
    for system in systems:
        cores = next((c for (pid, _), c in system.process_cores().items() if pid == str(client_pid)), 0.0)
        if cores >= limits.client_cores:
            return [_finding(
                "CLIENT_OVERHEAD", "the measuring client itself is CPU-bound; results understate the server",
                Priority.MEDIUM, f"wfdoctor's client used {cores:.2f} cores at concurrency {system.concurrency}",
                remedies.actions(RemedyId.CLIENT_OVERHEAD, server.implementation),
                [_evidence("wf_process_cpu_utilization_ratio", cores, "cores", pid=str(client_pid), name="wfdoctor")])]
    return []


def classify(levels: list[LevelSummary], knee: Knee, systems: list[LevelSystem], server: ServerFacts,
             client_pid: int, *, limits: TokenLimits, ttft_target_s: float, remedies: Remedies,
             roofline_share: float | None = None) -> list[Finding]:
    """Every cause the evidence supports, most urgent first.

    `roofline_share` (decode / the memory-bandwidth limit, measured in the same run) decides whether a
    CPU-bound server is bandwidth-bound or compute/overhead-bound, so the cause never contradicts the roofline.
    """
    findings = interrupted_streams(levels, server, limits, remedies)
    if not findings:  # with streams dropped, latency across levels means nothing
        findings += queueing(levels, knee, server, limits, remedies)
    findings += cpu_pressure(systems, server, limits, remedies, roofline_share)
    findings += gpu_offload(server, limits, remedies)
    findings += first_token_time(levels, server, limits, ttft_target_s, remedies)
    findings += client_overhead(systems, client_pid, server, limits, remedies)
    return sorted(findings, key=lambda f: f.priority.rank)
