"""Council metrics and diagnosis (pure).

Definitions (docs/council.md):
- first token / finish: member times from the council's start.
- sync delay: last finish - median finish (successful members).
- first-token spread: latest - earliest first token.
- busy: a member's streaming time (first token -> end); efficiency =
  sum(busy) / (n x wall): 1/n when members take turns, near 1 when they overlap.
- speed-up: the same members run one after another (measured) / the council's wall.
- alpha: the contention model effective = TPS x n / (1 + (n - 1) alpha) solved
  with effective / TPS = speed-up: alpha = (n / speed-up - 1) / (n - 1);
  0 = members run fully in parallel, 1 = one at a time.

The limits of the diagnosis come from the facts (`limits.council`, and the sync
delay warning for a straggler's least delay); its actions from the remedies.
"""

from __future__ import annotations

from dataclasses import dataclass
from statistics import fmean, median

from wfdoctor.analyze.capacity import capacity_of
from wfdoctor.analyze.remedies import RemedyId
from wfdoctor.config.limits import CouncilLimits
from wfdoctor.config.remedies import DEFAULT, Remedies, pick
from wfdoctor.measure.council import CouncilRun, MemberRun
from wfdoctor.model import Finding, Priority, Sample

ROW = "council_sync_delays"
SYMPTOM = "Council sync delays"
SOURCE = "wfdoctor council (measured)"


@dataclass(frozen=True)
class MemberMetrics:
    name: str
    url: str
    status: str
    retries: int
    error: str
    ttft_s: float | None
    first_token_s: float | None
    finish_s: float | None
    decode_tps: float | None
    output_tokens: int
    busy_s: float


def member_metrics(council: CouncilRun, run: MemberRun) -> MemberMetrics:
    answer = run.answer
    ns = 1e9
    if answer is None or not answer.token_ns or answer.done_ns is None:
        return MemberMetrics(name=run.spec.name, url=run.spec.url, status=run.status, retries=run.retries,
                             error=run.error, ttft_s=None, first_token_s=None, finish_s=None, decode_tps=None,
                             output_tokens=0, busy_s=0.0)
    tokens = len(answer.pieces)
    streaming = (answer.done_ns - answer.token_ns[0]) / ns
    return MemberMetrics(
        name=run.spec.name, url=run.spec.url, status=run.status, retries=run.retries, error=run.error,
        ttft_s=(answer.token_ns[0] - answer.sent_ns) / ns,
        first_token_s=(answer.token_ns[0] - council.started_ns) / ns,
        finish_s=(answer.done_ns - council.started_ns) / ns,
        decode_tps=(tokens - 1) / streaming if tokens > 1 and streaming > 0 else None,
        output_tokens=tokens, busy_s=streaming,
    )


@dataclass(frozen=True)
class CouncilMetrics:
    n: int
    wall_s: float
    ok: int
    failed: int
    cancelled: int
    sync_delay_s: float | None
    first_token_spread_s: float | None
    efficiency: float | None
    speedup: float | None
    alpha: float | None
    sequential_wall_s: float | None
    solo_decode_tps: float | None
    council_decode_tps: float | None
    consensus_s: float | None
    consensus_members: list[str]
    members: list[MemberMetrics]


@dataclass(frozen=True)
class Baseline:
    """The same members run one after another: their total time and their decode rate alone."""

    wall_s: float
    solo_decode_tps: float | None


def baseline_of(sequential: CouncilRun, first: int) -> Baseline:
    """The baseline for the first `first` members of a sequential run."""
    metrics = [member_metrics(sequential, run) for run in sequential.members[:first]]
    durations = [(run.attempts[-1].done_ns or 0) - run.attempts[0].sent_ns
                 for run in sequential.members[:first] if run.attempts]
    rates = [m.decode_tps for m in metrics if m.decode_tps is not None]
    return Baseline(sum(durations) / 1e9, fmean(rates) if rates else None)


