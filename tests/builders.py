"""Synthetic inputs for the causes, judged under the packaged limits and remedies."""

from __future__ import annotations

from wfdoctor.analyze.bottleneck import LevelSystem, ServerFacts, classify
from wfdoctor.analyze.tokens import Distribution, Knee, LevelSummary
from wfdoctor.config.facts import load_facts
from wfdoctor.config.limits import TokenLimits
from wfdoctor.config.remedies import Remedies
from wfdoctor.config.rules import load_rulebook
from wfdoctor.measure.council import CouncilRun, MemberRun, MemberSpec
from wfdoctor.model import (ActionDisposition, ActionRecord, Finding, Incident, IncidentAction, MetricComparison,
                            Priority, Sample, Verdict)
from wfdoctor.sense.backends.base import StreamTrace

FACTS = load_facts()
REMEDIES = load_rulebook().remedies
TOKENS = FACTS.limits.tokens
TTFT_TARGET_S = FACTS.targets["mid"].ttft_seconds
SERVER = ServerFacts(url="http://127.0.0.1:1", implementation="llama-cpp-python", model="m", pid=100)


def level(concurrency: int, throughput: float | None, ttft_s: float = 0.1, decode: float = 40.0, ok: int = 8,
          requests: int = 8, errors: dict[str, int] | None = None, **server_p50: float) -> LevelSummary:
    """One concurrency level whose every distribution is the one value given (so p50 is that value)."""
    values = {"ttft_s": ttft_s, "decode_tps": decode} | server_p50
    dists = {key: Distribution.of([value]) for key, value in values.items()}
    return LevelSummary(concurrency, requests, ok, errors or {}, throughput, 1.0, 0,
                        {k: v for k, v in dists.items() if v})


def cpu_reading(machine: float, processes: dict[str, float], gpu: float | None = None) -> list[Sample]:
    """One system reading: machine CPU share, cores per pid (named p<pid>), and the GPU's busy share."""
    out = [Sample("wf_cpu_utilization_ratio", machine, "ratio", "test")]
    out += [Sample("wf_process_cpu_utilization_ratio", cores, "cores", "test", {"pid": pid, "name": "p" + pid})
            for pid, cores in processes.items()]
    if gpu is not None:
        out.append(Sample("wf_gpu_utilization_ratio", gpu, "ratio", "test"))
    return out


def diagnose(levels: list[LevelSummary], knee: Knee, systems: list[LevelSystem] | None = None,
             server: ServerFacts = SERVER, limits: TokenLimits = TOKENS, ttft_target_s: float = TTFT_TARGET_S,
             client_pid: int = 1, remedies: Remedies = REMEDIES, roofline_share: float | None = None) -> list[Finding]:
    """The token-run causes under the packaged limits, the mid tier's TTFT target and (unless given) the
    packaged remedies."""
    return classify(levels, knee, systems or [], server, client_pid, limits=limits, ttft_target_s=ttft_target_s,
                    remedies=remedies, roofline_share=roofline_share)


SampleRow = tuple[str, float, str, str, dict[str, str]]


def rows(samples: list[Sample]) -> list[SampleRow]:
    """Samples as a reader sees them: metric, value, unit, source and labels (not the time they were taken)."""
    return [(s.metric, s.value, s.unit, s.source, s.labels) for s in samples]


def as_read(finding: Finding) -> dict[str, str | Priority | list[str] | list[SampleRow]]:
    """Every field of a finding, its evidence as `rows`: one comparison states the whole finding."""
    return {"rule_id": finding.rule_id, "code": finding.code, "row": finding.row, "symptom": finding.symptom,
            "cause": finding.cause, "priority": finding.priority, "actions": finding.actions,
            "summary": finding.summary, "evidence": rows(finding.evidence)}




