"""Optional OTLP export: the monitor's latest samples pushed to an OpenTelemetry collector.

For a fleet that runs OpenTelemetry instead of (or beside) Prometheus. The opentelemetry-sdk
is an extra (`wfdoctor[otlp]`), imported only here and only when asked, so the base install
stays small and a missing extra is one line saying what to install. Each registered metric
becomes an observable gauge read from the monitor's snapshot at export time (nothing is kept
twice); names follow the OpenTelemetry semantic conventions where the registry names an
equivalent (GenAI, system, hardware, process), and `wfdoctor.<name>` otherwise. Where two of
our metrics share one convention name (whole-machine and per-core CPU), a `wfdoctor.metric`
attribute keeps them apart. Shutdown is bounded: a dead collector never holds the monitor's exit.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from wfdoctor._version import __version__
from wfdoctor.app.monitor_view import MonitorView
from wfdoctor.config.metrics import MetricRegistry, MetricSpec, load_metrics
from wfdoctor.model import WfdoctorError

if TYPE_CHECKING:
    from opentelemetry.metrics import CallbackOptions, Observation
    from opentelemetry.sdk.metrics import MeterProvider

MISSING_EXTRA = "OTLP export needs the 'otlp' extra: pip install 'wfdoctor[otlp]'"
# Our registry's units in UCUM, as OpenTelemetry writes them; other units become annotations (`{tokens/s}`).
UCUM = {"ratio": "1", "bytes": "By", "bytes/s": "By/s", "bytes/min": "By/min", "°C": "Cel", "s": "s",
        "Hz": "Hz", "W": "W"}


def otel_name(spec: MetricSpec) -> str:
    """The OpenTelemetry name of a registered metric: the registry's convention name, else `wfdoctor.*`."""
    return spec.otel or f"wfdoctor.{spec.name.removeprefix('wf_')}"


def otel_unit(unit: str) -> str:
    return UCUM.get(unit, f"{{{unit}}}")


def instruments(registry: MetricRegistry) -> dict[str, tuple[MetricSpec, ...]]:
    """OpenTelemetry instrument name -> the registered metrics it carries (in registry order)."""
    grouped: dict[str, tuple[MetricSpec, ...]] = {}
    for spec in registry.specs.values():
        grouped[otel_name(spec)] = grouped.get(otel_name(spec), ()) + (spec,)
    return grouped


@dataclass
class OtlpExport:
    """A running periodic export; `flush()` exports now, `close()` stops within the timeout."""

    provider: MeterProvider
    timeout_s: float

    def flush(self) -> bool:
        return bool(self.provider.force_flush(timeout_millis=self.timeout_s * 1000))

    def close(self) -> None:
        self.provider.shutdown(timeout_millis=self.timeout_s * 1000)


def start_otlp(view: MonitorView, endpoint: str, interval_s: float = 60.0, timeout_s: float = 5.0,
               registry: MetricRegistry | None = None) -> OtlpExport:
    """Export the view's latest samples to an OTLP/HTTP endpoint (`http://host:4318/v1/metrics`)
    every `interval_s`; each export, and the final one at `close()`, gives up after `timeout_s`."""
    try:
        from opentelemetry.exporter.otlp.proto.http.metric_exporter import (
            OTLPMetricExporter,
        )
        from opentelemetry.sdk.metrics import MeterProvider
        from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader
        from opentelemetry.sdk.resources import Resource
    except ImportError:
        raise WfdoctorError(MISSING_EXTRA) from None
    reader = PeriodicExportingMetricReader(OTLPMetricExporter(endpoint=endpoint, timeout=timeout_s),
                                           export_interval_millis=interval_s * 1000,
                                           export_timeout_millis=timeout_s * 1000)
    resource = Resource.create({"service.name": "wfdoctor", "service.version": __version__})
    provider = MeterProvider(resource=resource, metric_readers=[reader])
    meter = provider.get_meter("wfdoctor", __version__)
    for name, specs in instruments(registry or load_metrics()).items():
        meter.create_observable_gauge(name, callbacks=[_observe(view, specs)], unit=otel_unit(specs[0].unit),
                                      description=specs[0].help)
    return OtlpExport(provider, timeout_s)


def _observe(view: MonitorView, specs: tuple[MetricSpec, ...]) -> Callable[[CallbackOptions], Iterable[Observation]]:
    """The callback of one instrument: the latest samples of its metrics, labels as attributes."""
    from opentelemetry.metrics import Observation

    names = {spec.name for spec in specs}
    shared = len(specs) > 1

    def observe(options: CallbackOptions) -> Iterable[Observation]:
        return [Observation(sample.value, {**sample.labels, **({"wfdoctor.metric": sample.metric} if shared else {})})
                for sample in view.latest_samples() if sample.metric in names]

    return observe
