"""The UI row as a person reads it: `diagnose`'s text says how to measure it, or which page it judged and why;
`monitor --help` says where the dashboard and the page door are."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

from tests.test_ui_diagnose import seed
from tests.test_ui_judgement import busy_page, window


def ui_line(wfdoctor: Any, closed_url: str) -> str:
    """The triage matrix's UI row of the text report, its cells joined (COLUMNS=200: one line unless long)."""
    result = wfdoctor("diagnose", "--window", "0.3", "--backend", closed_url, "--no-embedded", "--fail-on", "never")
    assert result.code == 0 and "Traceback" not in result.stderr, result.stderr
    lines = result.stdout.splitlines()
    start = next(i for i, line in enumerate(lines) if "UI freezing/stuttering" in line)
    row = [lines[start]]
    for line in lines[start + 1:]:
        if not line.startswith("│") or line.split("│")[1].strip():   # the row ends where the next symptom starts
            break
        row.append(line)
    return " ".join(" ".join(cell.strip() for cell in line.split("│")) for line in row)


def test_an_unmeasured_ui_row_says_to_run_the_monitor_with_the_script_in_the_page(wfdoctor, closed_url: str) -> None:
    line = ui_line(wfdoctor, closed_url)
    assert "not measured: SLOW_FRAMES via wfdoctor monitor" in line
    unwrapped = line.replace(" ", "")                              # the cell wraps where it likes
    for how in ("wf-perf-monitor.js", "startPerfMonitor", "http://127.0.0.1:8471/api/frames", "docs/ui.md"):
        assert how in unwrapped, how


def test_a_measured_ui_row_names_each_cause_with_its_page(tmp_path: Path, wfdoctor, closed_url: str) -> None:
    seed(tmp_path / "wfdoctor.db", [replace(r, page="busy") for r in busy_page()] +
         [replace(r, page="calm") for r in window()])
    line = ui_line(wfdoctor, closed_url)
    assert "FOUND: SLOW_FRAMES (page 'busy')" in line and "UI_PAGE_SCRIPT (page 'busy')" in line
    assert "calm" not in line                                       # the smooth page is no cause


def test_a_healthy_ui_row_names_the_slowest_page_it_judged(tmp_path: Path, wfdoctor, closed_url: str) -> None:
    seed(tmp_path / "wfdoctor.db", [replace(r, page="calm") for r in window()] +
         [replace(r, page="calmer") for r in window(mean_ms=16.0)])
    line = ui_line(wfdoctor, closed_url)
    assert "ok (1 checked; slowest page 'calm': 16.6 ms mean frame time over" in line


def test_monitor_help_names_the_dashboard_and_the_page_door(wfdoctor) -> None:
    result = wfdoctor("monitor", "--help")
    assert result.code == 0
    text = " ".join(result.stdout.split())
    for where in ("http://127.0.0.1:8471/", "wf-perf-monitor.js", "POST /api/frames", "GET /api/settings"):
        assert where in text, where


def test_a_page_name_reaches_the_row_as_one_line_of_text(tmp_path: Path, wfdoctor, closed_url: str) -> None:
    seed(tmp_path / "wfdoctor.db", [replace(r, page="\x1b[2J[bold]chat\nview") for r in busy_page()])
    line = ui_line(wfdoctor, closed_url)
    assert "\x1b" not in line and "[bold]chat view" in line.replace("  ", " ")
