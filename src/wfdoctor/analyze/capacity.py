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

import numpy as np

from wfdoctor.analyze.tokens import RequestMetrics
from wfdoctor.config.limits import CapacityLimits

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


def _percentile(values: list[float], percentile: float) -> float | None:
    return float(np.percentile(values, percentile)) if values else None


def _good(request: RequestMetrics, slo: Slo) -> bool:
    return (request.ok and request.ttft_s is not None and request.ttft_s <= slo.ttft_s
            and request.decode_tps is not None and request.decode_tps >= slo.decode_tps)


def judge_level(concurrency: int, requests: list[RequestMetrics], wall_s: float, slo: Slo,
                limits: CapacityLimits) -> LevelVerdict:
    """Whether one measured level meets the targets, and which it misses (a level with no answer misses all)."""
    answered = [r for r in requests if r.ok]
    ttft = _percentile([r.ttft_s for r in answered if r.ttft_s is not None], limits.ttft_percentile)
    decode = _percentile([r.decode_tps for r in answered if r.decode_tps is not None], limits.decode_percentile)
    failed = len(requests) - len(answered)
    # A target is missed when measured and missed; a level where nothing answered misses by its failures alone.
    misses = [name for name, missed in ((FAILURES, failed > 0 or not requests),
                                        (TTFT, ttft is not None and ttft > slo.ttft_s),
                                        (DECODE, decode is not None and decode < slo.decode_tps)) if missed]
    good = sum(_good(r, slo) for r in requests)
    return LevelVerdict(concurrency=concurrency, requests=len(requests), failed=failed, ttft_s=ttft,
                        decode_tps=decode, good=good, goodput_rps=good / wall_s if wall_s > 0 else None,
                        misses=misses, passed=not misses)


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


def streams_word(count: int) -> str:
    """"stream" or "streams", as `count` needs."""
    return "stream" if count == 1 else "streams"


def conclude(levels: list[LevelVerdict], ceiling: int, model: str, tier: str, slo: Slo,
             limits: CapacityLimits, interrupted: bool = False) -> CapacityVerdict:
    """The capacity the measured levels establish, said in one sentence that leads with the answer.

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
    names = [TTFT + (" (queueing)" if failing.concurrency > 1 else "") if name == TTFT else name
             for name in failing.misses]
    limit = " and ".join(names)
    why = f"at {failing.concurrency} {streams_word(failing.concurrency)}: " \
          f"{_why(failing, slo, limits)}"
    if streams == 0:
        return CapacityVerdict(0, limit, f"not even 1 stream of {model} meets the {tier} tier's targets; the limit "
                               f"is {limit} ({why})")
    return CapacityVerdict(streams, limit, f"this machine serves {streams} concurrent "
                           f"{streams_word(streams)} of {model} {within}; the limit is {limit} "
                           f"({why})")
