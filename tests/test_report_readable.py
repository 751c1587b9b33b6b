"""An incident report's validation table is read on a page of fixed width: the answer must stay on it.

Twelve columns and a series name of fifty characters are wider than the page; the verdict was the eleventh
column and fell off its right edge, with nothing to scroll. Now it comes second (the answer next to the
series, as `compare` puts it), and a table wider than the page scrolls in its own box.
"""

from __future__ import annotations

import re
from pathlib import Path

from tests.report_tools import synthetic_incident, synthetic_runs


def test_the_validation_verdict_comes_next_to_its_series_and_wide_tables_scroll(wfdoctor, tmp_path: Path) -> None:
    runs = synthetic_runs(tmp_path / "wfdoctor.db")
    number = synthetic_incident(tmp_path / "wfdoctor.db", runs)
    assert wfdoctor("report", f"incident:{number}", "--out", str(tmp_path / "i")).code == 0
    html = (tmp_path / "i.html").read_text()
    validation = html[html.index("<h3>Validation"):]
    assert "<th>series</th><th>verdict</th>" in validation
    assert '<td>wf_llm_decode_tokens_per_second{concurrency=1}</td><td>improved</td>' in validation
    tables = re.findall(r"(.{0,19})<table>", html)
    assert tables and all(before.endswith('<div class="wide">') for before in tables)
    markdown = (tmp_path / "i.md").read_text()
    assert "| series | verdict | direction |" in markdown


def test_a_troubleshoot_runs_report_points_to_its_runs_and_incident_instead_of_nothing_measured(tmp_path: Path) -> None:
    from wfdoctor.app.report import build_report
    from wfdoctor.app.reports.report import ReportTarget
    from wfdoctor.model import Run
    from wfdoctor.store.db import Store

    with Store.open(tmp_path / "wfdoctor.db") as store:
        run = Run(command="troubleshoot", started_at=1.79e9, settings={"backend": "http://127.0.0.1:8080"})
        with store.recording(run):
            pass
        assert run.id is not None
        notes = build_report(store, ReportTarget("run", run.id)).notes
    assert not any("nothing was measured" in note for note in notes)
    assert any("`wfdoctor report incident:N`" in note for note in notes)
