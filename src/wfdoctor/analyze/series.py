"""Metric histories: samples from many runs grouped into one series per metric and label set (pure)."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from statistics import median

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


def build_series(rows: list[tuple[int, Sample]]) -> list[Series]:
    """One point per run (the median of that run's samples), in time order.

    Imported results carry a `point` label: one run of `regress record` holds many points.
    """
    grouped: dict[tuple[str, tuple[tuple[str, str], ...]], dict[tuple[int, str], list[Sample]]] = defaultdict(dict)
    for run_id, sample in rows:
        key = (sample.metric, tuple(sorted((k, v) for k, v in sample.labels.items() if k not in VOLATILE_LABELS)))
        grouped[key].setdefault((run_id, sample.labels.get("point", "")), []).append(sample)
    out = []
    for (metric, labels), points in grouped.items():
        series = Series(metric, dict(labels), next(iter(points.values()))[0].unit)
        for (run_id, _), samples in sorted(points.items(), key=lambda item: min(s.ts for s in item[1])):
            series.times.append(min(s.ts for s in samples))
            series.values.append(median(s.value for s in samples))
            series.revisions.append(samples[0].labels.get("revision", ""))
            series.runs.append(run_id)
        out.append(series)
    return sorted(out, key=lambda s: s.name)
