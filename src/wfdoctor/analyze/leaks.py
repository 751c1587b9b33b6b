"""Is memory leaking? A verdict by statistics, not by first-vs-last (pure).

Steps:
1. Thin long series to at most 1,000 points by block means (the tests are
   O(n^2) in pairs; block means keep any trend).
2. Find a warm-up or a plateau: the best single breakpoint of a two-segment
   linear fit, kept only when BIC prefers it over one line.
3. On the part after a decelerating breakpoint (or the whole series):
   Mann-Kendall trend test with the Yue-Wang correction for autocorrelation
   (variance inflated by 1 + 2 sum (1 - k/n) rho_k over the significant lags
   of the detrended series), and the Theil-Sen slope with Sen's confidence
   interval taken with that corrected variance.
4. Leak: p < alpha, the interval's lower bound > 0, and the slope above both
   the absolute floor (facts: `common.memory_leak_bytes_per_minute`) and a
   relative floor (share of the level per window); alpha, the relative floor
   and the least data for a verdict are the facts' `limits.leaks`. Growth-then-plateau: the head grew significantly, the
   tail does not. Step-wise growth: jumps in the first differences of block
   means, listed.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from wfdoctor.analyze.remedies import RemedyId
from wfdoctor.config.limits import LeakLimits
from wfdoctor.config.remedies import DEFAULT, Remedies
from wfdoctor.model import Finding, Priority, Sample

MAX_POINTS = 1000
RELATIVE_RESIDUAL_FLOOR = 1e-20  # squared-residual share below which a fit is exact up to float rounding


@dataclass(frozen=True)
class TrendTest:
    n: int
    s: float
    z: float
    p_value: float
    variance_factor: float


@dataclass(frozen=True)
class Slope:
    per_second: float
    low: float
    high: float


@dataclass(frozen=True)
class Step:
    at_s: float
    size: float


@dataclass(frozen=True)
class LeakVerdict:
    verdict: str                 # "leak", "growth-then-plateau", "stable", "insufficient data"
    explanation: str
    samples: int
    duration_s: float
    slope: Slope | None = None
    trend: TrendTest | None = None
    analysed_from_s: float = 0.0   # start of the analysed part (after warm-up), from the first sample
    plateau_from_s: float | None = None
    growth: float = 0.0          # over the analysed part, in the series' unit
    steps: list[Step] = field(default_factory=list)
    exhaustion_s: float | None = None

    @property
    def per_minute(self) -> tuple[float, float, float] | None:
        if self.slope is None:
            return None
        return self.slope.per_second * 60, self.slope.low * 60, self.slope.high * 60


def _normal_sf(z: float) -> float:
    return 0.5 * math.erfc(z / math.sqrt(2))


def thin(t: np.ndarray, y: np.ndarray, max_points: int = MAX_POINTS) -> tuple[np.ndarray, np.ndarray]:
    """Block means down to at most `max_points` points."""
    if len(y) <= max_points:
        return t, y
    size = math.ceil(len(y) / max_points)
    cut = len(y) // size * size
    return t[:cut].reshape(-1, size).mean(axis=1), y[:cut].reshape(-1, size).mean(axis=1)


def _pairwise(t: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Signs and slopes of every pair i < j."""
    i, j = np.triu_indices(len(y), k=1)
    dy = y[j] - y[i]
    dt = t[j] - t[i]
    slopes = dy[dt > 0] / dt[dt > 0]
    return np.sign(dy), slopes