def council_metrics(council: CouncilRun, baseline: Baseline | None = None) -> CouncilMetrics:
    members = [member_metrics(council, run) for run in council.members]
    ok = [m for m in members if m.status == "ok" and m.finish_s is not None]
    n = len(members)
    finishes = [m.finish_s for m in ok if m.finish_s is not None]
    firsts = [m.first_token_s for m in ok if m.first_token_s is not None]
    wall = council.wall_s
    speedup = alpha = None
    if baseline is not None and wall > 0:
        speedup = baseline.wall_s / wall
        if n > 1 and speedup > 0:  # an empty baseline (nothing answered alone) gives no alpha
            alpha = (n / speedup - 1) / (n - 1)
    rates = [m.decode_tps for m in ok if m.decode_tps is not None]
    return CouncilMetrics(
        n=n, wall_s=wall, ok=len(ok), failed=sum(m.status == "failed" for m in members),
        cancelled=sum(m.status == "cancelled" for m in members),
        sync_delay_s=max(finishes) - median(finishes) if len(finishes) > 1 else None,
        first_token_spread_s=max(firsts) - min(firsts) if len(firsts) > 1 else None,
        efficiency=sum(m.busy_s for m in ok) / (n * wall) if wall > 0 and n else None,
        speedup=speedup, alpha=alpha, sequential_wall_s=baseline.wall_s if baseline else None,
        solo_decode_tps=baseline.solo_decode_tps if baseline else None,
        council_decode_tps=fmean(rates) if rates else None,
        consensus_s=(council.consensus_ns - council.started_ns) / 1e9 if council.consensus_ns else None,
        consensus_members=list(council.consensus),
        members=members,
    )


def council_samples(metrics: CouncilMetrics) -> list[Sample]:
    """Council-level numbers as Samples (the triage rules and the history read these)."""
    labels = {"members": str(metrics.n)}
    values = [
        ("wf_council_wall_seconds", metrics.wall_s, "s"),
        ("wf_council_sync_delay_seconds", metrics.sync_delay_s, "s"),
        ("wf_council_first_token_spread_seconds", metrics.first_token_spread_s, "s"),
        ("wf_council_efficiency_ratio", metrics.efficiency, "ratio"),
        ("wf_council_speedup_ratio", metrics.speedup, "factor"),
        ("wf_council_contention_alpha", metrics.alpha, "factor"),
        ("wf_council_failed_members", float(metrics.failed), "members"),
    ]
    out = [Sample(metric, value, unit, SOURCE, labels) for metric, value, unit in values if value is not None]
    for member in metrics.members:
        member_labels = labels | {"member": member.name, "url": member.url}
        for metric, value, unit in (("wf_council_member_ttft_seconds", member.ttft_s, "s"),
                                    ("wf_council_member_finish_seconds", member.finish_s, "s"),
                                    ("wf_council_member_decode_tokens_per_second", member.decode_tps, "tokens/s")):
            if value is not None:
                out.append(Sample(metric, value, unit, SOURCE, member_labels))
    return out


def _finding(code: str, cause: str, priority: Priority, summary: str, actions: list[str],
             evidence: list[Sample]) -> Finding:
    return Finding(rule_id=f"council.{code.lower()}", code=code, row=ROW, symptom=SYMPTOM, cause=cause,
                   priority=priority, actions=actions, evidence=evidence, summary=summary)


def _sample(metric: str, value: float, unit: str, **labels: str) -> Sample:
    return Sample(metric, value, unit, SOURCE, labels)


def _actions(remedies: Remedies, remedy_id: RemedyId, implementations: set[str]) -> list[str]:
    """The remedy's actions for every implementation among the members, each once, in a stable order."""
    return pick(remedies.by_id[remedy_id].actions, implementations)


def _lags(last: MemberMetrics, ok: list[MemberMetrics], middle: float, limits: CouncilLimits) -> bool:
    """The last member finishes far behind: against the median of three or more, against the other of two.

    Of two members the median is their mean, so the later one can never reach `straggler_ratio` x the
    median unless it takes three times as long; it is judged against the other member instead.
    """
    if len(ok) == 2:
        other = min(m.finish_s or 0.0 for m in ok)
        return (last.finish_s or 0.0) >= limits.pair_straggler_ratio * other
    return (last.finish_s or 0.0) >= limits.straggler_ratio * middle


