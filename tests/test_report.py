"""`wfdoctor report`: what a run's report gathers (by what its command measured) and the files the command writes."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest

import wfdoctor as api
from tests.report_tools import HOSTILE, synthetic_incident, synthetic_runs
from wfdoctor.app.report import build_report
from wfdoctor.app.reports.report import (ChangePlot, DistributionPlot, GrowthPlot, PercentilePlot, ReportTarget,
                                         SweepPlot, TimelinePlot, TimeSeriesPlot, parse_target)
from wfdoctor.store.db import Store
from wfdoctor.surface.views.schemas import schema_of


@pytest.fixture()
def db(tmp_path: Path) -> tuple[Path, dict[str, int]]:
    path = tmp_path / "wfdoctor.db"
    return path, synthetic_runs(path)


def report_of(db: tuple[Path, dict[str, int]], command: str):  # type: ignore[no-untyped-def]
    path, runs = db
    with Store.open(path) as store:
        return build_report(store, ReportTarget("run", runs[command]))


def test_a_tokens_report_has_the_ttft_distribution_the_itl_percentiles_and_the_sweep_with_its_knee(db) -> None:
    report = report_of(db, "tokens")
    [section] = report.runs
    ttft, itl, sweep = section.plots
    assert isinstance(ttft, DistributionPlot) and list(ttft.groups) == ["1", "2", "4"]
    assert all(len(values) == 10 for values in ttft.groups.values()) and ttft.unit == "s"
    assert isinstance(itl, PercentilePlot) and itl.percentiles["4"] == {"p50": 0.08, "p99": 0.2}
    assert isinstance(sweep, SweepPlot) and sweep.concurrency == [1, 2, 4] and sweep.knee == 2
    assert "stops scaling at concurrency 2" in sweep.knee_explanation
    assert report.notes == []


def test_a_report_leads_with_the_cause_and_says_on_what_it_was_measured(db) -> None:
    [section] = report_of(db, "tokens").runs
    [finding] = section.findings
    assert finding.code == "CPU_CONTENTION" and finding.priority == "high" and finding.actions == ["stop the hog"]
    facts = dict(section.facts)
    assert facts["report made by wfdoctor"] == api.__version__ and facts["tier"] == "balanced"
    assert facts["implementation"] == "llama.cpp" and facts["model"] == HOSTILE


def test_a_memory_report_draws_the_growth_the_fitted_slope_and_the_plateau_break(db) -> None:
    [plot] = report_of(db, "memory watch").runs[0].plots
    assert isinstance(plot, GrowthPlot) and len(plot.values) == 200
    assert plot.verdict.startswith("growth-then-plateau") and plot.plateau_from_s == pytest.approx(100, abs=10)
    assert plot.slope_per_s is not None and abs(plot.slope_per_s) < 1e3  # flat after the plateau (bytes/s)


def test_a_council_report_has_one_bar_per_member_with_its_first_token_and_finish(db) -> None:
    [plot] = report_of(db, "council").runs[0].plots
    assert isinstance(plot, TimelinePlot)
    assert [(m.name, m.first_token_s, m.finish_s) for m in plot.members] == [("m1", 0.2, 1.0), ("m2", 0.4, 2.0)]


def test_a_monitor_report_marks_its_alerts_and_actions_on_the_time_series(db) -> None:
    [plot] = report_of(db, "monitor").runs[0].plots
    assert isinstance(plot, TimeSeriesPlot) and plot.unit == "ratio" and len(plot.lines[0].values) == 100
    assert [(m.kind, m.label) for m in sorted(plot.markers, key=lambda m: m.ts)] == [
        ("alert firing", "HighCPU firing"), ("action", "renice hog (applied)")]


def test_a_run_with_no_samples_says_so_instead_of_looking_healthy(db) -> None:
    report = report_of(db, "diagnose")
    [plot] = report.runs[0].plots
    assert plot.empty_reason
    assert any("stored no samples: nothing was measured" in note for note in report.notes)
    assert any("no data" in note for note in report.notes)


@pytest.mark.parametrize("text", ["7", "incident:3"])
def test_a_target_is_a_run_id_or_an_incident(text: str) -> None:
    target = parse_target(text)
    assert f"{target.kind}:{target.id}".endswith(text) and target.name.startswith("wfdoctor-")


def test_the_command_writes_html_markdown_and_the_markdowns_plots(wfdoctor, tmp_path: Path) -> None:
    runs = synthetic_runs(tmp_path / "wfdoctor.db")
    result = wfdoctor("report", str(runs["tokens"]), "--out", str(tmp_path / "r"))
    assert result.code == 0, result.stderr
    assert result.stdout.split() == [str(tmp_path / "r.html"), str(tmp_path / "r.md")]
    assert "drawing 3 plots" in result.stderr and "Traceback" not in result.stderr
    markdown = (tmp_path / "r.md").read_text()
    assert sorted(p.name for p in (tmp_path / "r-plots").iterdir()) == ["01.svg", "02.svg", "03.svg"]
    assert "](r-plots/01.svg)" in markdown and "CPU\\_CONTENTION" in markdown
    assert "<script>" not in markdown and "&lt;script&gt;" in markdown


def test_the_default_name_is_the_targets_in_the_current_folder_and_json_lists_the_files(
        wfdoctor, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    runs = synthetic_runs(tmp_path / "wfdoctor.db")
    monkeypatch.chdir(tmp_path)
    result = wfdoctor("report", str(runs["council"]), "--format", "html", "--json")
    assert result.code == 0, result.stderr
    document = json.loads(result.stdout)
    jsonschema.validate(document, schema_of("wfdoctor.report/v1"))
    name = f"wfdoctor-run-{runs['council']}"
    assert document["files"] == [f"{name}.html"] and document["plots"] == 1
    assert (tmp_path / f"{name}.html").is_file() and not (tmp_path / f"{name}.md").exists()


def test_an_incident_report_has_its_cause_actions_validation_and_its_before_and_after_runs(db) -> None:
    path, runs = db
    number = synthetic_incident(path, runs)
    with Store.open(path) as store:
        report = build_report(store, ReportTarget("incident", number))
    assert report.incident is not None and report.incident.cause == "CPU_CONTENTION"
    [cause] = report.incident_findings
    assert cause.code == "CPU_CONTENTION" and cause.explains == ["SLOW_DECODE: SLOW_DECODE seen"]
    assert [s.run_id for s in report.runs] == [runs["tokens"], runs["monitor"]]
    assert report.run_roles == {runs["tokens"]: "before", runs["monitor"]: "after"}
    assert "the after run 999 is no longer in the store" in report.notes


def test_the_incident_html_shows_levels_dispositions_and_the_validation_table(wfdoctor, tmp_path: Path) -> None:
    runs = synthetic_runs(tmp_path / "wfdoctor.db")
    number = synthetic_incident(tmp_path / "wfdoctor.db", runs)
    result = wfdoctor("report", f"incident:{number}", "--out", str(tmp_path / "i"))
    assert result.code == 0, result.stderr
    html = (tmp_path / "i.html").read_text()
    for text in ("<td>L2</td><td>stop_competing_process</td>", "<td>command</td>", "<td>dry_run</td>",
                 "<td>+150.0\u00a0%</td><td>+120.0\u00a0% to +180.0\u00a0% (95%)</td>", "<td>improved</td>",
                 f"Run {runs['tokens']}: tokens (before the fix)", f"Run {runs['monitor']}: monitor (after the fix)",
                 "&lt;script&gt;document.title"):
        assert text in html, text
    assert "<script" not in html
    markdown = (tmp_path / "i.md").read_text()
    assert "| L2 | stop\\_competing\\_process |" in markdown and "before the fix" in markdown


def test_a_regress_record_report_draws_the_history_with_its_change_point(wfdoctor, tmp_path: Path) -> None:
    from tests.test_regress_cli import series, write_csv

    recorded = wfdoctor("regress", "record", str(write_csv(tmp_path / "r.csv", series(25))), "--json")
    assert recorded.code == 0, recorded.stderr
    report = api.build_report(str(recorded.json()["run_id"]), db=tmp_path / "wfdoctor.db")
    [plot] = report.runs[0].plots
    assert isinstance(plot, ChangePlot) and plot.unit == "tokens/s" and len(plot.values) == 40
    assert [(c.index, c.kind) for c in plot.changes] == [(25, "regression")] and plot.revisions[25] == "rev025"


def _capacity_run(path: Path, streams: float | None, ceiling: int = 64) -> list[tuple[str, str]]:
    """The "measured on" rows of a stored capacity run's report: its settings, then the answer and goodput rows."""
    from wfdoctor.model import Run, Sample
    from wfdoctor.store.monitoring import MonitorStore
    goodput = [Sample("wf_llm_goodput_requests_per_second", rps, "requests/s", "test", {"concurrency": level})
               for level, rps in (("4", 7.5), ("1", 2.0), ("2", 3.25))]
    answer = [Sample("wf_llm_capacity_streams", streams, "streams", "wfdoctor tokens --capacity (client-measured)",
                     {"tier": "low"})] if streams is not None else []
    run = Run("tokens", 1_790_000_000.0, tier="low", settings={"capacity": True, "max_concurrency": ceiling,
                                                                "client": "lean"})
    with MonitorStore.open(path) as store:
        with store.recording(run):
            store.add_results(run.id, goodput + answer, [])
    assert run.id is not None
    with Store.open(path) as store:
        [section] = build_report(store, ReportTarget("run", run.id)).runs
    return section.facts


