"""What `troubleshoot` prints about its incident, read on an 80-column terminal (a pipe, a CI log)."""

from __future__ import annotations

from dataclasses import replace

from rich.console import Console

from tests.builders import incident
from wfdoctor.app.datafiles import load_data_files
from wfdoctor.app.reports.troubleshoot import TroubleshootReport
from wfdoctor.model import MetricComparison, Verdict
from wfdoctor.surface.views import troubleshoot as view

DECODE = MetricComparison("wf_llm_request_decode_tokens_per_second", {"concurrency": "1"}, "tokens/s", True, 8, 8,
                          16.44, 46.17, 1.808, 1.497, 2.81, 0.95, 1.0, 0.000155, Verdict.IMPROVED, "median +180.8%")


def printed(report: TroubleshootReport, width: int = 80) -> str:
    console = Console(width=width, record=True, color_system=None)
    view.render(report, console)
    return console.export_text()


def report_of(documented) -> TroubleshootReport:  # type: ignore[no-untyped-def]
    return TroubleshootReport([], [], documented, [], "http://127.0.0.1:8080", "llama.cpp", "m",
                              "low", [], load_data_files(None, []).rulebook)


def test_on_a_narrow_terminal_each_validated_series_is_one_block_with_its_whole_name() -> None:
    text = printed(report_of(replace(incident(), id=1, validation=[DECODE])))
    assert "improved: wf_llm_request_decode_tokens_per_second{concurrency=1}" in text
    assert "16.44 tokens/s (n=8) -> 46.17 tokens/s (n=8), change +180.8% [+149.7%, +281.0%]" in text
    wide = printed(report_of(replace(incident(), id=1, validation=[DECODE])), width=200)
    assert "┃ metric" in wide and "wf_llm_request_decode_tokens_per_second{concurrency=1}" in wide


def test_an_open_incident_is_not_validated_yet_and_the_hint_names_the_actions_to_say() -> None:
    text = printed(report_of(replace(incident(status="open", verdict=Verdict.INCONCLUSIVE), id=3, validation=[])),
                   width=200)
    assert "Incident 3: open (validation: not validated)" in text and "inconclusive" not in text
    assert ("wfdoctor troubleshoot --validate 3 --fixed-by ACTION (ACTION: the one you did, stop_competing_process "
            "or lower_threads)") in text


def test_incidents_list_and_show_say_an_open_incident_is_not_validated_and_count_in_words(
        wfdoctor, tmp_path) -> None:  # type: ignore[no-untyped-def]
    from wfdoctor.store.db import Store
    from wfdoctor.store.incidents import save_incident

    with Store.open(tmp_path / "wfdoctor.db") as store:
        save_incident(store, incident(status="open", verdict=Verdict.INCONCLUSIVE, note="first look"))
    listed = wfdoctor("incidents", "list").stdout
    assert " open        not validated " in listed and "inconclusive" not in listed
    assert wfdoctor("incidents", "show", "1").stdout.startswith("Incident 1: open, validation not validated (")
    assert wfdoctor("incidents", "search", "first look").stdout.startswith("1 incident matching 'first look'")


def test_a_validation_worse_after_what_the_user_did_says_to_undo_it_with_the_catalogues_undo() -> None:
    from wfdoctor.model import ActionDisposition, IncidentAction

    worse = replace(DECODE, after_median=5.0, change=-0.7, verdict=Verdict.WORSE)
    threads = IncidentAction("optimize_thread_allocation", "Optimise thread allocation", "L2", ActionDisposition.DONE,
                             "n_threads / n_threads_batch")
    text = printed(report_of(replace(incident(status="unresolved", verdict=Verdict.WORSE), id=1, validation=[worse],
                                     actions=[threads])), width=200)
    assert ("Measured worse after what you did (optimize_thread_allocation): wfdoctor undoes only what it applied, "
            "so undo it yourself: Restore the previous thread count (or the server default)") in text


def test_incidents_show_heads_its_validation_as_troubleshoot_and_the_report_do() -> None:
    from wfdoctor.surface.views.incidents import show_lines

    lines = show_lines(replace(incident(), id=1, validation=[DECODE]))
    assert "Validation: before against after:" in lines and view.VALIDATION_TITLE == "Validation: before against after"


def test_a_past_incident_is_shown_with_why_and_what_fixed_it_as_docs_incidents_says() -> None:
    from wfdoctor.analyze.incidents import IncidentMatch

    past = replace(incident(), id=1)
    fixed = IncidentMatch(past, 0.93, ["same cause CPU_CONTENTION"], past.actions[:1])
    unfixed = IncidentMatch(replace(incident(status="unresolved", verdict=Verdict.UNCHANGED), id=2), 0.6, [], [])
    report = replace(report_of(replace(incident(status="open"), id=3)), matches=[fixed, unfixed])
    text = printed(report, width=200)
    assert "  incident 1 (resolved, similarity 0.93): CPU_CONTENTION: " in text
    assert "    why: same cause CPU_CONTENTION" in text
    assert "    fixed last time by: [L2] Stop or renice wf-cpu-hog" in text
    assert "    not fixed then (no validated improvement)" in text


def test_validation_says_its_findings_are_those_found_when_the_incident_was_opened() -> None:
    from wfdoctor.app.reports.troubleshoot import WorkflowStep

    validated = replace(incident(), id=4, before_runs=[3], validation=[DECODE])
    steps = [WorkflowStep(4, "validate", "improved: 1 improved"), WorkflowStep(5, "document", "incident 4: resolved")]
    text = printed(replace(report_of(validated), steps=steps), width=200)
    assert "Found when incident 4 was opened (runs 3), before what was done:" in text
    assert "was opened" not in printed(report_of(validated), width=200)


def test_the_header_is_one_line_naming_server_model_and_tier_on_a_narrow_terminal() -> None:
    report = replace(report_of(replace(incident(), id=1)), model="SmolLM2-135M-Instruct",
                     backend_url="http://127.0.0.1:50161", implementation="llama-cpp-python")
    assert ("wfdoctor troubleshoot  llama-cpp-python at http://127.0.0.1:50161, model SmolLM2-135M-Instruct, tier low"
            in printed(report).splitlines())


def test_the_actions_step_3_took_are_told_apart_from_the_findings_catalogue_of_actions() -> None:
    text = printed(report_of(replace(incident(status="open"), id=1)), width=200)
    assert "Step 3 took the top cause's actions (CPU_CONTENTION), by level:" in text
    assert "  [L2] Stop or renice wf-cpu-hog (stop_competing_process): done by you." in text
