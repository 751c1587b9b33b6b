"""`/metrics`: the monitor's latest samples as Prometheus series, named and explained by the metric registry.

A custom collector rather than prometheus-client's own Gauge objects: the monitor already holds
the newest sample of every series, so the collector reads that snapshot at scrape time and
nothing is kept twice or updated per tick. Names, help and units come from `data/metrics.yaml`,
and a sample whose name the registry does not declare is never exposed: what Prometheus stores
is exactly what the docs describe. Alerts are exposed as `wf_monitor_alerts`, shaped like
Prometheus's own `ALERTS` series (`alertname`, `alertstate`, the rule's labels) but in our
namespace, so a Prometheus that also evaluates the shipped rules file keeps its own `ALERTS`
apart from the monitor's.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping

from prometheus_client.metrics_core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector, CollectorRegistry

from wfdoctor._version import __version__
from wfdoctor.app.monitor_view import MonitorView
from wfdoctor.config.metrics import MetricRegistry, MetricSpec, load_metrics
from wfdoctor.model import Alert, Sample

ALERTS_METRIC = "wf_monitor_alerts"
INFO_METRIC = "wf_monitor_info"
# OpenMetrics names a unit only when the metric name ends with it; these are the base units
# Prometheus's naming guide uses, the ones our names end with.
OPENMETRICS_UNITS = ("ratio", "bytes", "seconds", "hertz", "celsius", "watts")
_NOT_IN_LABEL_NAME = re.compile(r"[^a-zA-Z0-9_]")

SeriesKey = tuple[str, tuple[tuple[str, str], ...]]


def label_name(key: str) -> str:
    """A Prometheus label name for any key: invalid characters become `_`, and names reserved
    for Prometheus itself (leading `__`) or starting with a digit are made ordinary."""
    name = _NOT_IN_LABEL_NAME.sub("_", key).lstrip("_")
    return name if name and not name[0].isdigit() else f"label_{name}"


def label_set(labels: Mapping[str, str]) -> tuple[tuple[str, str], ...]:
    """Sanitised, sorted labels; values stay text as they are (the text format escapes them)."""
    return tuple(sorted({label_name(key): str(value) for key, value in labels.items()}.items()))


def newest_per_series(samples: Iterable[Sample], registry: MetricRegistry) -> dict[SeriesKey, Sample]:
    """One sample per exposed series, the newest: two samples whose labels sanitise alike would
    otherwise be a duplicate series, and Prometheus rejects a whole scrape for one duplicate."""
    newest: dict[SeriesKey, Sample] = {}
    for sample in samples:
        if registry.spec(sample.metric) is None:
            continue
        key = (sample.metric, label_set(sample.labels))
        if key not in newest or sample.ts >= newest[key].ts:
            newest[key] = sample
    return newest


def family(spec: MetricSpec) -> GaugeMetricFamily:
    """An empty gauge family for a registered metric, help saying the registry's unit."""
    unit = spec.name.rsplit("_", 1)[-1]
    return GaugeMetricFamily(spec.name, f"{spec.help} (unit: {spec.unit})",
                             unit=unit if unit in OPENMETRICS_UNITS else "")


class MonitorCollector(Collector):
    """Yields the view's latest samples, its active alerts and an info series at each scrape."""

    def __init__(self, view: MonitorView, registry: MetricRegistry | None = None) -> None:
        self._view = view
        self._registry = registry or load_metrics()

    def collect(self) -> Iterator[Metric]:
        families: dict[str, GaugeMetricFamily] = {}
        for (metric, labels), sample in sorted(newest_per_series(self._view.latest_samples(),
                                                                  self._registry).items()):
            spec = self._registry.specs[metric]
            found = families.setdefault(metric, family(spec))
            found.add_sample(metric, dict(labels), sample.value)
        yield from families.values()
        yield self._alerts(self._view.active_alerts())
        info = family(self._registry.specs[INFO_METRIC])
        info.add_sample(INFO_METRIC, {"version": __version__}, 1.0)
        yield info

    def _alerts(self, alerts: Iterable[Alert]) -> GaugeMetricFamily:
        """One series per pending or firing alert, labelled as Prometheus labels `ALERTS`."""
        found = family(self._registry.specs[ALERTS_METRIC])
        series = {label_set({**alert.labels, "alertname": alert.name, "alertstate": alert.state.value})
                  for alert in alerts}
        for labels in sorted(series):
            found.add_sample(ALERTS_METRIC, dict(labels), 1.0)
        return found


def monitor_registry(view: MonitorView, registry: MetricRegistry | None = None) -> CollectorRegistry:
    """A prometheus-client registry holding only the monitor's collector (no process/platform
    defaults: every exposed name must be one the metric registry declares)."""
    collectors = CollectorRegistry(auto_describe=False)
    collectors.register(MonitorCollector(view, registry))
    return collectors
