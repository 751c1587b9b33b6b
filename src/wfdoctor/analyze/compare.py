"""Before against after, one metric at a time, with statistics (pure).

`compare RUN_A RUN_B` and troubleshoot's validation both ask "did this metric get better,
worse, or stay the same?" of two sets of measurements (per-request TTFT of a run before a
fix and one after, say). The answer is a test, not a glance at two means:
- Mann-Whitney's two-sided rank test (the regression module's statistic): exact over every
  split of the ranks when there are few enough, else the normal approximation with the tie
  correction. Ranks, so one outlier request moves it little.
- The size: the relative shift of the medians, with a bootstrap interval (percentiles of
  `resamples` resampled medians, fixed seed: the same data gives the same interval), and
  Cliff's delta (P(after > before) - P(after < before)) as an effect size that needs no unit.
- The verdict in the metric's own direction (its polarity in the registry): significant
  (p < alpha) and at least `min_effect` is improved or worse; anything less is unchanged.
  Fewer than `min_samples` on a side, or a metric without a direction, is inconclusive:
  a doctor does not call "unchanged" what it could not test.
- Many series compared at once (`compare_samples`): a shift must also be a Benjamini-Hochberg
  discovery at `alpha` over every series tested, so the false discovery rate stays at alpha.
"""

from __future__ import annotations

import itertools
import json
import math
from collections.abc import Callable, Sequence
from dataclasses import replace

import numpy as np

from wfdoctor.analyze.regression import benjamini_hochberg, mann_whitney
from wfdoctor.analyze.series import VOLATILE_LABELS
from wfdoctor.config.limits import CompareLimits
from wfdoctor.model import MetricComparison, Sample, Verdict

EXACT_SPLITS = 20_000          # at most this many ways to choose the before side: the exact p
BOOTSTRAP_CELLS = 1 << 20      # resampled values held at once


def _exact_p(before: np.ndarray, after: np.ndarray, observed_u: float) -> float:
    """Two-sided p of Mann-Whitney's U over every way to split the pooled ranks (ties keep their mid-ranks)."""
    ranks = _pooled_ranks(before, after)
    n1 = len(before)
    centre = n1 * len(after) / 2
    distance = abs(observed_u - centre)
    extreme = total = 0
    for chosen in itertools.combinations(range(len(ranks)), n1):
        u = float(ranks[list(chosen)].sum()) - n1 * (n1 + 1) / 2
        extreme += abs(u - centre) >= distance - 1e-9
        total += 1
    return extreme / total


def _pooled_ranks(before: np.ndarray, after: np.ndarray) -> np.ndarray:
    values = np.concatenate([before, after])
    _, inverse, counts = np.unique(values, return_inverse=True, return_counts=True)
    return (np.cumsum(counts) - (counts - 1) / 2)[inverse]


def _p_value(before: np.ndarray, after: np.ndarray) -> float:
    n1, n2 = len(before), len(after)
    if math.comb(n1 + n2, n1) <= EXACT_SPLITS:
        u = float(_pooled_ranks(before, after)[:n1].sum()) - n1 * (n1 + 1) / 2
        return _exact_p(before, after, u)
    return mann_whitney(before, after)[1]


def cliffs_delta(before: np.ndarray, after: np.ndarray) -> float:
    """P(after > before) - P(after < before) over all pairs, from ranks (O(n log n), ties count half)."""
    n1, n2 = len(before), len(after)
    after_rank_sum = float(_pooled_ranks(before, after)[n1:].sum())
    u_after = after_rank_sum - n2 * (n2 + 1) / 2      # pairs where after is larger, ties counted half
    return 2 * u_after / (n1 * n2) - 1


def relative_change(before: np.ndarray | float, after: np.ndarray | float) -> np.ndarray | float:
    """(after - before) / |before|: a fall is negative whatever the sign of before (a / b - 1 turns a rise from
    -10 to -5 into -50 %)."""
    return (after - before) / np.abs(before)


