"""The metric registry, `data/metrics.yaml`: every `wf_` metric declared once.

A metric name used to be typed by hand in its producer, the rule files, the
report tables, a polarity file and the docs, and a typo in any one of them
silently became "not measured". Now the registry is the one place a metric is
declared (unit, meaning, labels, polarity, OpenTelemetry equivalent); the store
refuses a `wf_` sample it does not declare or whose unit differs, the rule book
refuses a rule over an undeclared metric, and docs/metrics.md is generated from
it. Series imported by `regress record` have arbitrary names, so their polarity
still comes from name patterns (`imported:`), only outside the `wf_` namespace.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator

from wfdoctor.config.yamlfile import Strict, line_of, read_yaml, validate
from wfdoctor.model import Sample, WfdoctorError

PACKAGED_METRICS = Path(__file__).resolve().parent.parent / "data" / "metrics.yaml"
NAMESPACE = "wf_"
HIGHER_IS_BETTER: dict[str, bool | None] = {"higher": True, "lower": False, "none": None}


class MetricSpec(Strict):
    """One registered metric."""

    name: str = Field(pattern=r"^wf_[a-z0-9_]+$")
    unit: str = Field(min_length=1)
    help: str = Field(min_length=1)
    labels: tuple[str, ...] = ()
    source: str = Field(min_length=1)
    polarity: Literal["higher", "lower", "none"]
    otel: str | None = None
    # Others may report it to the monitor (POST /api/samples): a page's frames, an application's own token
    # and council timings. What the monitor measures itself (the machine, processes, GPUs, servers) is not:
    # a pushed 99 % memory would otherwise raise alerts and start recovery steps.
    pushable: bool = False

    @property
    def higher_is_better(self) -> bool | None:
        """None: neither direction is better (regress check skips the series)."""
        return HIGHER_IS_BETTER[self.polarity]


class ImportedPolarity(Strict):
    """Polarity of imported series whose name matches `pattern` (a regex searched in the name)."""

    pattern: str
    polarity: Literal["higher", "lower"]

    @field_validator("pattern")
    @classmethod
    def _compiles(cls, pattern: str) -> str:
        try:
            re.compile(pattern)
        except re.error as exc:
            raise ValueError(f"not a regular expression: {exc}") from None
        return pattern


class RegistryFile(Strict):
    version: int
    metrics: list[MetricSpec] = Field(min_length=1)
    imported: list[ImportedPolarity] = Field(default_factory=list)


@dataclass(frozen=True)
class MetricRegistry:
    """The registered metrics by name (in file order) and the imported-name polarity patterns."""

    path: Path
    specs: dict[str, MetricSpec]
    imported: tuple[ImportedPolarity, ...]

    def spec(self, name: str) -> MetricSpec | None:
        return self.specs.get(name)

    def higher_is_better(self, name: str) -> bool | None:
        """Registered names: their polarity; other names outside `wf_`: the first matching pattern;
        None when neither direction is known to be better."""
        found = self.specs.get(name)
        if found is not None:
            return found.higher_is_better
        if name.startswith(NAMESPACE):
            return None
        return next((rule.polarity == "higher" for rule in self.imported if re.search(rule.pattern, name)), None)

    def check(self, samples: Iterable[Sample]) -> None:
        """Refuse a `wf_` sample that is not registered or carries another unit than the registry's."""
        for metric, unit in {(s.metric, s.unit) for s in samples if s.metric.startswith(NAMESPACE)}:
            found = self.specs.get(metric)
            if found is None:
                raise WfdoctorError(f"metric '{metric}' is not registered in {self.path}: declare it there "
                                    f"(name, unit, help, polarity)")
            if unit != found.unit:
                raise WfdoctorError(f"metric '{metric}' has unit '{unit}' but {self.path} registers '{found.unit}'")


def read_registry(path: Path) -> MetricRegistry:
    """Read and validate a registry file; errors name file, line and field."""
    data, node = read_yaml(path)
    parsed = validate(path, data, node, RegistryFile)
    specs: dict[str, MetricSpec] = {}
    for index, spec in enumerate(parsed.metrics):
        if spec.name in specs:
            line = line_of(node, ("metrics", index, "name"))
            raise WfdoctorError(f"{path}:{line}: field 'metrics.{index}.name': metric '{spec.name}' is "
                                f"registered twice")
        specs[spec.name] = spec
    return MetricRegistry(path, specs, tuple(parsed.imported))


@lru_cache(maxsize=None)
def load_metrics(path: Path = PACKAGED_METRICS) -> MetricRegistry:
    """The registry, read once per process (every stored sample is checked against it)."""
    return read_registry(path)


def spec(name: str) -> MetricSpec | None:
    """The packaged registry's entry for `name`, None when it is not registered."""
    return load_metrics().spec(name)


def higher_is_better(name: str) -> bool | None:
    """Polarity from the packaged registry: registered names and imported (non-`wf_`) names alike."""
    return load_metrics().higher_is_better(name)


DOC_HEADER = """\
# Metrics

<!-- Generated from src/wfdoctor/data/metrics.yaml: edit the registry, then run
     `python scripts/gen_metrics_doc.py` (a test fails while this file is stale). -->

Every metric wfdoctor produces or judges is declared once in
`src/wfdoctor/data/metrics.yaml`. Names follow Prometheus conventions
(`wf_<area>_<what>_<unit>`); the unit is in each sample's `unit` field. Ratios are
0-1 (0.25 is 25 %); `cores` counts CPU cores (2.0 is two cores busy); times are in
seconds, sizes in bytes.

An unregistered `wf_` name, or a sample whose unit differs from the one registered,
is refused when it is stored; a rule naming an unregistered metric is refused when
the rule book loads. Adding a metric is one registry entry plus its producer.

Besides the labels listed, a sample may carry labels from the command that recorded
it: `check` (diagnose's short token check), `concurrency` (system samples taken
during a `tokens` level), `run` (samples read back from the database).

*Better* is the polarity `wfdoctor regress check` uses: a change in the other
direction is a regression; series marked `-` are not checked. *OpenTelemetry* names
the semantic-conventions equivalent (GenAI, system, process, hardware) where one
really matches; OpenTelemetry writes ratios with unit `1` and bytes as `By`.
"""

IMPORTED_HEADER = """\
## Imported series

`wfdoctor regress record` imports series with any name (pytest-benchmark results,
CSV or JSON rows). Names outside `wf_` take their polarity from the first pattern
(a regular expression searched in the name) that matches; a name none matches is
not checked. A `wf_` name in an imported file must be registered above, and a row
without a `unit` takes the registered one.
"""


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def render_markdown(registry: MetricRegistry) -> str:
    """docs/metrics.md: the prose, one table row per metric, then the imported-name patterns."""
    lines = [DOC_HEADER, "| metric | unit | labels | better | OpenTelemetry | meaning | source |",
             "|---|---|---|---|---|---|---|"]
    for item in registry.specs.values():
        better = "-" if item.polarity == "none" else item.polarity
        otel = f"`{item.otel}`" if item.otel else ""
        lines.append(f"| `{item.name}` | {_cell(item.unit)} | {', '.join(item.labels)} | {better} | {otel} | "
                     f"{_cell(item.help)} | {_cell(item.source)} |")
    lines += ["", IMPORTED_HEADER, "| pattern | better |", "|---|---|"]
    lines += [f"| `{_cell(rule.pattern)}` | {rule.polarity} |" for rule in registry.imported]
    return "\n".join(lines) + "\n"