def _autocorrelation_factor(residuals: np.ndarray) -> float:
    """Yue-Wang: 1 + 2 sum (1 - k/n) rho_k, over lags up to the first insignificant one."""
    n = len(residuals)
    centred = residuals - residuals.mean()
    denominator = float(np.dot(centred, centred))
    if denominator == 0:
        return 1.0
    limit = 1.96 / math.sqrt(n)
    factor = 1.0
    for lag in range(1, n // 2):
        rho = float(np.dot(centred[:-lag], centred[lag:])) / denominator
        if abs(rho) <= limit:
            break
        factor += 2 * (1 - lag / n) * rho
    return max(factor, 1.0)


def trend_and_slope(t: np.ndarray, y: np.ndarray, confidence: float = 0.95) -> tuple[TrendTest, Slope]:
    """Mann-Kendall (Yue-Wang corrected) and Theil-Sen with Sen's interval."""
    n = len(y)
    signs, slopes = _pairwise(t, y)
    s = float(signs.sum())
    _, counts = np.unique(y, return_counts=True)
    ties = float(np.sum(counts * (counts - 1) * (2 * counts + 5)))
    variance = (n * (n - 1) * (2 * n + 5) - ties) / 18
    median_slope = float(np.median(slopes)) if slopes.size else 0.0
    factor = _autocorrelation_factor(y - median_slope * (t - t[0]))
    variance *= factor
    z = 0.0 if s == 0 or variance <= 0 else (s - math.copysign(1, s)) / math.sqrt(variance)
    p_value = 2 * _normal_sf(abs(z))
    z_crit = math.sqrt(2) * _inverse_erf(confidence)
    spread = z_crit * math.sqrt(max(variance, 0.0))
    count = slopes.size
    low_index = int(max(math.floor((count - spread) / 2), 0))
    high_index = int(min(math.ceil((count + spread) / 2), count - 1))
    # Two order statistics by partition, not a sort: O(n) on the n^2 / 2 slopes.
    bounds = np.partition(slopes, [low_index, high_index]) if count else slopes
    low = float(bounds[low_index]) if count else 0.0
    high = float(bounds[high_index]) if count else 0.0
    return TrendTest(n, s, z, p_value, factor), Slope(median_slope, low, high)


def _inverse_erf(x: float) -> float:
    """erf^-1 by Newton's method (enough for confidence levels)."""
    guess = 0.0
    for _ in range(50):
        error = math.erf(guess) - x
        guess -= error / (2 / math.sqrt(math.pi) * math.exp(-guess * guess))
    return guess


def breakpoint(t: np.ndarray, y: np.ndarray, min_share: float = 0.1) -> tuple[int, float, float] | None:
    """(index, slope before, slope after) of the best two-segment fit, if BIC prefers it."""
    n = len(y)
    if n < 20:
        return None

    def sse(tt: np.ndarray, yy: np.ndarray) -> tuple[float, float]:
        slope, intercept = np.polyfit(tt, yy, 1)
        return float(np.sum((yy - (slope * tt + intercept)) ** 2)), float(slope)

    one, _ = sse(t, y)
    best: tuple[float, int, float, float] | None = None
    lo, hi = int(n * min_share), int(n * (1 - min_share))
    for index in range(lo, hi, max((hi - lo) // 60, 1)):
        left, slope_left = sse(t[:index], y[:index])
        right, slope_right = sse(t[index:], y[index:])
        if best is None or left + right < best[0]:
            best = (left + right, index, slope_left, slope_right)
    # Residuals at the level of float rounding (a flat series of large byte counts) are no evidence of a bend.
    rounding = RELATIVE_RESIDUAL_FLOOR * float(np.sum(y * y))
    if best is None or best[0] <= rounding or one <= rounding:
        return None
    bic_one = n * math.log(one / n) + 2 * math.log(n)
    bic_two = n * math.log(best[0] / n) + 5 * math.log(n)
    return (best[1], best[2], best[3]) if bic_two + 10 < bic_one else None


def find_steps(t: np.ndarray, y: np.ndarray, blocks: int = 50, k: float = 6.0) -> list[Step]:
    """Jumps between consecutive block means far beyond the series' own jitter."""
    if len(y) < 2 * blocks:
        return []
    tb, yb = thin(t, y, blocks)
    jumps = np.diff(yb)
    typical = float(np.median(jumps))  # a steady leak's every block rises by about this much: not a step
    mad = float(np.median(np.abs(jumps - typical))) or 1e-12
    return [Step(float(tb[i + 1] - t[0]), float(jumps[i]))
            for i in np.nonzero(jumps - typical > k * 1.4826 * mad)[0]]


def leak_verdict(times_s: list[float], values: list[float], available: float | None = None, *,
                 limits: LeakLimits, floor_bytes_per_minute: float) -> LeakVerdict:
    """The verdict for one memory series (times in seconds, values in bytes)."""
    t_all = np.asarray(times_s, dtype=float)
    y_all = np.asarray(values, dtype=float)
    duration = float(t_all[-1] - t_all[0]) if len(t_all) > 1 else 0.0
    if len(y_all) < limits.min_samples or duration < limits.min_duration_s:
        return LeakVerdict("insufficient data", f"{len(y_all)} samples over {duration:.0f} s: need at least "
                           f"{limits.min_samples} over {limits.min_duration_s:.0f} s", len(y_all), duration)
    t, y = thin(t_all, y_all)
    steps = find_steps(t_all, y_all)
    split = breakpoint(t, y)
    start = 0
    plateau_from = None
    if split is not None and split[1] > split[2]:  # decelerating: warm-up, or growth that stopped
        start = split[0]
        plateau_from = float(t[start] - t[0])
    trend, slope = trend_and_slope(t[start:], y[start:])
    window = float(t[-1] - t[start])
    level = float(np.median(y[start:]))
    growth = slope.per_second * window
    significant = trend.p_value < limits.alpha and slope.low > 0 and trend.s > 0
    big_enough = slope.per_second >= floor_bytes_per_minute / 60 and growth >= limits.relative_floor * level
    exhaustion = available / slope.per_second if available and slope.per_second > 0 else None
    common = dict(samples=len(y_all), duration_s=duration, slope=slope, trend=trend,
                  analysed_from_s=float(t[start] - t[0]), growth=growth, steps=steps)
    rate = (f"{slope.per_second * 60 / 1e6:.2f} MB/min (95 % CI {slope.low * 60 / 1e6:.2f} to "
            f"{slope.high * 60 / 1e6:.2f}), p = {trend.p_value:.2g}")
    if significant and big_enough:
        since = f" since {float(t[start] - t[0]):.0f} s into the watch" if start else ""
        return LeakVerdict("leak", f"leaking {rate}{since}", exhaustion_s=exhaustion, plateau_from_s=None, **common)
    if plateau_from is not None:
        head_trend, head_slope = trend_and_slope(t[:start + 1], y[:start + 1])
        head_growth = float(y[start] - y[0])
        if head_trend.p_value < limits.alpha and head_slope.low > 0 and \
                head_growth >= limits.relative_floor * float(y[0] or 1):
            return LeakVerdict("growth-then-plateau", f"grew {head_growth / 1e6:.1f} MB in the first "
                               f"{plateau_from:.0f} s, then flat ({rate})", plateau_from_s=plateau_from, **common)
    reason = "no significant upward trend" if not significant else "growth below the leak floors"
    return LeakVerdict("stable", f"{reason}: {rate}", **common)


def leak_rate_sample(verdict: LeakVerdict, pid: int, name: str) -> Sample:
    """What `diagnose` reads for the High memory usage row: the leak rate, 0 unless the verdict is a leak."""
    rate = verdict.per_minute[0] if verdict.verdict == "leak" and verdict.per_minute else 0.0
    return Sample("wf_memory_leak_bytes_per_minute", rate, "bytes/min", "wfdoctor memory watch (leak verdict: 0 "
                  "unless the statistics call it a leak)", {"pid": str(pid), "name": name, "verdict": verdict.verdict})


def leak_findings(verdict: LeakVerdict, pid: int, name: str, remedies: Remedies) -> list[Finding]:
    """MEMORY_LEAK (high) or MEMORY_GROWTH_PLATEAU (info) from a verdict, with its evidence."""
    if verdict.verdict not in ("leak", "growth-then-plateau") or verdict.per_minute is None:
        return []
    rate, low, high = verdict.per_minute
    labels = {"pid": str(pid), "name": name, "ci_low": f"{low:.0f}", "ci_high": f"{high:.0f}",
              "p_value": f"{verdict.trend.p_value:.3g}" if verdict.trend else ""}
    evidence = [Sample("wf_memory_growth_bytes_per_minute", rate, "bytes/min", "wfdoctor memory watch (Theil-Sen)",
                       labels)]
    steps = "; steps: " + ", ".join(f"+{s.size / 1e6:.1f} MB at {s.at_s:.0f} s" for s in verdict.steps) \
        if verdict.steps else ""
    if verdict.verdict == "leak":
        exhaustion = (f"; available memory gone in {verdict.exhaustion_s / 60:.0f} min at this rate"
                      if verdict.exhaustion_s else "")
        return [Finding("memory.leak", "MEMORY_LEAK", "high_memory", "High memory usage",
                        f"{name} (pid {pid}) grows steadily: a leak", Priority.HIGH,
                        remedies.actions(RemedyId.MEMORY_LEAK, DEFAULT),
                        evidence, verdict.explanation + exhaustion + steps)]
    return [Finding("memory.growth_plateau", "MEMORY_GROWTH_PLATEAU", "high_memory", "High memory usage",
                    f"{name} (pid {pid}) grew, then stopped growing: warm-up or a cache, not a leak",
                    Priority.INFO, remedies.actions(RemedyId.MEMORY_GROWTH_PLATEAU, DEFAULT), evidence,
                    verdict.explanation + steps)]
