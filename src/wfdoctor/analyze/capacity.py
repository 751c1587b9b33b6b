"""Capacity under the tier's targets (pure): which level to try next, and whether a level meets the targets.

The search reads nothing but the pass/fail results so far, so `app/` drives the
same search over concurrent streams (`tokens --capacity`) and over council sizes
(`council --sweep`), measuring only the levels it asks for. It doubles from
`start` while levels pass (1, 2, 4, ...: a few levels reach a high capacity),
and once one fails it bisects between the highest level passing below that
failure and the failure itself, so the answer is exact without measuring every
level. It assumes that more load never helps: a level that passes above a
failing one is ignored, never taken as the answer.

A level passes when none of its requests failed, its TTFT at
`ttft_percentile` is at most the tier's `ttft_seconds`, and its decode rate at
`decode_percentile` is at least the tier's `decode_tokens_per_second`
(facts: `limits.capacity`). Goodput is the requests per second that met both
targets on their own.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from wfdoctor.analyze.quantiles import percentile
from wfdoctor.analyze.server_view import counted_waiting
from wfdoctor.analyze.tokens import RequestMetrics
from wfdoctor.config.limits import CapacityLimits, TokenLimits

FAILURES = "failed requests"
TTFT = "TTFT"
DECODE = "decode rate"


@dataclass(frozen=True)
class Bounds:
    """What the results so far establish: the highest level passing below the lowest failure (0: none)."""

    passed: int
    failed: int | None  # the lowest failing level; None: none failed yet


def bounds(results: Mapping[int, bool]) -> Bounds:
    failed = min((level for level, ok in results.items() if not ok), default=None)
    below = [level for level, ok in results.items() if ok and (failed is None or level < failed)]
    return Bounds(max(below, default=0), failed)


def next_level(results: Mapping[int, bool], start: int, ceiling: int) -> int | None:
    """The level to measure next, or None when the results settle the capacity.

    Doubling while nothing failed (never past `ceiling`), then bisection between the
    highest passing level and the lowest failing one.
    """
    known = bounds(results)
    if known.failed is None:
        if known.passed == 0:
            return min(start, ceiling)
        return min(known.passed * 2, ceiling) if known.passed < ceiling else None
    middle = (known.passed + known.failed) // 2
    return middle if middle > known.passed else None


def capacity_of(results: Mapping[int, bool]) -> int:
    """The capacity the results establish: the highest level passing below the lowest failure."""
    return bounds(results).passed


@dataclass(frozen=True)
class Slo:
    """The tier's targets a level is held to."""

    ttft_s: float
    decode_tps: float


@dataclass(frozen=True)
class LevelVerdict:
    """One level measured against the targets."""

    concurrency: int
    requests: int
    failed: int
    ttft_s: float | None        # the level's TTFT at limits.capacity.ttft_percentile
    decode_tps: float | None    # the level's decode rate at limits.capacity.decode_percentile
    good: int                   # requests that met both targets on their own
    goodput_rps: float | None   # good requests per second of the level's wall time
    misses: list[str]           # the targets missed (FAILURES, TTFT, DECODE); empty: the level passes
    passed: bool
    # Where the late requests' first tokens went (the requests over the TTFT target that the server reported
    # its load and prefill times for: llama.cpp's timings, Ollama's durations), as shares of their TTFTs summed
    # (one split that adds up to 1, the slowest requests weighing most); None where no late request has them.
    late_timed: int = 0                         # late requests with the server's times
    late_load_share: float | None = None        # loading the model
    late_prefill_share: float | None = None     # the server's prompt processing
    late_wait_share: float | None = None        # the rest before the prefill began: queueing and transport
    # The most requests the server itself reported waiting for a slot at one reading (its gauge, read during the
    # level: llama.cpp's requests_deferred, vLLM's num_requests_waiting); None where it does not say. A floor:
    # llama.cpp counts only the requests its HTTP threads took in.
    server_waiting: float | None = None


def _good(request: RequestMetrics, slo: Slo) -> bool:
    return (request.ok and request.ttft_s is not None and request.ttft_s <= slo.ttft_s
            and request.decode_tps is not None and request.decode_tps >= slo.decode_tps)


