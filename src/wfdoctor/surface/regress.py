"""`wfdoctor regress`: record results, check the history for regressions, show a series."""

from __future__ import annotations

import csv
import io
import json
import time
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from wfdoctor.analyze.regression import (Change, Settings, benjamini_hochberg, detect_changes, regression_at_end,
                                         window_test)
from wfdoctor.analyze.series import Series, build_series
from wfdoctor.config.metrics import higher_is_better, spec
from wfdoctor.model import Run, Sample, WfdoctorError
from wfdoctor.store.db import Store
from wfdoctor.surface.json_doc import run_header

SCHEMA_ID = "wfdoctor.regress-check/v1"
MIN_POINTS = 8


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
        registered = spec(metric)  # a registered metric's unit may be left out of the file
        unit = str(row.get("unit") or "") or (registered.unit if registered else "")
        samples.append(Sample(metric, value, unit, f"imported from {path.name}", labels,
                              _timestamp(row.get("timestamp", time.time()), where)))
    return samples


def _pytest_benchmark(data: dict[str, Any], path: Path) -> list[Sample]:
    revision = str((data.get("commit_info") or {}).get("id", ""))
    ts = _timestamp(data.get("datetime", time.time()), str(path))
    return [Sample(f"pytest_benchmark_{bench['name']}_seconds", float(bench["stats"]["median"]), "s",
                   f"pytest-benchmark {path.name} (median)", {"revision": revision}, ts)
            for bench in data["benchmarks"]]  # one file is one point per benchmark: no `point` label


def record(path: Path, store: Store) -> int:
    """Store imported results as one run; returns how many points."""
    samples = parse_results(path)
    if not samples:
        raise WfdoctorError(f"{path}: no results found")
    run = Run(command="regress record", started_at=min(s.ts for s in samples), settings={"file": str(path)})
    run.samples = samples
    store.save_run(run)
    return len(samples)


@dataclass
class SeriesVerdict:
    series: Series
    higher_is_better: bool
    changes: list[Change]
    at_end: Change | None
    discovery: bool = False


def _window_changes(series: Series, settings: Settings, window_s: float) -> list[Change]:
    """The spec's mode: everything older than `window_s` before the newest point vs the rest."""
    cutoff = series.times[-1] - window_s
    split = sum(1 for t in series.times if t < cutoff)
    change = window_test(series.values[:split], series.values[split:], settings)
    if change is None:
        return []
    revision = series.revisions[change.index] if change.index < len(series.revisions) else ""
    return [Change(**{**change.__dict__, "revision": revision})]


def check(store: Store, metrics: list[str] | None, min_effect: float, min_after: int, mode: str = "changepoint",
          window_s: float = 24 * 3600) -> list[SeriesVerdict]:
    """Change points (or the spec's window test) in every series with a known polarity and enough
    points; Benjamini-Hochberg over the regressions at the end."""
    wanted = metrics or [name for name in store.metric_names() if higher_is_better(name) is not None]
    verdicts = []
    for series in build_series(store.metric_history(wanted) if wanted else []):
        higher = higher_is_better(series.metric)
        if higher is None or len(series.values) < MIN_POINTS:
            continue
        settings = Settings(higher, min_effect=min_effect)
        changes = (_window_changes(series, settings, window_s) if mode == "window"
                   else detect_changes(series.values, settings, series.revisions))
        verdicts.append(SeriesVerdict(series, higher, changes, regression_at_end(changes, len(series.values),
                                                                                 min_after)))
    flagged = [v for v in verdicts if v.at_end is not None]
    for verdict, keep in zip(flagged, benjamini_hochberg([v.at_end.p_value for v in flagged if v.at_end])):
        verdict.discovery = keep
    return verdicts


def check_samples(verdicts: list[SeriesVerdict]) -> list[Sample]:
    """What `diagnose` reads for the Gradual degradation row."""
    regressions = sum(v.discovery for v in verdicts)
    return [Sample("wf_regressions_detected", float(regressions), "metrics", "wfdoctor regress check",
                   {"series": str(len(verdicts))})]


def markdown(verdicts: list[SeriesVerdict]) -> str:
    """A pull-request comment."""
    found = [v for v in verdicts if v.discovery and v.at_end]
    lines = ["## wfdoctor regress check", ""]
    if not found:
        lines.append(f"No regression in {len(verdicts)} series.")
    else:
        lines += ["| series | change | before -> after | p | since |", "|---|---|---|---|---|"]
        for v in found:
            c = v.at_end
            assert c is not None
            since = c.revision or f"point {c.index}"
            lines.append(f"| `{v.series.name}` | {c.change_pct:+.1f} % | {c.mean_before:.4g} -> {c.mean_after:.4g} "
                         f"| {c.p_value:.3g} | {since} |")
    return "\n".join(lines) + "\n"


def render_check(verdicts: list[SeriesVerdict], console: Console) -> None:
    table = Table(title="Regression check", title_justify="left")
    for column in ("series", "points", "changes", "at the end"):
        table.add_column(column)
    for v in verdicts:
        changes = ", ".join(f"{c.kind} {c.change_pct:+.1f} % at {c.revision or c.index}" for c in v.changes) or "-"
        end = ("REGRESSION" if v.discovery else "regression (not significant after BH)") if v.at_end else "ok"
        table.add_row(v.series.name, str(len(v.series.values)), changes, end)
    console.print(table)
    if not verdicts:
        console.print(f"No series with a known direction and at least {MIN_POINTS} points yet.")


def check_doc(run: Run, verdicts: list[SeriesVerdict], exit_code: int) -> dict[str, Any]:
    return run_header(SCHEMA_ID, run, exit_code) | {
        "series": [{"name": v.series.name, "metric": v.series.metric, "labels": v.series.labels,
                    "higher_is_better": v.higher_is_better, "points": len(v.series.values),
                    "changes": [asdict(c) for c in v.changes],
                    "regression_at_end": asdict(v.at_end) if v.at_end else None, "discovery": v.discovery}
                   for v in verdicts],
        "markdown": markdown(verdicts),
    }


def svg_plot(series: Series, changes: list[Change], width: int = 800, height: int = 300) -> str:
    """A dependency-free SVG: the series, and a line at each change point."""
    values = series.values
    low, high = min(values), max(values)
    span = (high - low) or 1.0

    def x(i: int) -> float:
        return 40 + (width - 60) * i / max(len(values) - 1, 1)

    def y(v: float) -> float:
        return 20 + (height - 50) * (1 - (v - low) / span)

    points = " ".join(f"{x(i):.1f},{y(v):.1f}" for i, v in enumerate(values))
    marks = "".join(
        f'<line x1="{x(c.index):.1f}" y1="15" x2="{x(c.index):.1f}" y2="{height - 25}" stroke="'
        f'{"#c0392b" if c.kind in ("regression", "drift") else "#27ae60"}" stroke-dasharray="4"/>'
        f'<text x="{x(c.index) + 3:.1f}" y="14" font-size="11">{c.kind} {c.change_pct:+.1f}%</text>'
        for c in changes)
    return (f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" font-family="sans-serif">'
            f'<rect width="100%" height="100%" fill="white"/>'
            f'<text x="40" y="{height - 5}" font-size="12">{series.name} ({series.unit}), '
            f'{len(values)} points, {low:.4g} to {high:.4g}</text>'
            f'<polyline fill="none" stroke="#2c3e50" stroke-width="1.5" points="{points}"/>{marks}</svg>')