def stragglers(metrics: CouncilMetrics, implementation_of: dict[str, str], limits: CouncilLimits,
               sync_delay_warning_s: float, remedies: Remedies) -> list[Finding]:
    """Failed members, and the one member that finishes far behind the others (by `sync_delay_warning_s` or more
    after the median finish)."""
    findings = []
    for member in metrics.members:
        if member.status == "failed":
            findings.append(_finding(
                "COUNCIL_MEMBER_FAILED", "a member gave no usable answer after its retries", Priority.HIGH,
                f"{member.name} ({member.url}) failed after {member.retries} retries: {member.error}",
                remedies.actions(RemedyId.COUNCIL_MEMBER_FAILED, implementation_of.get(member.url, DEFAULT)),
                [_sample("wf_council_member_retries", float(member.retries), "retries", member=member.name)]))
    ok = [m for m in metrics.members if m.finish_s is not None]
    if len(ok) < 2:
        return findings
    middle = median(m.finish_s for m in ok if m.finish_s is not None)
    last = max(ok, key=lambda m: m.finish_s or 0.0)
    if last.finish_s is None or not _lags(last, ok, middle, limits) or last.finish_s - middle < sync_delay_warning_s:
        return findings
    others_ttft = median(m.ttft_s for m in ok if m is not last and m.ttft_s is not None)
    slow_start = (last.ttft_s or 0.0) - others_ttft >= limits.slow_start_share * (last.finish_s - middle)
    why = (f"its first token came after {last.ttft_s:.2f} s against {others_ttft:.2f} s for the others"
           if slow_start else f"it decodes at {last.decode_tps or 0:.1f} tokens/s")
    findings.append(_finding(
        "COUNCIL_STRAGGLER", "one member holds the council back", Priority.MEDIUM,
        f"{last.name} ({last.url}) finished at {last.finish_s:.2f} s, {last.finish_s - middle:.2f} s after the "
        f"median member: {why}",
        remedies.actions(RemedyId.COUNCIL_STRAGGLER, implementation_of.get(last.url, DEFAULT)),
        [_sample("wf_council_member_finish_seconds", last.finish_s, "s", member=last.name),
         _sample("wf_council_member_ttft_seconds", last.ttft_s or 0.0, "s", member=last.name),
         _sample("wf_council_member_finish_seconds", middle, "s", member="median")]))
    return findings


def parallelism(metrics: CouncilMetrics, implementation_of: dict[str, str], limits: CouncilLimits,
                remedies: Remedies) -> list[Finding]:
    """Do members really run at once? Serialised server, or CPU contention, with the measured alpha."""
    if metrics.alpha is None or metrics.n < 2 or not metrics.solo_decode_tps or not metrics.council_decode_tps:
        return []
    holds = metrics.council_decode_tps / metrics.solo_decode_tps
    evidence = [_sample("wf_council_contention_alpha", metrics.alpha, "factor", members=str(metrics.n)),
                _sample("wf_council_speedup_ratio", metrics.speedup or 0.0, "factor", members=str(metrics.n)),
                _sample("wf_council_member_decode_tokens_per_second", metrics.council_decode_tps, "tokens/s",
                        members=str(metrics.n)),
                _sample("wf_council_member_decode_tokens_per_second", metrics.solo_decode_tps, "tokens/s",
                        members="1 (alone)")]
    urls = sorted({m.url for m in metrics.members})
    where = ", ".join(f"{url} ({implementation_of.get(url, '?')})" for url in urls)
    implementations = {implementation_of.get(url, DEFAULT) for url in urls}
    if metrics.alpha >= limits.serial_alpha and holds >= limits.decode_holds:
        return [_finding(
            "COUNCIL_SERIALISED", "the server runs one member at a time: members queue instead of running together",
            Priority.HIGH,
            f"measured alpha {metrics.alpha:.2f} (1 = one at a time): the council took {metrics.wall_s:.2f} s, "
            f"{metrics.speedup:.2f}x faster than members run one after another ({metrics.sequential_wall_s:.2f} s), "
            f"while each member decodes at {holds:.0%} of its solo rate; server: {where}",
            _actions(remedies, RemedyId.SERIALISED_SERVER, implementations), evidence)]
    if metrics.alpha >= limits.contention_alpha and holds < limits.contention_decode:
        return [_finding(
            "COUNCIL_CONTENTION", "members run in parallel but compete for the same CPU/GPU", Priority.MEDIUM,
            f"measured alpha {metrics.alpha:.2f}: members decode at {holds:.0%} of their solo rate "
            f"({metrics.council_decode_tps:.1f} vs {metrics.solo_decode_tps:.1f} tokens/s); "
            f"speed-up {metrics.speedup:.2f}x for {metrics.n} members; servers: {where}",
            _actions(remedies, RemedyId.COUNCIL_CONTENTION, implementations), evidence)]
    return []


