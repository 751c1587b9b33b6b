"""The HTML report in Debian's Chromium: it opens from its file with no other request, and its plots render."""

from __future__ import annotations

from pathlib import Path

from tests.report_tools import HOSTILE, open_report, synthetic_incident, synthetic_runs

PNG = b"\x89PNG\r\n\x1a\n"


def test_the_report_opens_from_its_file_with_no_request_and_shows_its_plots(browser, wfdoctor,
                                                                              tmp_path: Path) -> None:
    runs = synthetic_runs(tmp_path / "wfdoctor.db")
    assert wfdoctor("report", str(runs["tokens"]), "--out", str(tmp_path / "r"), "--format", "html").code == 0
    opened = open_report(browser, tmp_path / "r.html")
    assert opened.requests == [(tmp_path / "r.html").resolve().as_uri()]   # nothing else: no font, script, image
    assert [alt for alt, *_ in opened.images] == ["Time to first token per request, by concurrency",
                                                 "Inter-token latency percentiles, by concurrency",
                                                 "Output throughput against concurrency, with the knee"]
    for alt, complete, width, height, shown_width, shown_height in opened.images:
        assert complete and width > 0 and height > 0 and shown_width > 0 and shown_height > 0, alt
    assert opened.screenshot.startswith(PNG) and len(opened.screenshot) > 50_000   # a page of pictures, not blank


def test_hostile_text_is_shown_not_run_in_the_browser(browser, wfdoctor, tmp_path: Path) -> None:
    runs = synthetic_runs(tmp_path / "wfdoctor.db")
    assert wfdoctor("report", str(runs["tokens"]), "--out", str(tmp_path / "r"), "--format", "html").code == 0
    opened = open_report(browser, tmp_path / "r.html")
    assert opened.title.startswith("wfdoctor run") and opened.title != "pwned"
    assert HOSTILE in opened.text                              # the model name, as text
    assert len(opened.requests) == 1                           # the <img> in the name fetched nothing


def test_a_monitor_and_a_memory_report_render_their_markers_and_slope(browser, wfdoctor, tmp_path: Path) -> None:
    runs = synthetic_runs(tmp_path / "wfdoctor.db")
    for command in ("monitor", "memory watch", "council", "diagnose"):
        out = tmp_path / command.replace(" ", "-")
        assert wfdoctor("report", str(runs[command]), "--out", str(out), "--format", "html").code == 0
        opened = open_report(browser, out.with_suffix(".html"))
        assert len(opened.requests) == 1 and opened.images and all(image[2] > 0 for image in opened.images)
    assert "What this report cannot show" in opened.text and "stored no samples" in opened.text  # diagnose: empty


def test_an_incident_report_opens_with_no_request_and_its_runs_plots_render(browser, wfdoctor, tmp_path: Path) -> None:
    runs = synthetic_runs(tmp_path / "wfdoctor.db")
    number = synthetic_incident(tmp_path / "wfdoctor.db", runs)
    assert wfdoctor("report", f"incident:{number}", "--out", str(tmp_path / "i"), "--format", "html").code == 0
    opened = open_report(browser, tmp_path / "i.html")
    assert len(opened.requests) == 1 and len(opened.images) == 4   # the tokens run's three, the monitor run's one
    assert all(complete and width > 0 and shown > 0 for _, complete, width, _, shown, _ in opened.images)
    assert "Validation: before against after" in opened.text and HOSTILE in opened.text
