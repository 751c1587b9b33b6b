"""Every decision limit of the leak verdict, on its boundary.

The series are exact: a ramp of 2^18 bytes per second with an alternating
+-2^16 byte ripple, so every Theil-Sen pair slope of even lag is exactly the
ramp (the median slope is exact, the interval collapses onto it) and no
warm-up breakpoint is found. Growth, level and slope then sit exactly where a
test puts them, and one byte (or one float step) past a limit flips the verdict.
"""

from __future__ import annotations

import math

import numpy as np

from tests.builders import FACTS, REMEDIES
from wfdoctor.analyze.leaks import LeakVerdict, Slope, leak_findings, leak_verdict, trend_and_slope
from wfdoctor.config.limits import LeakLimits
from wfdoctor.model import Priority

LEAKS = FACTS.limits.leaks
FLOOR = float(FACTS.common["memory_leak_bytes_per_minute"])
RAMP = 2.0 ** 18          # bytes per second: above the packaged floor (10 MB/min = 166,667 B/s)
RIPPLE = 2.0 ** 16


def ramp(n: int = 61, step_s: float = 1.0, level: float = 0.0) -> tuple[list[float], list[float]]:
    """n samples `step_s` apart growing RAMP bytes/s, shifted so the median sample is `level` bytes."""
    t = np.arange(n) * step_s
    ripple = np.where(np.arange(n) % 2 == 0, RIPPLE, -RIPPLE)
    y = RAMP * t + ripple
    return list(t), list(y - float(np.median(y)) + level)


def judge(series: tuple[list[float], list[float]], limits: LeakLimits = LEAKS, floor: float = FLOOR) -> LeakVerdict:
    return leak_verdict(*series, limits=limits, floor_bytes_per_minute=floor)


GROWTH = RAMP * 60         # over the 60 s of the default ramp


def test_the_ramp_is_exact() -> None:
    verdict = judge(ramp(level=1e9))
    assert verdict.slope == Slope(RAMP, RAMP, RAMP)
    assert verdict.growth == GROWTH and verdict.plateau_from_s is None and verdict.analysed_from_s == 0.0


def test_growth_of_relative_floor_times_the_level_is_a_leak_one_byte_more_level_is_not() -> None:
    level = GROWTH / LEAKS.relative_floor
    assert level == 50 * GROWTH and GROWTH == LEAKS.relative_floor * level
    leak = judge(ramp(level=level))
    assert leak.verdict == "leak"
    assert leak.explanation == "leaking 15.73 MB/min (95 % CI 15.73 to 15.73), p = 5.2e-30"
    stable = judge(ramp(level=level + 1))
    assert stable.verdict == "stable"
    assert stable.explanation == "growth below the leak floors: 15.73 MB/min (95 % CI 15.73 to 15.73), p = 5.2e-30"


def test_a_slope_of_exactly_the_floor_is_a_leak_one_byte_per_minute_less_floor_is_not() -> None:
    at_floor = RAMP * 60
    assert judge(ramp(level=1e8), floor=at_floor).verdict == "leak"
    assert judge(ramp(level=1e8), floor=at_floor + 1).verdict == "stable"


def test_the_packaged_floor_sits_between_slower_and_faster_ramps() -> None:
    assert FLOOR / 60 < RAMP  # so the other boundary tests are not decided by the floor
    assert judge(ramp(level=1e8), floor=FLOOR).verdict == "leak"


def test_a_p_value_of_exactly_alpha_is_not_significant() -> None:
    p_value = judge(ramp(level=1e8)).trend.p_value  # type: ignore[union-attr]
    at_p = LEAKS.model_copy(update={"alpha": p_value})
    verdict = judge(ramp(level=1e8), limits=at_p)
    assert verdict.verdict == "stable" and verdict.explanation.startswith("no significant upward trend: ")
    just_over = LEAKS.model_copy(update={"alpha": math.nextafter(p_value, 1.0)})
    assert judge(ramp(level=1e8), limits=just_over).verdict == "leak"