def test_a_capacity_run_reports_its_answer_and_goodput_per_level(tmp_path: Path) -> None:
    facts = _capacity_run(tmp_path / "wfdoctor.db", 3.0)
    assert [row for row in facts if row[0] in ("capacity", "max_concurrency", "client")] == [
        ("client", "lean"), ("capacity", "True"), ("max_concurrency", "64")]
    assert facts[-4:] == [
        ("capacity answer", "3 concurrent streams within the low tier's targets "
                            "(wf_llm_capacity_streams, wfdoctor tokens --capacity (client-measured))"),
        ("goodput at 1 stream", "2.00 requests/s"), ("goodput at 2 streams", "3.25 requests/s"),
        ("goodput at 4 streams", "7.50 requests/s")]


@pytest.mark.parametrize(("streams", "answer"), [
    (None, "no answer stored: the search did not settle"),
    (0.0, "not even 1 stream meets the low tier's targets (wf_llm_capacity_streams, "
          "wfdoctor tokens --capacity (client-measured))"),
    (8.0, "at least 8 concurrent streams within the low tier's targets (the search stopped at its ceiling of 8) "
          "(wf_llm_capacity_streams, wfdoctor tokens --capacity (client-measured))"),
], ids=["did not settle", "not even one", "at the ceiling"])
def test_a_capacity_answer_is_worded_as_the_command_words_it(tmp_path: Path, streams: float | None,
                                                              answer: str) -> None:
    facts = _capacity_run(tmp_path / "wfdoctor.db", streams, ceiling=8)
    assert [value for name, value in facts if name == "capacity answer"] == [answer]
