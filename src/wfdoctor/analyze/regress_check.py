"""Regression verdicts over stored histories (pure): change points per series, BH across series.

The store hands over (run id, sample) rows; this groups them into series, finds
the change points (or runs the spec's window test) with the direction each
metric's polarity gives, and decides which regressions at the end are
discoveries once the false discovery rate over all series is controlled.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from wfdoctor.analyze.regression import (Change, Settings, benjamini_hochberg, detect_changes, regression_at_end,
                                         window_test)
from wfdoctor.analyze.series import Series, build_series
from wfdoctor.model import Sample, WfdoctorError

MIN_POINTS = 8
THREADS = 4             # series judged at once, at most: each scan holds up to 32 MB of shuffles
MODES = ("changepoint", "window")


@dataclass
class SeriesVerdict:
    series: Series
    higher_is_better: bool
    changes: list[Change]
    at_end: Change | None
    discovery: bool = False


@dataclass(frozen=True)
class CheckSettings:
    min_effect: float = 0.05
    min_after: int = 3                 # points after a change before it counts at the end
    mode: str = "changepoint"          # or "window": the spec's older-vs-recent test
    window_s: float = 24 * 3600

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise WfdoctorError(f"mode must be changepoint or window, not '{self.mode}'")
        if self.min_effect < 0 or self.min_after < 1 or self.window_s <= 0:
            raise WfdoctorError("min effect must be at least 0, min after at least 1, the window above 0")


def _window_changes(series: Series, settings: Settings, window_s: float) -> list[Change]:
    """The spec's mode: everything older than `window_s` before the newest point vs the rest."""
    cutoff = series.times[-1] - window_s
    split = sum(1 for t in series.times if t < cutoff)
    change = window_test(series.values[:split], series.values[split:], settings)
    if change is None:
        return []
    revision = series.revisions[change.index] if change.index < len(series.revisions) else ""
    return [Change(**{**change.__dict__, "revision": revision})]


def judge_histories(rows: list[tuple[int, Sample]], higher_is_better: Callable[[str], bool | None],
                    settings: CheckSettings) -> list[SeriesVerdict]:
    """A verdict for every series of stored (run id, sample) rows; see `judge_series`."""
    return judge_series(build_series(rows), higher_is_better, settings)


def _changes(series: Series, higher: bool, settings: CheckSettings) -> list[Change]:
    """One series' changes, by change points or by the spec's window test."""
    detector = Settings(higher, min_effect=settings.min_effect)
    return (_window_changes(series, detector, settings.window_s) if settings.mode == "window"
            else detect_changes(series.values, detector, series.revisions))


def judge_series(history: Iterable[Series], higher_is_better: Callable[[str], bool | None],
                 settings: CheckSettings) -> list[SeriesVerdict]:
    """A verdict for every series with a known direction and at least MIN_POINTS points, by name.

    Series are judged on a thread per core (at most THREADS) as they arrive, so a streamed history
    is judged while it is still being read: the permutation scans run in numpy with the GIL
    released, and every series has its own seeded generator, so the verdicts do not depend on
    the threads.
    """
    with ThreadPoolExecutor(max_workers=min(os.cpu_count() or 1, THREADS)) as pool:
        judged = [(series, higher, pool.submit(_changes, series, higher, settings)) for series in history
                  if (higher := higher_is_better(series.metric)) is not None and len(series.values) >= MIN_POINTS]
    verdicts = sorted((SeriesVerdict(series, higher, changes.result(),
                                     regression_at_end(changes.result(), len(series.values), settings.min_after))
                       for series, higher, changes in judged), key=lambda v: v.series.name)
    flagged = [v for v in verdicts if v.at_end is not None]
    for verdict, keep in zip(flagged, benjamini_hochberg([v.at_end.p_value for v in flagged if v.at_end])):
        verdict.discovery = keep
    return verdicts


def check_samples(verdicts: list[SeriesVerdict]) -> list[Sample]:
    """What `diagnose` reads for the Gradual degradation row."""
    regressions = sum(v.discovery for v in verdicts)
    return [Sample("wf_regressions_detected", float(regressions), "metrics", "wfdoctor regress check",
                   {"series": str(len(verdicts))})]
