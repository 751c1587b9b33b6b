"""`regress`: import results into the history, check every series for regressions, show one series."""

from __future__ import annotations

import time
from pathlib import Path

from wfdoctor.analyze.regress_check import MIN_POINTS, CheckSettings, SeriesVerdict, check_samples, judge_series
from wfdoctor.analyze.series import series_by_metric
from wfdoctor.app.judge import record
from wfdoctor.app.reports.regress import RecordReport, RegressReport
from wfdoctor.config.metrics import higher_is_better
from wfdoctor.model import Run, Sample, WfdoctorError
from wfdoctor.sense.results_file import parse_results
from wfdoctor.store.db import Store


def read_results(path: Path) -> list[Sample]:
    """The points of a results file, every row checked (file:row errors) before anything is stored."""
    samples = parse_results(path)
    if not samples:
        raise WfdoctorError(f"{path}: no results found")
    return samples


def record_results(path: Path, samples: list[Sample], store: Store) -> RecordReport:
    """Store imported results (`read_results`) as one run."""
    run = Run(command="regress record", started_at=min(s.ts for s in samples), settings={"file": str(path)})
    with store.recording(run):
        record(store, run, samples, [])
    return RecordReport(run=run, file=path, points=len(samples))


def _verdicts(store: Store, metrics: list[str] | None, settings: CheckSettings) -> tuple[list[SeriesVerdict], int]:
    """Verdicts for the named metrics, or for every stored metric with a known direction; and the number of
    stored points skipped as invalid."""
    wanted = metrics or [name for name in store.metric_names() if higher_is_better(name) is not None]
    if not wanted:
        return [], 0
    return (judge_series(series_by_metric(store.metric_readings(wanted)), higher_is_better, settings),
            store.invalid_readings(wanted))


def check_regressions(store: Store, metrics: list[str] | None = None,
                      settings: CheckSettings = CheckSettings()) -> RegressReport:
    """Change points (or the spec's window test) in every series; the verdict is recorded as a run."""
    verdicts, invalid = _verdicts(store, metrics, settings)
    run = Run(command="regress check", started_at=time.time(), settings={"metrics": metrics or [],
                                                                          "mode": settings.mode})
    with store.recording(run):
        record(store, run, check_samples(verdicts), [])
    return RegressReport(run=run, verdicts=verdicts, min_points=MIN_POINTS, metrics=metrics or [],
                         invalid_points=invalid)


def show_series(store: Store, metric: str) -> RegressReport:
    """One metric's series (every label set) with its change points; nothing is recorded."""
    verdicts, invalid = _verdicts(store, [metric], CheckSettings())
    if not verdicts:
        skipped = f" ({invalid} stored points skipped as invalid)" if invalid else ""
        raise WfdoctorError(f"no series of {metric} with a known direction and enough points in the "
                            f"history{skipped}")
    return RegressReport(run=None, verdicts=verdicts, min_points=MIN_POINTS, metrics=[metric], invalid_points=invalid)