def judge_level(concurrency: int, requests: list[RequestMetrics], wall_s: float, slo: Slo,
                limits: CapacityLimits, server_waiting: float | None = None) -> LevelVerdict:
    """Whether one measured level meets the targets, and which it misses (a level with no answer misses all).

    `server_waiting`: the most requests the server reported waiting during the level, where it says.
    """
    answered = [r for r in requests if r.ok]
    ttft = percentile([r.ttft_s for r in answered if r.ttft_s is not None], limits.ttft_percentile)
    decode = percentile([r.decode_tps for r in answered if r.decode_tps is not None], limits.decode_percentile)
    failed = len(requests) - len(answered)
    # A target is missed when measured and missed; a level where nothing answered misses by its failures alone.
    misses = [name for name, missed in ((FAILURES, failed > 0 or not requests),
                                        (TTFT, ttft is not None and ttft > slo.ttft_s),
                                        (DECODE, decode is not None and decode < slo.decode_tps)) if missed]
    good = sum(_good(r, slo) for r in requests)
    timed = [_ttft_seconds(r) for r in answered
             if r.ttft_s and r.ttft_s > slo.ttft_s and "prefill_s" in r.server]
    load, prefill, wait = _split(timed) if timed else (None, None, None)
    return LevelVerdict(concurrency=concurrency, requests=len(requests), failed=failed, ttft_s=ttft,
                        decode_tps=decode, good=good, goodput_rps=good / wall_s if wall_s > 0 else None,
                        misses=misses, passed=not misses, late_timed=len(timed), late_load_share=load,
                        late_prefill_share=prefill, late_wait_share=wait, server_waiting=server_waiting)


def _split(timed: list[tuple[float, float, float]]) -> tuple[float, float, float]:
    """(load, prefill, wait) shares of the summed TTFT of requests given as (TTFT, load, prefill) seconds."""
    total = sum(ttft for ttft, _, _ in timed)
    load = sum(load for _, load, _ in timed) / total
    prefill = sum(prefill for _, _, prefill in timed) / total
    return load, prefill, max(1.0 - load - prefill, 0.0)


def _ttft_seconds(request: RequestMetrics) -> tuple[float, float, float]:
    """(TTFT, load, prefill) seconds of one request, the server's own load and prefill clipped to its TTFT."""
    ttft = request.ttft_s or 0.0
    load = min(request.server.get("load_s", 0.0), ttft)
    return ttft, load, min(request.server["prefill_s"], ttft - load)


@dataclass(frozen=True)
class CapacityVerdict:
    """The answer: how many streams, what limits them, in one sentence."""

    streams: int                # 0: not even one stream meets the targets
    limit: str                  # what the first failing level missed; "" when the search reached its ceiling
    sentence: str


def _why(level: LevelVerdict, slo: Slo, limits: CapacityLimits) -> str:
    """What a failing level missed, with its numbers."""
    parts = []
    if FAILURES in level.misses:
        parts.append(f"{level.failed} of {level.requests} requests failed")
    if TTFT in level.misses and level.ttft_s is not None:
        parts.append(f"TTFT p{limits.ttft_percentile:g} {level.ttft_s:.2f} s > {slo.ttft_s:g} s")
    if DECODE in level.misses and level.decode_tps is not None:
        parts.append(f"decode p{limits.decode_percentile:g} {level.decode_tps:.1f} < {slo.decode_tps:g} tokens/s")
    return ", ".join(parts)


