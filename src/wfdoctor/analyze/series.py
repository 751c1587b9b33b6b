"""Metric histories: samples from many runs grouped into one series per metric and label set (pure)."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from itertools import groupby
from operator import attrgetter
from statistics import median
from typing import NamedTuple

from wfdoctor.model import Sample

# Labels that differ between runs of the same thing, so they do not split a series.
VOLATILE_LABELS = {"run", "request", "window_s", "tokens_source", "check", "ci_low", "ci_high", "p_value",
                   "verdict", "revision", "point"}


@dataclass
class Series:
    metric: str
    labels: dict[str, str]
    unit: str
    times: list[float] = field(default_factory=list)
    values: list[float] = field(default_factory=list)
    revisions: list[str] = field(default_factory=list)
    runs: list[int] = field(default_factory=list)

    @property
    def name(self) -> str:
        inner = ",".join(f"{k}={v}" for k, v in sorted(self.labels.items()))
        return f"{self.metric}{{{inner}}}" if inner else self.metric


class Reading(NamedTuple):
    """One stored sample, as much of it as a series needs.

    A tuple, not a Sample: a history holds hundreds of thousands of them, and the store
    extracts these fields in SQL, so no labels dictionary is parsed or kept per sample.
    `series_labels` is the JSON object of the labels that name the series (the volatile
    ones removed, keys sorted): equal label sets give equal text.
    """

    metric: str
    series_labels: str
    unit: str
    run: int
    point: str        # imported results: one run of `regress record` holds many points
    ts: float
    value: float
    revision: str


def readings(rows: Iterable[tuple[int, Sample]]) -> Iterator[Reading]:
    """(run id, sample) rows as readings."""
    for run_id, s in rows:
        stable = json.dumps({k: v for k, v in s.labels.items() if k not in VOLATILE_LABELS}, sort_keys=True)
        yield Reading(s.metric, stable, s.unit, run_id, s.labels.get("point", ""), s.ts, s.value,
                      s.labels.get("revision", ""))


def build_series(rows: Iterable[tuple[int, Sample]]) -> list[Series]:
    """One point per run (the median of that run's samples), in time order; see `series_of`."""
    return series_of(readings(rows))


@dataclass
class _Points:
    """One series' points while the readings stream past, as parallel lists (no object per point).

    `extra` holds the further values of the few points with more than one sample.
    """

    unit: str
    index: dict[tuple[int, str], int] = field(default_factory=dict)
    times: list[float] = field(default_factory=list)
    values: list[float] = field(default_factory=list)
    revisions: list[str] = field(default_factory=list)
    runs: list[int] = field(default_factory=list)
    extra: dict[int, list[float]] = field(default_factory=dict)


def series_of(history: Iterable[Reading]) -> list[Series]:
    """One point per run and `point` label (the median of its samples, at its earliest time), in time order.

    The readings come oldest first (a point's revision is its first reading's); only one small
    record per point is kept while they stream past.
    """
    grouped: dict[tuple[str, str], _Points] = {}
    for metric, series_labels, unit, run, label, ts, value, revision in history:
        points = grouped.get((metric, series_labels))
        if points is None:
            points = grouped[(metric, series_labels)] = _Points(unit)
        at = points.index.setdefault((run, label), len(points.times))
        if at == len(points.times):
            points.times.append(ts)
            points.values.append(value)
            points.revisions.append(revision)
            points.runs.append(run)
        else:
            points.times[at] = min(points.times[at], ts)
            points.extra.setdefault(at, [points.values[at]]).append(value)
    out = []
    for (metric, labels), points in grouped.items():
        for at, values in points.extra.items():
            points.values[at] = median(values)
        order = sorted(range(len(points.times)), key=points.times.__getitem__)
        out.append(Series(metric, json.loads(labels), points.unit, [points.times[i] for i in order],
                          [points.values[i] for i in order], [points.revisions[i] for i in order],
                          [points.runs[i] for i in order]))
    return sorted(out, key=lambda s: s.name)


def series_by_metric(history: Iterable[Reading]) -> Iterator[Series]:
    """`series_of` one metric at a time, for readings ordered by metric (as the store streams them).

    A metric's series come out as soon as its last reading has passed, so they can be judged
    while the next metric is still being read.
    """
    for _, readings_of_metric in groupby(history, key=attrgetter("metric")):
        yield from series_of(readings_of_metric)
