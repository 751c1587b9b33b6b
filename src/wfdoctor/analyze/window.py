"""The monitor's recent samples in memory, per series, for rule evaluation at every tick.

Rules read ranges (`avg_over_time(m[5m])`) and newest points many times per tick; reading
them back from SQLite each time costs a query per rule (see benchmarks/bench_rule_eval.py).
A series is a metric plus its sorted labels; its points are two parallel lists in time
order, so a range read is two bisections and `add` is an append plus trimming the head.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Iterable, Iterator, Mapping

from wfdoctor.model import Sample

Labels = tuple[tuple[str, str], ...]


class Series:
    """One series' points, oldest first; the unit and source of its newest sample."""

    __slots__ = ("ended_at", "labels", "metric", "source", "ts", "unit", "values")

    def __init__(self, metric: str, labels: Labels, unit: str, source: str) -> None:
        self.metric, self.labels, self.unit, self.source = metric, labels, unit, source
        self.ts: list[float] = []
        self.values: list[float] = []
        self.ended_at: float | None = None   # Prometheus' staleness marker: its source stopped reporting it

    def append(self, ts: float, value: float) -> None:
        if self.ended_at is not None and ts > self.ended_at:
            self.ended_at = None
        if self.ts and ts < self.ts[-1]:   # a late sample: keep the order ranges rely on
            at = bisect_right(self.ts, ts)
            self.ts.insert(at, ts)
            self.values.insert(at, value)
        else:
            self.ts.append(ts)
            self.values.append(value)

    def trim(self, cutoff: float) -> None:
        """Drop points at or before `cutoff`."""
        if self.ts and self.ts[0] <= cutoff:
            keep = bisect_right(self.ts, cutoff)
            del self.ts[:keep], self.values[:keep]

    def newest(self, now: float, lookback_s: float) -> tuple[float, float] | None:
        """(ts, value) of the newest point in (now - lookback, now]; None when the series is stale there."""
        end = bisect_right(self.ts, now)
        if end == 0 or self.ts[end - 1] <= now - lookback_s:
            return None
        if self.ended_at is not None and self.ts[end - 1] < self.ended_at <= now:
            return None
        return self.ts[end - 1], self.values[end - 1]

    def between(self, start: float, end: float) -> tuple[list[float], list[float]]:
        """Points in (start, end], as Prometheus selects a range."""
        first, last = bisect_right(self.ts, start), bisect_right(self.ts, end)
        return self.ts[first:last], self.values[first:last]


class SampleWindow:
    """Per-series points newer than the newest sample's time minus `retention_s`."""

    def __init__(self, retention_s: float, retention_by_metric: Mapping[str, float] | None = None) -> None:
        """`retention_by_metric` keeps some metrics longer (those a rule reads over a long range): the rest
        stay `retention_s`, so a 15-minute range on the canary's series does not keep 15 minutes of every
        per-core series."""
        self.retention_s = retention_s
        self._retention = {metric: max(retention_s, seconds) for metric, seconds in
                           (retention_by_metric or {}).items()}
        self.now = float("-inf")
        self._by_metric: dict[str, dict[Labels, Series]] = {}

    def add(self, samples: Iterable[Sample]) -> None:
        for sample in samples:
            labels = tuple(sorted(sample.labels.items()))
            by_labels = self._by_metric.setdefault(sample.metric, {})
            series = by_labels.get(labels)
            if series is None:
                series = by_labels[labels] = Series(sample.metric, labels, sample.unit, sample.source)
            series.unit, series.source = sample.unit, sample.source
            series.append(sample.ts, sample.value)
            self.now = max(self.now, sample.ts)
        self._trim()

    def end_missing(self, reading: Iterable[Sample], ts: float) -> None:
        """Mark stale, as Prometheus does when a scrape no longer has a series, every series of the metrics in
        `reading` (one probe's complete reading at `ts`) that the reading does not have: a process that exited
        is gone now, not for the next lookback (5 minutes) as its last point would say."""
        present: dict[str, set[Labels]] = {}
        for sample in reading:
            present.setdefault(sample.metric, set()).add(tuple(sorted(sample.labels.items())))
        for metric, kept in present.items():
            for labels, series in self._by_metric.get(metric, {}).items():
                if labels not in kept and series.ts and series.ts[-1] < ts:
                    series.ended_at = ts

    def _trim(self) -> None:
        for metric, by_labels in list(self._by_metric.items()):
            cutoff = self.now - self._retention.get(metric, self.retention_s)
            for labels, series in list(by_labels.items()):
                series.trim(cutoff)
                if not series.ts:
                    del by_labels[labels]
            if not by_labels:
                del self._by_metric[metric]

    def has(self, metric: str) -> bool:
        """Whether any series of `metric` has points."""
        return metric in self._by_metric

    def series(self, metric: str) -> Iterator[Series]:
        """Every series of `metric` (any labels) that still has points."""
        return iter(self._by_metric.get(metric, {}).values())

    def latest(self) -> list[Sample]:
        """The newest point of each series that is not stale (what `/metrics` exposes)."""
        return [Sample(s.metric, s.values[-1], s.unit, s.source, dict(s.labels), s.ts[-1])
                for by_labels in self._by_metric.values() for s in by_labels.values() if s.ended_at is None]

    def __len__(self) -> int:
        """Points held, all series together."""
        return sum(len(s.ts) for by_labels in self._by_metric.values() for s in by_labels.values())

