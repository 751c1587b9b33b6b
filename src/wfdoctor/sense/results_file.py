"""Benchmark results written by other tools, read as samples for the history (`wfdoctor regress record`).

Formats are sniffed: pytest-benchmark's JSON (one point per benchmark, its median),
or CSV / JSON rows of timestamp, metric, value, revision. Errors name the file and row.
"""

from __future__ import annotations

import csv
import io
import json
import time
from datetime import datetime
from pathlib import Path
from typing import Any

from wfdoctor.config.metrics import NAMESPACE, spec
from wfdoctor.model import Sample, WfdoctorError


def _timestamp(value: Any, where: str) -> float:
    if isinstance(value, (int, float)):
        return float(value)
    try:
        return float(value)  # Unix seconds written as text (CSV)
    except ValueError:
        pass
    try:
        return datetime.fromisoformat(str(value).replace("Z", "+00:00")).timestamp()
    except ValueError:
        raise WfdoctorError(f"{where}: timestamp '{value}' is neither Unix seconds nor ISO 8601") from None


def parse_results(path: Path) -> list[Sample]:
    """pytest-benchmark JSON, or CSV / JSON rows of timestamp, metric, value, revision (format sniffed)."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise WfdoctorError(f"{path}: cannot read: {exc.strerror}") from None
    stripped = text.lstrip()
    if stripped.startswith(("{", "[")):
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise WfdoctorError(f"{path}:{exc.lineno}: invalid JSON: {exc.msg}") from None
        if isinstance(data, dict) and "benchmarks" in data:
            return _pytest_benchmark(data, path)
        rows = data if isinstance(data, list) else [data]
    else:
        rows = list(csv.DictReader(io.StringIO(text)))
    samples = []
    for number, row in enumerate(rows, start=2 if not stripped.startswith(("{", "[")) else 1):
        where = f"{path}:{number}"
        try:
            metric, value = str(row["metric"]), float(row["value"])
        except (KeyError, TypeError, ValueError):
            raise WfdoctorError(f"{where}: each row needs 'metric' and a numeric 'value'") from None
        labels = {"revision": str(row.get("revision") or ""), "point": str(number)}
        samples.append(Sample(metric, value, _unit(metric, str(row.get("unit") or ""), where),
                              f"imported from {path.name}", labels, _timestamp(row.get("timestamp", time.time()), where)))
    return samples


def _unit(metric: str, given: str, where: str) -> str:
    """A `wf_` metric is one wfdoctor measures: its unit is the registry's (it may be left out of the file)."""
    if not metric.startswith(NAMESPACE):
        return given
    registered = spec(metric)
    if registered is None:
        raise WfdoctorError(f"{where}: '{metric}' is in wfdoctor's own namespace but not a metric it measures "
                            f"(docs/metrics.md); name an imported series without the '{NAMESPACE}' prefix")
    if given and given != registered.unit:
        raise WfdoctorError(f"{where}: {metric} is recorded in '{registered.unit}', not '{given}'")
    return registered.unit


def _pytest_benchmark(data: dict[str, Any], path: Path) -> list[Sample]:
    revision = str((data.get("commit_info") or {}).get("id", ""))
    ts = _timestamp(data.get("datetime", time.time()), str(path))
    return [Sample(f"pytest_benchmark_{bench['name']}_seconds", float(bench["stats"]["median"]), "s",
                   f"pytest-benchmark {path.name} (median)", {"revision": revision}, ts)
            for bench in data["benchmarks"]]  # one file is one point per benchmark: no `point` label
