"""What the command line promises beyond one command: the JSON field names of v1, quick start-up, usage errors
that touch nothing, history lines fit for grep, untrusted text shown as text, and honest Ctrl-C messages."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest
from rich.console import Console

import wfdoctor
from tests.conftest import SCHEMAS
from wfdoctor.surface.terminal import TerminalProgress, interrupted_line, progress_bars

HEADER = {"schema", "run_id", "started_at", "finished_at", "exit_code"}
# Top-level fields of each v1 document as released (62a4946): names never change within v1.
V1_FIELDS = {
    "diagnose": HEADER | {"window_s", "healthy", "fail_on", "environment", "tier", "gpu", "backends", "findings",
                          "rows", "actions", "notes", "samples"},
    "tokens": HEADER | {"interrupted", "backend", "settings", "tier", "levels", "knee", "roofline", "roofline_note",
                        "findings", "requests", "notes"},
    "council": HEADER | {"settings", "tier", "implementations", "council", "early_consensus", "saved_s", "sweep",
                         "recommended_size", "answer", "answer_from", "findings", "notes"},
    "memory-watch": HEADER | {"pid", "name", "exited", "interrupted", "verdict", "explanation", "samples",
                              "duration_s", "slope_bytes_per_minute", "p_value", "autocorrelation_variance_factor",
                              "analysed_from_s", "plateau_from_s", "growth_bytes", "steps", "exhaustion_s", "series",
                              "findings"},
    "memory-profile": HEADER | {"profile", "script_exit_code"},
    "memory-models": HEADER | {"backend", "state", "plan", "actions"},
    "regress-check": HEADER | {"series", "markdown"},
}
# Nested objects every consumer reads, by their schema definition.
V1_NESTED = {
    "Finding": {"rule_id", "code", "row", "symptom", "cause", "priority", "actions", "evidence", "summary"},
    "Sample": {"metric", "value", "unit", "source", "labels", "ts"},
    "LevelSummary": {"concurrency", "requests", "ok", "errors", "throughput_tps", "wall_s", "stalls", "metrics",
                     "token_sources"},
    "RowStatus": {"id", "symptom", "likely_cause", "priority", "action", "status", "findings", "checked",
                  "not_measured"},
    "BackendStatus": {"url", "kind", "answered", "latency_s", "version", "models", "error", "embedded", "detail"},
    "RunSummary": {"id", "command", "started_at", "finished_at", "status", "tier", "findings_by_priority"},
}


def schema(name: str) -> dict:
    return json.loads((SCHEMAS / f"{name}.v1.schema.json").read_text())


@pytest.mark.parametrize("name", sorted(V1_FIELDS))
def test_every_v1_top_level_field_is_still_there_and_required(name: str) -> None:
    document = schema(name)
    assert V1_FIELDS[name] <= set(document["properties"])
    assert V1_FIELDS[name] <= set(document["required"])


@pytest.mark.parametrize("definition", sorted(V1_NESTED))
def test_every_v1_nested_field_is_still_there(definition: str) -> None:
    found = [defs[definition] for name in (*V1_FIELDS, "history") if definition in (defs := schema(name)["$defs"])]
    assert found, f"no schema defines {definition}"
    assert all(V1_NESTED[definition] <= set(d["properties"]) for d in found)


def test_wfdoctor_version_loads_no_pipeline_no_numpy_no_aiohttp() -> None:
    code = ("import runpy, sys\nsys.argv = ['wfdoctor', '--version']\n"
            "try:\n    runpy.run_module('wfdoctor', run_name='__main__')\nexcept SystemExit:\n    pass\n"
            "print(sorted(m for m in sys.modules if m.startswith(('wfdoctor.app', 'numpy', 'aiohttp', 'pydantic'))))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.splitlines() == [f"wfdoctor {wfdoctor.__version__}", "[]"]


@pytest.mark.parametrize("args", [["tokens", "--arrival", "bogus"], ["tokens", "--concurrency", "0"],
                                  ["council", "--agreement", "vague"], ["regress", "check", "--mode", "guess"],
                                  ["memory", "watch", "--pid", "0"]])
def test_a_bad_option_value_is_a_usage_error_that_creates_no_database(wfdoctor, tmp_path: Path,
                                                                       args: list[str]) -> None:
    result = wfdoctor(*args, "--db", str(tmp_path / "untouched.db"))
    assert result.code == 2 and "Invalid value" in result.stderr and "Traceback" not in result.stderr
    assert not (tmp_path / "untouched.db").exists()


def test_a_refused_import_records_no_run(wfdoctor, tmp_path: Path) -> None:
    bad = tmp_path / "r.csv"
    bad.write_text("timestamp,metric,value,unit\n1790000000,wf_llm_decode_tokens_per_second,40,tok/s\n")
    result = wfdoctor("regress", "record", str(bad))
    assert result.code == 2
    assert result.stderr.strip() == (f"wfdoctor: error: {bad}:2: wf_llm_decode_tokens_per_second is recorded in "
                                      "'tokens/s', not 'tok/s'")
    assert wfdoctor("history", "--json").json() == []


def test_a_history_line_is_never_wrapped_when_piped(wfdoctor, tmp_path: Path) -> None:
    rows = "\n".join(f"{1_790_000_000 + i},a_very_long_imported_metric_name_{'x' * 60},{i}" for i in range(2))
    (tmp_path / "r.csv").write_text("timestamp,metric,value\n" + rows + "\n")
    for _ in range(2):
        wfdoctor("regress", "record", str(tmp_path / "r.csv"))
    lines = wfdoctor("history").stdout.splitlines()  # COLUMNS=200 in the fixture: force a narrow console
    narrow = subprocess.run([sys.executable, "-m", "wfdoctor", "history", "--db", str(tmp_path / "wfdoctor.db")],
                            capture_output=True, text=True, env={"COLUMNS": "40", "PATH": "/usr/bin:/bin"})
    assert narrow.stdout.splitlines() == lines and len(lines) == 2


def test_untrusted_text_in_progress_is_shown_as_text_not_markup() -> None:
    console = Console(record=True, width=120)
    with progress_bars(console) as bars:
        TerminalProgress(bars).note("measuring model weird[/odd] [bold]x[/bold]")
    assert "weird[/odd] [bold]x[/bold]" in console.export_text()


def test_a_progress_note_is_one_line_however_narrow_the_console() -> None:
    console = Console(record=True, width=40)
    note = "measuring llama-cpp-python at http://127.0.0.1:50161, model SmolLM2-135M-Instruct"
    with progress_bars(console) as bars:
        TerminalProgress(bars).note(note)
    assert note in console.export_text().splitlines()


def test_ctrl_c_names_the_run_it_kept_or_says_none_was_recorded(tmp_path: Path) -> None:
    db = tmp_path / "w.db"
    before = time.time()
    assert interrupted_line(db, before) == "wfdoctor: interrupted before a run was recorded"
    (tmp_path / "r.csv").write_text("timestamp,metric,value\n1,m,1\n")
    report = wfdoctor.record_results(tmp_path / "r.csv", db=db)  # a run that started before `since`...
    assert interrupted_line(db, before) == "wfdoctor: interrupted before a run was recorded"
    assert interrupted_line(db, 0.0) == f"wfdoctor: interrupted; run {report.run.id} is kept as finished in {db}"