def test_a_verdict_needs_min_samples() -> None:
    enough = ramp(n=LEAKS.min_samples, step_s=2.0, level=1e8)  # 38 s: duration is not what decides
    assert judge(enough).verdict == "leak"
    short = (enough[0][1:], enough[1][1:])
    verdict = judge(short)
    assert verdict.verdict == "insufficient data"
    assert verdict.explanation == "19 samples over 36 s: need at least 20 over 20 s"
    assert (verdict.samples, verdict.duration_s, verdict.slope) == (19, 36.0, None)


def test_a_verdict_needs_min_duration_s() -> None:
    t, y = ramp(n=30, level=1e8)
    at_limit = list(np.linspace(0.0, LEAKS.min_duration_s, 30))
    assert at_limit[-1] == LEAKS.min_duration_s
    assert judge((at_limit, y)).verdict == "leak"
    just_short = list(np.linspace(0.0, math.nextafter(LEAKS.min_duration_s, 0.0), 30))
    assert judge((just_short, y)).verdict == "insufficient data"


def rise_then_flat(start_value: float) -> tuple[list[float], list[float]]:
    """The ramp for 40 s, then flat for 80 s (ripple throughout), starting at `start_value` bytes."""
    t = np.arange(120, dtype=float)
    ripple = np.where(np.arange(120) % 2 == 0, RIPPLE, -RIPPLE)
    y = RAMP * np.minimum(t, 40.0) + ripple
    return list(t), list(y - y[0] + start_value)


HEAD_GROWTH = RAMP * 40    # from the first sample to the break at 40 s (both ripple peaks)


def test_a_head_growing_relative_floor_of_its_start_then_flat_is_growth_then_plateau() -> None:
    start_value = HEAD_GROWTH / LEAKS.relative_floor
    assert HEAD_GROWTH == LEAKS.relative_floor * start_value
    plateau = judge(rise_then_flat(start_value))
    assert (plateau.verdict, plateau.plateau_from_s, plateau.analysed_from_s) == ("growth-then-plateau", 40.0, 40.0)
    assert plateau.explanation == ("grew 10.5 MB in the first 40 s, then flat (0.00 MB/min (95 % CI 0.00 to 0.00), "
                                   "p = 0.85)")
    stable = judge(rise_then_flat(start_value + 1))
    assert (stable.verdict, stable.plateau_from_s) == ("stable", None)
    assert stable.explanation.startswith("no significant upward trend: ")


def test_growth_then_plateau_needs_a_head_trend_significant_at_alpha() -> None:
    series = rise_then_flat(1e8)
    head_p = trend_and_slope(np.asarray(series[0][:41]), np.asarray(series[1][:41]))[0].p_value
    assert judge(series, limits=LEAKS.model_copy(update={"alpha": head_p})).verdict == "stable"
    just_over = LEAKS.model_copy(update={"alpha": math.nextafter(head_p, 1.0)})
    assert judge(series, limits=just_over).verdict == "growth-then-plateau"


def test_a_leak_asks_for_the_profiler_and_a_plateau_for_nothing() -> None:
    [leak] = leak_findings(judge(ramp(level=1e8)), 42, "app", REMEDIES)
    assert (leak.rule_id, leak.code, leak.priority) == ("memory.leak", "MEMORY_LEAK", Priority.HIGH)
    assert leak.cause == "app (pid 42) grows steadily: a leak"
    assert leak.actions == ["run_memory_profiler"]
    assert leak.evidence[0].value == RAMP * 60
    plateau = LeakVerdict("growth-then-plateau", "grew", 61, 60.0, slope=Slope(0.0, -1.0, 1.0))
    [finding] = leak_findings(plateau, 42, "app", REMEDIES)
    assert (finding.code, finding.priority, finding.actions) == ("MEMORY_GROWTH_PLATEAU", Priority.INFO, [])
    assert leak_findings(judge(ramp(level=1e12)), 42, "app", REMEDIES) == []
