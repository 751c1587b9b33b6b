"""Change points in a metric's history, direction-aware and noise-aware (pure).

Method (binary segmentation with a rank statistic, in the spirit of
E-divisive / Hunter, robust to outliers):
1. In a segment, every split k gets the Mann-Whitney z of "left vs right"
   (ranks, so a single outlier moves it little). The best split is the largest |z|.
2. Its significance is a permutation test of that maximum (fixed seed, so the
   same data always gives the same answer): p = share of shuffled series whose
   best |z| reaches the observed one. Candidates are kept at a relaxed level,
   then re-tested between their neighbouring change points at the strict level.
3. A change must also be large: the medians differ by at least `min_effect`
   (5 %) and by more than the segments' own robust noise.
4. Direction comes from the metric's polarity: down is worse for throughput and
   FPS, up is worse for latency and memory.
5. Variance-only changes (the same test on absolute deviations from the median)
   are reported as "noise increased"; slow drift in the last regime by
   Mann-Kendall (Yue-Wang corrected). Many metrics: Benjamini-Hochberg.

Memory is linear in the points. The rank scan is prefix sums (O(n) for every
split); the permutations are shuffled and scanned a few rows at a time (at most
`PERMUTATION_CELLS` cells), and a long history's drift test runs on block means
of its last regime (`leaks.thin`): Mann-Kendall and Theil-Sen compare every pair
of points, O(n^2) memory (15,000 points took 5.5 GB). Block means keep a trend
and its total, and regimes of up to 1,000 points are tested point by point
exactly as before; a longer one on 500 block means (`DRIFT_BLOCKS`; the z of a
smooth trend is about the same on m-point block means as on the points, as the
noise shrinks by sqrt(m) while the count does by m).

Speed (the detector on 20 series of 10,000 points: about 0.8 s of CPU, was about 4);
none of these moves a verdict beyond what is said here:
- A shuffle is scanned on integer prefix sums of doubled, centred ranks against the
  observed |z| times each split's scale: the same comparison as on the z's, exactly.
- Sequential stopping (Besag-Clifford) at the level the caller decides at: the
  candidate search (relaxed alpha), the spread test and a lone candidate's re-test
  (alpha) stop once (1 + exceedances) / (permutations + 1) >= that level. From then
  on p cannot end below it, so the verdict is the one all the permutations would
  give, and a split that passes pays for the same shuffles and gets the same p: the
  error rates are those of the full test. (Re-tests of several candidates run as
  before: the weakest is the one with the largest p, which needs the p's themselves.)
  The candidate search shares one generator along its recursion, so a segment after
  an early stop (or a skip, below) draws other shuffles than it did: as random, not the same.
- No shuffles where none can plausibly reach the observed split: a shuffle's left
  rank sum is a sample drawn without replacement, so Hoeffding's inequality bounds
  the chance that one reaches |z| at any split (`_no_permutation_can_reach`, exact,
  not asymptotic). When that chance times the permutations is below `SKIP_BOUND`
  (1e-6), the p is the one the shuffles would give with no exceedance; it differs
  from running them with probability below 1e-6. (A 10 % step in 3 % noise over
  10,000 points has |z| near 70; the bound needs about 20.)
- A candidate's re-test depends only on it and its neighbours (its seed is its
  own), so it is kept: an elimination round re-tests only the dropped one's neighbours.
- `regress_check` judges series on a thread per core as the store streams them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from wfdoctor.analyze.leaks import MAX_POINTS, thin, trend_and_slope

MIN_SIZE = 3
PERMUTATIONS = 499
BATCH = 100
PERMUTATION_CELLS = 1 << 21     # shuffled ranks scanned at once (16 MB of int64), whatever the length
EARLY_ROWS = 10                 # a `level` is checked at least every this many shuffles...
EARLY_CELLS = 1 << 16           # ...or every this many cells, whichever is more shuffles
DRIFT_BLOCKS = 500              # block means a regime longer than leaks.MAX_POINTS is tested on
SKIP_BOUND = 1e-6               # no shuffles where the chance that any reaches the observed split is below this


@dataclass(frozen=True)
class Change:
    index: int              # first point of the new regime
    kind: str               # "regression", "improvement", "noise increased", "noise decreased", "drift"
    before: float           # median before
    after: float            # median after
    mean_before: float
    mean_after: float
    change_pct: float       # (after / before - 1) x 100
    p_value: float
    revision: str = ""


def _ranks(values: np.ndarray) -> np.ndarray:
    """Ranks from 1, ties sharing their average rank."""
    _, inverse, counts = np.unique(values, return_inverse=True, return_counts=True)
    upper = np.cumsum(counts)
    average = upper - (counts - 1) / 2
    return average[inverse]


def _split_z(ranks: np.ndarray, min_size: int) -> np.ndarray:
    """Mann-Whitney z for every split k (rows: one per ranks vector).

    u - n1 n2 / 2 = (left rank sum - n1 (n1 + 1) / 2) - n1 n2 / 2 = left rank sum - k (n + 1) / 2:
    the prefix sums are centred and scaled in place, so a batch costs one array, not five.
    """
    ranks = np.atleast_2d(ranks)
    n = ranks.shape[1]
    k = np.arange(min_size, n - min_size + 1)
    z = np.cumsum(ranks, axis=1)[:, min_size - 1:n - min_size]
    z -= k * (n + 1) / 2
    z /= np.sqrt(k * (n - k) * (n + 1) / 12)
    return z


def _no_permutation_can_reach(ranks: np.ndarray, z: float, min_size: int) -> float:
    """Hoeffding's bound (sampling without replacement) on one shuffle reaching |z| at any split.

    A shuffle's left rank sum at split k is a sample of min(k, n - k) ranks drawn without
    replacement from ranks in [1, n], so P(|z_k| >= z) <= 2 exp(-z^2 max(k, n - k) (n + 1) / (6 (n - 1)^2));
    the sum over k bounds the maximum. Exact, not asymptotic.
    """
    n = len(ranks)
    k = np.arange(min_size, n - min_size + 1)
    exponent = -z * z * np.maximum(k, n - k) * (n + 1) / (6 * (n - 1) ** 2)
    return float(np.sum(2 * np.exp(exponent)))


def best_split(values: np.ndarray, rng: np.random.Generator, min_size: int = MIN_SIZE,
               permutations: int = PERMUTATIONS, stop_above: float = 0.05,
               stop_below: float = 0.01, level: float | None = None) -> tuple[int, float] | None:
    """(split index, permutation p-value) of the strongest location change, if any split fits.

    Permutations run in batches of 100 and stop once the answer is clear: p
    already above `stop_above`, or no exceedance yet and p below `stop_below`.
    With a `level`, they also stop as soon as p can no longer end below it (Besag-Clifford:
    (1 + exceedances) / (permutations + 1) >= level), checked every few shuffles. Only
    borderline splits pay for all `permutations`. A batch is shuffled and scanned in chunks of
    rows (at most `PERMUTATION_CELLS` cells): the generator draws the same numbers either way.
    A split no shuffle can plausibly reach (`SKIP_BOUND`) is not shuffled at all; see the module.
    """
    n = len(values)
    if n < 2 * min_size:
        return None
    ranks = _ranks(values)
    z = np.abs(_split_z(ranks, min_size)[0])
    best = int(z.argmax())
    observed = z[best] - 1e-12
    # Shuffles are scanned on doubled, centred ranks: integer prefix sums against the observed
    # |z| times each split's scale, which is the same comparison as |z_k| >= observed.
    centred = np.rint(2 * ranks).astype(np.int64) - (n + 1)
    k = np.arange(min_size, n - min_size + 1)
    reach = observed * 2 * np.sqrt(k * (n - k) * (n + 1) / 12)
    unreachable = _no_permutation_can_reach(ranks, observed, min_size) * permutations < SKIP_BOUND

    def exceedances(rows: int) -> int:
        if unreachable:
            return 0
        shuffled = rng.permuted(np.broadcast_to(centred, (rows, n)), axis=1)
        sums = np.cumsum(shuffled, axis=1, out=shuffled)[:, min_size - 1:n - min_size]
        return int(np.count_nonzero((np.abs(sums, out=sums) >= reach).any(axis=1)))

    exceed = done = 0
    rows = max(1, min(PERMUTATION_CELLS // n, max(EARLY_ROWS, EARLY_CELLS // n)))
    while done < permutations:
        batch = min(BATCH, permutations - done)
        for chunk in range(0, batch, rows):
            exceed += exceedances(min(rows, batch - chunk))
            if level is not None and (1 + exceed) / (permutations + 1) >= level:
                return best + min_size, (1 + exceed) / (done + min(batch, chunk + rows) + 1)
        done += batch
        p_value = (1 + exceed) / (done + 1)
        if p_value >= stop_above or (exceed == 0 and p_value < stop_below / 2):
            break
    return best + min_size, (1 + exceed) / (done + 1)


def _robust_sd(values: np.ndarray) -> float:
    return float(1.4826 * np.median(np.abs(values - np.median(values))))


@dataclass(frozen=True)
class Settings:
    higher_is_better: bool
    min_effect: float = 0.05
    alpha: float = 0.01
    relaxed_alpha: float = 0.05
    min_size: int = MIN_SIZE
    noise_factor: float = 1.0       # the shift must exceed this x the pooled robust sd
    seed: int = 0


def _candidates(values: np.ndarray, start: int, end: int, settings: Settings, rng: np.random.Generator,
                found: list[int]) -> None:
    split = best_split(values[start:end], rng, settings.min_size, level=settings.relaxed_alpha)
    if split is None or split[1] >= settings.relaxed_alpha:
        return
    point = start + split[0]
    found.append(point)
    _candidates(values, start, point, settings, rng, found)
    _candidates(values, point, end, settings, rng, found)


def _classify(values: np.ndarray, left: slice, right: slice, p_value: float, index: int,
              settings: Settings) -> Change | None:
    before, after = values[left], values[right]
    # Size from means: with a handful of points after a change, a mean estimates the level
    # better than a median; the rank test has already guarded against outliers.
    mean_before, mean_after = float(before.mean()), float(after.mean())
    if mean_before == 0:
        return None
    effect = mean_after / mean_before - 1
    noise = math.sqrt((_robust_sd(before) ** 2 + _robust_sd(after) ** 2) / 2)
    if abs(effect) < settings.min_effect or abs(mean_after - mean_before) <= settings.noise_factor * noise:
        return None
    worse = effect < 0 if settings.higher_is_better else effect > 0
    return Change(index, "regression" if worse else "improvement", float(np.median(before)),
                  float(np.median(after)), mean_before, mean_after, effect * 100, p_value)


def detect_changes(series: list[float], settings: Settings, revisions: list[str] | None = None) -> list[Change]:
    """Every change point in the series, located, sized, tested and labelled."""
    values = np.asarray(series, dtype=float)
    rng = np.random.default_rng(settings.seed)
    candidates: list[int] = []
    _candidates(values, 0, len(values), settings, rng, candidates)
    points, p_values = _eliminate(values, sorted(candidates), settings)
    changes: list[Change] = []
    for position, point in enumerate(points):
        lo = points[position - 1] if position else 0
        hi = points[position + 1] if position + 1 < len(points) else len(values)
        change = _classify(values, slice(lo, point), slice(point, hi), p_values[position], point, settings)
        if change is not None:
            changes.append(change)
    changes += _noise_changes(values, changes, settings)
    changes += _drift(values, changes, settings)
    if revisions:
        changes = [Change(**{**c.__dict__, "revision": revisions[c.index] if c.index < len(revisions) else ""})
                   for c in changes]
    return sorted(changes, key=lambda c: c.index)


def _retest(values: np.ndarray, points: list[int], position: int, settings: Settings,
            done: dict[tuple[int, int, int], float]) -> float:
    """Permutation p-value of a candidate between its neighbouring candidates.

    The answer depends only on the candidate and its neighbours (its seed is the candidate's),
    so `done` keeps it: an elimination round re-tests only the two neighbours of the candidate dropped.
    A lone candidate needs only its verdict, not its rank among the weak ones, so its shuffles
    stop as soon as p cannot end below alpha (the same verdict, and the same p when it passes).
    """
    lo = points[position - 1] if position else 0
    hi = points[position + 1] if position + 1 < len(points) else len(values)
    key = (lo, points[position], hi)
    if key not in done:
        split = best_split(values[lo:hi], np.random.default_rng(settings.seed + points[position]), settings.min_size,
                           level=settings.alpha if len(points) == 1 else None)
        done[key] = split[1] if split is not None else 1.0
    return done[key]


def _eliminate(values: np.ndarray, points: list[int], settings: Settings) -> tuple[list[int], list[float]]:
    """Drop the weakest candidate until every one passes the strict re-test (as Hunter does)."""
    done: dict[tuple[int, int, int], float] = {}
    while points:
        p_values = [_retest(values, points, position, settings, done) for position in range(len(points))]
        weakest = int(np.argmax(p_values))
        if p_values[weakest] < settings.alpha:
            return points, p_values
        points = points[:weakest] + points[weakest + 1:]
    return [], []


def _noise_changes(values: np.ndarray, changes: list[Change], settings: Settings) -> list[Change]:
    """Spread changes where the level did not change: the same test on |deviation from the median|."""
    if changes:
        return []
    deviations = np.abs(values - np.median(values))
    split = best_split(deviations, np.random.default_rng(settings.seed + 1), settings.min_size, level=settings.alpha)
    if split is None or split[1] >= settings.alpha:
        return []
    index = split[0]
    before, after = _robust_sd(values[:index]), _robust_sd(values[index:])
    if before == 0 or not (after >= 1.5 * before or after <= before / 1.5):
        return []
    return [Change(index, "noise increased" if after > before else "noise decreased", float(np.median(values[:index])),
                   float(np.median(values[index:])), float(values[:index].mean()), float(values[index:].mean()),
                   (after / before - 1) * 100, split[1])]


def _drift(values: np.ndarray, changes: list[Change], settings: Settings) -> list[Change]:
    """Slow drift in the last regime: significant trend whose total is a regression-sized change.

    The trend is tested on block means of a long regime (see the module's docstring): the
    pairwise tests would otherwise need memory in the square of its length.
    """
    start = max((c.index for c in changes if c.kind in ("regression", "improvement")), default=0)
    tail = values[start:]
    if len(tail) < 10:
        return []
    blocks = len(tail) if len(tail) <= MAX_POINTS else DRIFT_BLOCKS
    trend, slope = trend_and_slope(*thin(np.arange(len(tail), dtype=float), tail, blocks))
    level = float(np.median(tail))
    total = slope.per_second * (len(tail) - 1)
    if trend.p_value >= settings.alpha or level == 0 or abs(total / level) < settings.min_effect:
        return []
    worse = total < 0 if settings.higher_is_better else total > 0
    if not worse:
        return []
    return [Change(start, "drift", float(tail[0]), float(tail[-1]), float(tail[: len(tail) // 2].mean()),
                   float(tail[len(tail) // 2:].mean()), total / level * 100, trend.p_value)]


def regression_at_end(changes: list[Change], length: int, min_after: int = 3) -> Change | None:
    """The latest change, if it is a regression that still holds at the end with >= `min_after` points."""
    level_changes = [c for c in changes if c.kind in ("regression", "improvement", "drift")]
    if not level_changes:
        return None
    last = max(level_changes, key=lambda c: c.index)
    if last.kind in ("regression", "drift") and length - last.index >= min_after:
        return last
    return None


def benjamini_hochberg(p_values: list[float], q: float = 0.05) -> list[bool]:
    """Which hypotheses are discoveries at false discovery rate q."""
    order = sorted(range(len(p_values)), key=lambda i: p_values[i])
    cutoff = -1
    for rank, index in enumerate(order, start=1):
        if p_values[index] <= q * rank / len(p_values):
            cutoff = rank
    keep = set(order[:cutoff]) if cutoff > 0 else set()
    return [i in keep for i in range(len(p_values))]


def mann_whitney(old: np.ndarray, new: np.ndarray, tie_correction: bool = True) -> tuple[float, float]:
    """Mann-Whitney's z of `new` against `old` and its two-sided p (normal approximation). Ties share their
    mid-rank; the tie correction shrinks the variance by them (it changes nothing where there are none).
    `window_test` goes without it: its verdicts and p-values are documented and pinned as they were."""
    n1, n2 = len(old), len(new)
    values = np.concatenate([old, new])
    u = float(_ranks(values)[:n1].sum()) - n1 * (n1 + 1) / 2
    _, counts = np.unique(values, return_counts=True)
    n = n1 + n2
    ties = float((counts ** 3 - counts).sum()) / (n * (n - 1)) if tie_correction else 0.0
    variance = n1 * n2 / 12 * (n + 1 - ties)
    if variance <= 0:               # every value equal: no evidence of a shift
        return 0.0, 1.0
    z = (u - n1 * n2 / 2) / math.sqrt(variance)
    return z, math.erfc(abs(z) / math.sqrt(2))


def window_test(old: list[float], recent: list[float], settings: Settings, min_samples: int = 10) -> Change | None:
    """The spec's baseline-vs-recent comparison, done properly: >= `min_samples` each side, a
    Mann-Whitney two-sample test (p < alpha), the effect floor, and the direction from polarity."""
    if len(old) < min_samples or len(recent) < min_samples:
        return None
    values = np.asarray(old + recent, dtype=float)
    p_value = mann_whitney(values[:len(old)], values[len(old):], tie_correction=False)[1]
    if p_value >= settings.alpha:
        return None
    return _classify(values, slice(0, len(old)), slice(len(old), len(values)), p_value, len(old), settings)


def spec_window_detector(old: list[float], recent: list[float], higher_is_better: bool,
                         threshold: float = 0.15) -> bool:
    """WF-TECH-010's detector as written: >= 10 samples each side, recent mean 15 % worse."""
    if len(old) < 10 or len(recent) < 10:
        return False
    baseline, now = float(np.mean(old)), float(np.mean(recent))
    if baseline == 0:
        return False
    change = (now - baseline) / baseline
    return change < -threshold if higher_is_better else change > threshold