def _median_change_interval(before: np.ndarray, after: np.ndarray, limits: CompareLimits) -> tuple[float, float]:
    """Percentile bootstrap of the medians' `relative_change`, both sides resampled independently."""
    rng = np.random.default_rng(0)
    rows = max(1, BOOTSTRAP_CELLS // max(len(before), len(after)))
    changes: list[np.ndarray] = []
    for start in range(0, limits.resamples, rows):
        count = min(rows, limits.resamples - start)
        b = np.median(rng.choice(before, size=(count, len(before))), axis=1)
        a = np.median(rng.choice(after, size=(count, len(after))), axis=1)
        with np.errstate(divide="ignore", invalid="ignore"):
            changes.append(relative_change(b, a))
    every = np.concatenate(changes)
    every = every[np.isfinite(every)]
    if not len(every):
        return math.nan, math.nan
    tail = (1 - limits.confidence) / 2 * 100
    low, high = np.percentile(every, [tail, 100 - tail])
    return float(low), float(high)


def compare_values(metric: str, labels: dict[str, str], unit: str, higher_is_better: bool | None,
                   before: Sequence[float], after: Sequence[float], limits: CompareLimits) -> MetricComparison:
    """One series before and after: sizes, test and verdict (see the module's docstring)."""
    b, a = np.asarray(before, dtype=float), np.asarray(after, dtype=float)
    b_med = float(np.median(b)) if len(b) else None
    a_med = float(np.median(a)) if len(a) else None

    def result(verdict: Verdict, reason: str, change: float | None = None, interval: tuple[float, float] = (math.nan,
               math.nan), delta: float | None = None, p: float | None = None) -> MetricComparison:
        low, high = (None if math.isnan(x) else x for x in interval)
        return MetricComparison(metric, labels, unit, higher_is_better, len(b), len(a), b_med, a_med, change, low,
                                high, limits.confidence, delta, p, verdict, reason)

    if len(b) < limits.min_samples or len(a) < limits.min_samples:
        return result(Verdict.INCONCLUSIVE, f"{len(b)} measurement(s) before and {len(a)} after: at least "
                                            f"{limits.min_samples} on each side are needed to test")
    p = _p_value(b, a)
    delta = cliffs_delta(b, a)
    change = None if not b_med else float(relative_change(b_med, a_med or 0.0))
    interval = _median_change_interval(b, a, limits) if b_med else (math.nan, math.nan)
    shift = "no shift" if change is None else f"median {change:+.1%}"
    if higher_is_better is None:
        return result(Verdict.INCONCLUSIVE, f"{shift} (p = {p:.2g}), but the metric has no better direction",
                      change, interval, delta, p)
    big = abs(change) >= limits.min_effect if change is not None else (a_med != b_med)
    if p >= limits.alpha or not big:
        why = f"p = {p:.2g} (not below {limits.alpha:g})" if p >= limits.alpha else \
            f"p = {p:.2g}, but a shift below {limits.min_effect:.0%}"
        return result(Verdict.UNCHANGED, f"{shift}: {why}", change, interval, delta, p)
    up = (a_med or 0.0) > (b_med or 0.0)
    verdict = Verdict.IMPROVED if up == higher_is_better else Verdict.WORSE
    return result(verdict, f"{shift}, p = {p:.2g} < {limits.alpha:g}, Cliff's delta {delta:+.2f}", change, interval,
                  delta, p)


def series_key(sample: Sample) -> tuple[str, str]:
    """The series a sample belongs to: its metric and the labels that do not change between runs."""
    stable = {k: v for k, v in sample.labels.items() if k not in VOLATILE_LABELS}
    return sample.metric, json.dumps(stable, sort_keys=True)


def compare_samples(before: Sequence[Sample], after: Sequence[Sample], higher_is_better: Callable[[str], bool | None],
                    limits: CompareLimits) -> list[MetricComparison]:
    """Every series of either side compared (a series on one side only is inconclusive), by metric and labels."""
    sides: dict[tuple[str, str], tuple[list[float], list[float], str]] = {}
    for index, samples in enumerate((before, after)):
        for sample in samples:
            entry = sides.setdefault(series_key(sample), ([], [], sample.unit))
            entry[index].append(sample.value)
    compared = [compare_values(metric, json.loads(labels), unit, higher_is_better(metric), b, a, limits)
                for (metric, labels), (b, a, unit) in sorted(sides.items())]
    return false_discoveries_held(compared, limits)


def false_discoveries_held(compared: list[MetricComparison], limits: CompareLimits) -> list[MetricComparison]:
    """Many series tested at once: a shift counts only as a Benjamini-Hochberg discovery at `alpha` over all the
    series tested (a dozen series at 1 % would otherwise call one in ten comparisons of identical runs changed).
    The others become unchanged, saying why."""
    tested = [i for i, c in enumerate(compared) if c.p_value is not None and c.higher_is_better is not None]
    kept = benjamini_hochberg([compared[i].p_value or 0.0 for i in tested], limits.alpha)
    out = list(compared)
    for index, discovery in zip(tested, kept):
        c = out[index]
        if not discovery and c.verdict in (Verdict.IMPROVED, Verdict.WORSE):
            out[index] = replace(c, verdict=Verdict.UNCHANGED, reason=f"{c.reason}, but not a discovery over the "
                                 f"{len(tested)} series tested (Benjamini-Hochberg at {limits.alpha:g})")
    return out