CUT = ("connection cut", "server disconnected")


def interrupted(metrics: CouncilMetrics, implementation_of: dict[str, str], remedies: Remedies) -> list[Finding]:
    """Members cut off on a shared llama-cpp-python server: its default interrupt_requests at work."""
    shared = {url for url in implementation_of if sum(m.url == url for m in metrics.members) > 1}
    cut = [m for m in metrics.members if m.url in shared and any(text in m.error for text in CUT)
           and implementation_of.get(m.url) == "llama-cpp-python"]
    if not cut:
        return []
    return [_finding(
        "COUNCIL_INTERRUPTED", "llama-cpp-python cancels the running stream when another member's request "
        "arrives (its default interrupt_requests=True)", Priority.HIGH,
        f"{len(cut)} of {metrics.n} members were cut off on {', '.join(sorted({m.url for m in cut}))}",
        _actions(remedies, RemedyId.STREAMS_INTERRUPTED, {implementation_of[m.url] for m in cut}),
        [_sample("wf_council_failed_members", float(len(cut)), "members", members=str(metrics.n))])]


def diagnose_council(metrics: CouncilMetrics, implementation_of: dict[str, str], *, limits: CouncilLimits,
                     sync_delay_warning_s: float, remedies: Remedies) -> list[Finding]:
    """Every cause the council's measurements support, most urgent first."""
    findings = stragglers(metrics, implementation_of, limits, sync_delay_warning_s, remedies) + \
        parallelism(metrics, implementation_of, limits, remedies) + interrupted(metrics, implementation_of, remedies)
    return sorted(findings, key=lambda f: f.priority.rank)


@dataclass(frozen=True)
class SizeVerdict:
    recommended: int
    explanation: str


def size_meets(metrics: CouncilMetrics, ttft_target_s: float, decode_target_tps: float) -> tuple[bool, str]:
    """Whether every member of one council met the tier's TTFT and decode targets, and its numbers in words.

    A council waits for all its members, so its worst member decides (not a percentile, as for streams).
    """
    ok = [m for m in metrics.members if m.status == "ok"]
    worst_ttft = max((m.ttft_s for m in ok if m.ttft_s is not None), default=None)
    slowest = min((m.decode_tps for m in ok if m.decode_tps is not None), default=None)
    meets = (len(ok) == metrics.n and worst_ttft is not None and worst_ttft <= ttft_target_s
             and slowest is not None and slowest >= decode_target_tps)
    failed = metrics.n - len(ok)
    ttft = f"{worst_ttft:.2f} s" if worst_ttft is not None else "not measured"
    decode = f"{slowest:.1f} tokens/s" if slowest is not None else "not measured"
    return meets, (f"n={metrics.n}: worst TTFT {ttft}, slowest decode {decode}"
                   f"{f', {failed} of {metrics.n} members failed' if failed else ''}{'' if meets else ' (misses)'}")


def recommend_size(sweep: list[CouncilMetrics], ttft_target_s: float, decode_target_tps: float,
                   tier_default: int) -> SizeVerdict:
    """The largest council meeting the targets, as the capacity search settles it (analyze/capacity.py):
    the highest size whose every member meets them below the smallest size that misses."""
    verdicts = {metrics.n: size_meets(metrics, ttft_target_s, decode_target_tps)
                for metrics in sorted(sweep, key=lambda m: m.n)}
    best = capacity_of({n: meets for n, (meets, _) in verdicts.items()})
    target = (f"targets: TTFT <= {ttft_target_s:g} s, decode >= {decode_target_tps:g} tokens/s; "
              f"the tier's default council size is {tier_default}")
    return SizeVerdict(best, f"{'; '.join(reason for _, reason in verdicts.values())} ({target})")