def stream(sent_s: float, tokens_s: list[float], *, first_byte_s: float | None = None, done_s: float | None = None,
           server: dict[str, float] | None = None, completed: bool = True, error: str = "",
           count_source: str = "") -> StreamTrace:
    """One streamed request on the client's clock, in seconds: one content piece per token time; it ends at
    the last token unless `done_s` says otherwise (None when nothing arrived)."""
    def at_ns(seconds: float | None) -> int | None:
        return None if seconds is None else round(seconds * NS_PER_S)

    done = done_s if done_s is not None else (tokens_s[-1] if tokens_s else None)
    return StreamTrace(sent_ns=round(sent_s * NS_PER_S), first_byte_ns=at_ns(first_byte_s),
                       token_ns=[round(t * NS_PER_S) for t in tokens_s], pieces=["x"] * len(tokens_s), done_ns=at_ns(done),
                       server=server or {}, completed=completed, error=error, server_count_source=count_source)


# --- councils: member timelines as the council runner records them ------------------------------------

NS_PER_S = 1_000_000_000
COUNCIL_START_S = 5.0  # the council's clock does not start at 0: every time is measured from its start
COUNCIL_URL = "http://127.0.0.1:8000"


def ns(seconds_after_start: float) -> int:
    """A perf_counter_ns() reading `seconds_after_start` after the council started."""
    return round((COUNCIL_START_S + seconds_after_start) * NS_PER_S)


def attempt(sent_s: float, tokens_s: list[float], done_s: float, error: str = "") -> StreamTrace:
    """One streamed try (times in seconds after the council's start): one piece per token time."""
    return StreamTrace(sent_ns=ns(sent_s), token_ns=[ns(t) for t in tokens_s], pieces=["w"] * len(tokens_s),
                       done_ns=ns(done_s), error=error, completed=not error)


def answered(name: str, tokens_s: list[float], done_s: float, sent_s: float = 0.0, url: str = COUNCIL_URL,
             timeouts_before: list[float] | None = None) -> MemberRun:
    """A member whose last try answered; each time in `timeouts_before` is a silent try sent then, cut 0.5 s on."""
    silent = [attempt(t, [], t + 0.5, "no answer within 0.5 s (timeout)") for t in timeouts_before or []]
    return MemberRun(MemberSpec(name, url), silent + [attempt(sent_s, tokens_s, done_s)], "ok")


def failed_member(name: str, error: str, tries: int = 4, url: str = COUNCIL_URL) -> MemberRun:
    """A member whose every try (the first and its retries) ended in `error`."""
    return MemberRun(MemberSpec(name, url), [attempt(0.0, [], 0.5, error) for _ in range(tries)], "failed", error)


def cancelled_member(name: str, url: str = COUNCIL_URL) -> MemberRun:
    """A member stopped once the others agreed: it had started streaming, not finished."""
    trace = StreamTrace(sent_ns=ns(0.0), token_ns=[ns(0.5)], pieces=["w"])
    return MemberRun(MemberSpec(name, url), [trace], "cancelled")


def council_run(members: list[MemberRun], wall_s: float, consensus_s: float | None = None,
                consensus: list[str] | None = None) -> CouncilRun:
    return CouncilRun(members, started_ns=ns(0.0), ended_ns=ns(wall_s),
                      consensus_ns=None if consensus_s is None else ns(consensus_s), consensus=consensus or [])


def described(samples: list[Sample]) -> list[tuple[str, float, str, str, dict[str, str]]]:
    """Samples without their timestamps: (metric, value, unit, source, labels)."""
    return [(s.metric, s.value, s.unit, s.source, s.labels) for s in samples]


def stored(run: int, value: float, ts: float, /, metric: str = "wf_decode_tps", unit: str = "tokens/s",
           **labels: str) -> tuple[int, Sample]:
    """One (run id, sample) row as the store hands metric histories over."""
    return run, Sample(metric, value, unit, "test", labels, ts)


