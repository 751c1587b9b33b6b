"""The report's plot builders on synthetic data: each SVG names its axes with units; no data is said, not drawn."""

from __future__ import annotations

import subprocess
import sys

import pytest

from wfdoctor.app.reports.report import (ChangeMark, ChangePlot, DistributionPlot, GrowthPlot, Line, Marker,
                                         MemberBar, PercentilePlot, Plot, SweepPlot, TimelinePlot, TimeSeriesPlot)
from wfdoctor.surface.plots import svg

T0 = 1_790_000_000.0


def texts(plot: Plot) -> str:
    """The SVG; matplotlib writes each text (drawn as paths) beside it as a comment, `<!-- text -->`."""
    drawn = svg(plot)
    assert drawn.startswith("<?xml") and "</svg>" in drawn
    assert "<text" not in drawn and "@font-face" not in drawn  # text as paths: no font to fetch
    assert 'href="http' not in drawn and "url(http" not in drawn  # nothing linked (namespaces are names, not fetched)
    return drawn


CASES: list[tuple[Plot, list[str]]] = [
    (DistributionPlot("TTFT per request", "run 1", "time to first token", "s", {"1": [0.1, 0.2], "4": [0.5, 0.7]}),
     ["time to first token (s)", "concurrency (parallel requests)", "(n=2)", "source: run 1"]),
    (PercentilePlot("ITL", "run 1", "inter-token latency", "s", {"1": {"p50": 0.01, "p99": 0.03},
                                                                 "2": {"p50": 0.02, "p99": 0.05}}),
     ["inter-token latency (s)", "p99 (percentile)", "concurrency (parallel requests)"]),
    (SweepPlot("Sweep", "run 1", "tokens/s", [1, 2, 4], [20.0, 36.0, 38.0], 2, "stops at 2"),
     ["output throughput (tokens/s)", "knee at concurrency 2", "stops at 2"]),
    (TimelinePlot("Council", "run 1", [MemberBar("m1", 0.2, 1.0), MemberBar("m2", None, None)]),
     ["time since the council started (s)", "first token", "start to finish", "  did not finish", "m2"]),
    (GrowthPlot("Memory", "run 1", "bytes", [0.0, 10.0, 20.0, 30.0], [1e8, 1.1e8, 1.1e8, 1.1e8], 0.0, 10.0, 10.0,
                "growth-then-plateau: grew"), ["resident memory (MB)", "fitted slope 0 MB/min", "plateau from 10 s",
                                               "growth-then-plateau: grew"]),
    (ChangePlot("History", "stored", "wf_llm_decode_tokens_per_second", "tokens/s", [40.0, 40.0, 30.0, 30.0],
                ["a", "b", "c", "d"], [ChangeMark(2, "regression", -25.0)]),
     ["wf_llm_decode_tokens_per_second (tokens/s)", "regression -25.0 % at point 2 (c)"]),
    (TimeSeriesPlot("CPU", "run 4", "wf_cpu_utilization_ratio", "ratio",
                    [Line("cpu", [T0, T0 + 1, T0 + 2], [0.1, 0.9, 0.2])], [Marker(T0 + 1, "alert firing", "HighCPU")]),
     ["wf_cpu_utilization_ratio (ratio)", "time since 2026-09-21 14:13:20 UTC (s)", "alert firing", " HighCPU"]),
]


@pytest.mark.parametrize(("plot", "labels"), CASES, ids=[type(case[0]).__name__ for case in CASES])
def test_each_plot_names_its_axes_with_units_and_its_source(plot: Plot, labels: list[str]) -> None:
    drawn = texts(plot)
    for label in labels:
        assert f"<!-- {label} -->" in drawn, label


@pytest.mark.parametrize("plot", [case[0] for case in CASES], ids=[type(case[0]).__name__ for case in CASES])
def test_a_plot_without_data_is_a_figure_saying_no_data_and_why(plot: Plot) -> None:
    from dataclasses import replace

    drawn = texts(replace(plot, empty_reason="nothing was measured"))
    assert "<!-- no data: nothing was measured -->" in drawn and f"<!-- {plot.title} -->" in drawn


def test_a_name_with_dollar_signs_is_text_not_a_formula() -> None:
    drawn = texts(DistributionPlot("model $x^2$ and $$", "run 1", "time", "s", {"1": [0.1]}))
    assert "<!-- model $x^2$ and $$ -->" in drawn


def test_no_command_but_report_and_regress_show_plot_loads_matplotlib() -> None:
    code = ("import runpy, sys\nsys.argv = ['wfdoctor', 'report', '--help']\n"
            "try:\n    runpy.run_module('wfdoctor', run_name='__main__')\nexcept SystemExit:\n    pass\n"
            "print(sorted(m for m in sys.modules if m.startswith('matplotlib')))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.splitlines()[-1] == "[]"