def _ttft_cause(failing: LevelVerdict, levels: list[LevelVerdict], ttft_percentile: float, limits: TokenLimits,
                slots: int | None) -> tuple[str, str]:
    """Why the failing level's first tokens are late, as far as its measurements show: (cause, evidence); the
    cause is "" when they show none.

    Where the server reports its load and prefill times, the late requests'
    TTFT splits into loading the model (COLD_MODEL_LOAD's share), the prefill
    (PREFILL_DOMINATED's share) and the wait before them: queueing only with
    other streams to queue behind and when the wait is most of it. Without the
    server's times, a TTFT that grows with the streams as a queue's does while
    each stream's decode rate holds, on a server that does not say it runs
    that many at once (`slots`), is queueing: SERVER_SERIALISES' test, here on
    the TTFT the target is held to and against the lowest level measured.
    Growth with the decode rate falling is shared compute, which is not named.
    A server that reported requests waiting for a slot says so in the
    evidence; without its times that alone names queueing (the wait was in its
    queue, not the client's or the network's).
    """
    waited = failing.server_waiting is not None and failing.server_waiting >= 1 and failing.concurrency > 1
    queue = f"; {counted_waiting(failing.server_waiting or 0.0)}" if waited else ""
    if failing.late_timed:
        load, prefill, wait = failing.late_load_share or 0.0, failing.late_prefill_share or 0.0, \
            failing.late_wait_share or 0.0
        split = (f"the late requests' TTFT is {load:.0%} model load, {prefill:.0%} prefill and "
                 f"{wait:.0%} waiting before them ({failing.late_timed} with the server's times){queue}")
        if load >= limits.load_share_of_ttft:
            return "model load", split
        if prefill >= limits.prefill_share_of_ttft:
            return "prefill", split
        if wait >= 0.5 and failing.concurrency > 1:
            return "queueing", split
        return "", split
    base = min((level for level in levels if level.ttft_s and level.concurrency < failing.concurrency),
               key=lambda level: level.concurrency, default=None)
    if base is None or not base.ttft_s or failing.ttft_s is None:
        return ("queueing", queue.removeprefix("; ")) if waited else ("", "")
    growth = failing.ttft_s / base.ttft_s
    ratio = failing.concurrency / base.concurrency
    decode_kept = failing.decode_tps / base.decode_tps if failing.decode_tps and base.decode_tps else None
    said = f"TTFT p{ttft_percentile:g} {growth:.1f}x that at {base.concurrency} {streams_word(base.concurrency)}"
    if decode_kept is not None:
        said += f", decode rate {decode_kept:.0%} of it"
    parallel = slots is not None and slots >= failing.concurrency
    queued = growth >= limits.serial_ttft_growth * ratio and decode_kept is not None and \
        decode_kept >= limits.decode_holds and not parallel
    return ("queueing" if queued or waited else ""), said + queue


def _limit(failing: LevelVerdict, levels: list[LevelVerdict], slo: Slo, limits: CapacityLimits,
           token_limits: TokenLimits, slots: int | None) -> tuple[str, str]:
    """The failing level's limit, named as far as the evidence goes, and why.

    For example ("TTFT (queueing)", "at 4 streams: TTFT p95 0.40 s > 0.2 s; ...").
    """
    cause, evidence = _ttft_cause(failing, levels, limits.ttft_percentile, token_limits, slots) \
        if TTFT in failing.misses else ("", "")
    names = [f"{TTFT} ({cause})" if name == TTFT and cause else name for name in failing.misses]
    why = f"at {failing.concurrency} {streams_word(failing.concurrency)}: {_why(failing, slo, limits)}"
    return " and ".join(names), why + (f"; {evidence}" if evidence else "")


def streams_word(count: int) -> str:
    """"stream" or "streams", as `count` needs."""
    return "stream" if count == 1 else "streams"


def conclude(levels: list[LevelVerdict], ceiling: int, model: str, tier: str, slo: Slo,
             limits: CapacityLimits, token_limits: TokenLimits, interrupted: bool = False,
             slots: int | None = None) -> CapacityVerdict:
    """The capacity the measured levels establish, said in one sentence that leads with the answer.

    `slots`: the requests the server says it generates at once (llama.cpp's /props), where it says.

    An interrupted search says only what its finished levels prove: at least the highest level that passed.
    """
    known = bounds({level.concurrency: level.passed for level in levels})
    streams = known.passed
    within = f"within the {tier} tier's targets (TTFT <= {slo.ttft_s:g} s, decode >= {slo.decode_tps:g} tokens/s)"
    if interrupted:
        return CapacityVerdict(streams, "", f"interrupted before the search settled: at least {streams} concurrent "
                               f"{streams_word(streams)} of {model} {within} in the levels "
                               f"finished")
    if known.failed is None:
        return CapacityVerdict(streams, "", f"this machine serves at least {streams} concurrent streams of {model} "
                               f"{within}; the search stopped at its ceiling of {ceiling} (--max-concurrency)")
    failing = next(level for level in levels if level.concurrency == known.failed)
    limit, why = _limit(failing, levels, slo, limits, token_limits, slots)
    if streams == 0:
        return CapacityVerdict(0, limit, f"not even 1 stream of {model} meets the {tier} tier's targets; the limit "
                               f"is {limit} ({why})")
    return CapacityVerdict(streams, limit, f"this machine serves {streams} concurrent "
                           f"{streams_word(streams)} of {model} {within}; the limit is {limit} "
                           f"({why})")