def history(values: list[float], metric: str = "wf_decode_tps", start_ts: float = 0.0, step_s: float = 3600.0,
            **labels: str) -> list[tuple[int, Sample]]:
    """One stored run per value, `step_s` apart, each at its own revision (rev0, rev1, ...)."""
    return [stored(run, value, start_ts + run * step_s, metric, **labels, revision=f"rev{run}")
            for run, value in enumerate(values)]


def rippled_memory(*segments: tuple[int, float], start: float = 1e8,
                   ripple: float = 2.0 ** 16) -> tuple[list[float], list[float]]:
    """A 1 Hz memory series: (seconds, bytes per second) segments one after another, from `start` bytes, with an
    alternating +-`ripple` so every fit has a residual (an exact line would leave nothing for BIC or the MAD)."""
    rates = [rate for seconds, rate in segments for _ in range(seconds)]
    values = [start]
    for rate in rates:
        values.append(values[-1] + rate)
    return ([float(second) for second in range(len(values))],
            [value + (ripple if second % 2 == 0 else -ripple) for second, value in enumerate(values)])


def incident(cause: str = "CPU_CONTENTION", hog: str = "wf-cpu-hog", *, codes: tuple[str, ...] = ("SLOW_DECODE",),
             status: str = "resolved", verdict: Verdict = Verdict.IMPROVED, created_at: float = 1.7e9,
             fingerprint: dict[str, str] | None = None, actions: list[IncidentAction] | None = None,
             note: str = "", summary: str = "") -> Incident:
    """A documented troubleshooting session whose top cause is `cause` with `hog` in its evidence (its process
    name label), then the symptoms `codes` it explains; every field filled, as troubleshoot stores one."""
    evidence = [Sample("wf_cpu_utilization_ratio", 0.97, "ratio", "psutil", {"concurrency": "1"}, created_at),
                Sample("wf_process_cpu_utilization_ratio", 1.9, "cores", "psutil", {"pid": "4242", "name": hog},
                       created_at)]
    top = Finding("tokens.cpu", cause, "tokens", "slow token generation", "other processes compete for the CPU",
                  Priority.HIGH, ["stop_competing_process"], evidence, f"{hog} used 1.9 cores")
    symptoms = [Finding(f"rule.{code.lower()}", code, "tokens", f"symptom {code}", "", Priority.MEDIUM, [], [],
                        f"{code} seen", explained_by=cause) for code in codes]
    record = ActionRecord("stop_process", "pid 4242", "L1", True, "CPU contention", {"cores": 1.9}, {"cores": 0.0},
                          ts=created_at + 5, outcome="relieved")
    comparison = MetricComparison("wf_llm_decode_tokens_per_second", {"concurrency": "1"}, "tokens/s", True, 8, 8,
                                  12.0, 30.0, 1.5, 1.2, 1.8, 0.95, 1.0, 0.0002, Verdict.IMPROVED,
                                  "Mann-Whitney p 0.0002, Cliff's delta 1.00")
    return Incident(
        created_at=created_at, status=status, cause=cause, summary=summary or f"{cause}: {hog} competes for the CPU",
        symptoms=[f"slow token generation ({hog})"], findings=[top, *symptoms],
        actions=actions if actions is not None else [
            IncidentAction("stop_competing_process", f"Stop or renice {hog}", "L2", ActionDisposition.COMMAND,
                           f"renice +19 -p 4242 ({hog})"),
            IncidentAction("lower_threads", "Lower the server's threads", "L1", ActionDisposition.DRY_RUN,
                           "would set n_threads 4", record)],
        validation=[comparison], verdict=verdict,
        fingerprint=fingerprint if fingerprint is not None else {
            "tier": "mid", "hostname": "bench-1", "cpu_model": "Xeon", "os": "Linux", "wfdoctor": "0.13",
            "backend": "llama-cpp-python", "backend_url": "http://127.0.0.1:8080", "model": "SmolLM2"},
        note=note, before_runs=[1, 2], after_runs=[3], matched=[], resolved_at=created_at + 60)
