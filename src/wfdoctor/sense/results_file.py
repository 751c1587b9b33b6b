"""Benchmark results written by other tools, read as samples for the history (`wfdoctor regress record`).

Formats are sniffed: pytest-benchmark's JSON (one point per benchmark, its median),
or CSV / JSON rows of timestamp, metric, value, revision. Every row is checked before
the caller stores anything, and the first bad one is a one-line error naming the file
and row: a non-finite value or a time outside 1970..2200 would otherwise sit in the
history and break every later `regress check` or `history`.
"""

from __future__ import annotations

import csv
import io
import json
import time
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

from wfdoctor.config.metrics import NAMESPACE, spec
from wfdoctor.config.textfile import read_text
from wfdoctor.model import MAX_MAGNITUDE, PLAUSIBLE_TIMES, Sample, WfdoctorError, plausible_time, plausible_value


def _number(value: Any, what: str, where: str) -> float:
    """A finite number, from JSON or from CSV text; `bool` is not a number here."""
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise WfdoctorError(f"{where}: {what} must be a number, not {type(value).__name__}")
    try:
        number = float(value)
    except (ValueError, OverflowError):
        raise WfdoctorError(f"{where}: {what} '{str(value)[:40]}' is not a number") from None
    if not plausible_value(number):
        raise WfdoctorError(f"{where}: {what} {str(value)[:40]} is not a finite number within ±{MAX_MAGNITUDE:g}")
    return number


def _timestamp(value: Any, where: str) -> float:
    """Unix seconds (number or text) or ISO 8601, at a plausible time."""
    if isinstance(value, str):
        try:
            ts = float(value)
        except ValueError:
            try:
                ts = datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
            except (ValueError, OverflowError, OSError):
                raise WfdoctorError(f"{where}: timestamp '{value[:40]}' is neither Unix seconds nor "
                                    f"ISO 8601") from None
    else:
        ts = _number(value, "timestamp", where)
    if not plausible_time(ts):
        raise WfdoctorError(f"{where}: timestamp {str(value)[:40]} is not {PLAUSIBLE_TIMES} (Unix seconds)")
    return ts


def _text(value: Any, what: str, where: str, required: bool = False) -> str:
    """A name or revision: text (or a whole number, as version control writes them)."""
    if value is None or value == "":
        if required:
            raise WfdoctorError(f"{where}: '{what}' is missing")
        return ""
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise WfdoctorError(f"{where}: '{what}' must be text, not {type(value).__name__}")
    return str(value)


def parse_results(path: Path) -> list[Sample]:
    """pytest-benchmark JSON, or CSV / JSON rows of timestamp, metric, value, revision (format sniffed)."""
    text = read_text(path, "results file")
    if text.lstrip().startswith(("{", "[")):
        data = _json(text, path)
        if isinstance(data, dict) and "benchmarks" in data:
            return _pytest_benchmark(data, path)
        return [_row(row, path, number) for number, row in enumerate(data if isinstance(data, list) else [data],
                                                                     start=1)]
    try:
        rows = list(csv.DictReader(io.StringIO(text)))
    except csv.Error as exc:
        raise WfdoctorError(f"{path}: not readable as CSV: {exc}") from None
    return [_row(row, path, number) for number, row in enumerate(rows, start=2)]


def _json(text: str, path: Path) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise WfdoctorError(f"{path}:{exc.lineno}: invalid JSON: {exc.msg}") from None
    except RecursionError:
        raise WfdoctorError(f"{path}: invalid JSON: nested too deeply") from None


def _row(row: Any, path: Path, number: int) -> Sample:
    """One row of timestamp, metric, value, revision (and unit) as a sample."""
    where = f"{path}:{number}"
    if not isinstance(row, Mapping):
        raise WfdoctorError(f"{where}: each row must be an object with 'metric' and 'value'")
    metric = _text(row.get("metric"), "metric", where, required=True)
    if "value" not in row or row["value"] in (None, ""):
        raise WfdoctorError(f"{where}: each row needs 'metric' and a numeric 'value'")
    value = _number(row["value"], "value", where)
    given = row.get("timestamp")
    ts = _timestamp(given, where) if given not in (None, "") else time.time()
    labels = {"revision": _text(row.get("revision"), "revision", where), "point": str(number)}
    unit = _unit(metric, _text(row.get("unit"), "unit", where), where)
    return Sample(metric, value, unit, f"imported from {path.name}", labels, ts)


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
    """One point per benchmark (its median), all at the file's time: one file is one point, no `point` label."""
    commit = data.get("commit_info") or {}
    if not isinstance(commit, dict):
        raise WfdoctorError(f"{path}: 'commit_info' must be an object")
    revision = _text(commit.get("id"), "commit_info.id", str(path))
    given = data.get("datetime")
    ts = _timestamp(given, f"{path}: datetime") if given is not None else time.time()
    benchmarks = data["benchmarks"]
    if not isinstance(benchmarks, list):
        raise WfdoctorError(f"{path}: 'benchmarks' must be a list")
    samples = []
    for index, bench in enumerate(benchmarks):
        where = f"{path}: benchmarks[{index}]"
        if not isinstance(bench, dict) or not isinstance(bench.get("stats"), dict):
            raise WfdoctorError(f"{where}: each benchmark needs a 'name' and 'stats' with a 'median'")
        name = _text(bench.get("name"), "name", where, required=True)
        median = _number(bench["stats"].get("median"), "stats.median", where)
        samples.append(Sample(f"pytest_benchmark_{name}_seconds", median, "s",
                              f"pytest-benchmark {path.name} (median)", {"revision": revision}, ts))
    return samples
