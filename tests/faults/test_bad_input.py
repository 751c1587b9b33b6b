"""Bad input is refused before anything is measured or written: one line naming the file and row (or the option),
exit 2, no traceback, and the store keeps nothing of a refused import.

Also: rows an older wfdoctor (or a hand edit) left in the database cannot crash the commands that read them,
`memory profile` exits as the profiled program did, a full disk says so, a foreign SQLite file is left alone.
"""

from __future__ import annotations

import json
import os
import sqlite3
from pathlib import Path

import pytest

from tests.conftest import CliResult
from wfdoctor.model import Run, Sample, WfdoctorError
from wfdoctor.store.db import Store

DECODE = "wf_llm_decode_tokens_per_second"
BINARY = bytes([0x8F, 0xFF, 0x00, 0x13, 0xC3, 0x28]) * 50


def one_line_error(result: CliResult, *names: str) -> None:
    """Exit 2 with a single `wfdoctor: error:` line that names each of `names`; no traceback."""
    assert result.code == 2, (result.stdout, result.stderr)
    assert "Traceback" not in result.stdout + result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("wfdoctor: error: "), result.stderr
    for name in names:
        assert name in lines[0], (name, lines[0])


def usage_error(result: CliResult, option: str) -> None:
    """Exit 2 with the usage line, naming the option; no traceback."""
    assert result.code == 2, (result.stdout, result.stderr)
    assert "Traceback" not in result.stdout + result.stderr
    assert f"Invalid value for '{option}'" in result.stderr, result.stderr


def stored(tmp_path: Path, table: str = "samples") -> int:
    """Rows in a table of the test's database (0 when no database was ever created)."""
    db = tmp_path / "wfdoctor.db"
    if not db.exists():
        return 0
    with sqlite3.connect(db) as connection:
        return int(connection.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0])


def good_rows(n: int = 12) -> list[str]:
    return [f"{1_790_000_000 + 3600 * i},{DECODE},{40 + i % 3},rev{i}" for i in range(n)]


def csv_file(path: Path, rows: list[str]) -> Path:
    path.write_text("\n".join(["timestamp,metric,value,revision", *rows]) + "\n")
    return path


# --- imports: every row checked, nothing stored when one is bad -------------------------------------------

@pytest.mark.parametrize("value", ["inf", "nan", "-inf", "1e400"])
def test_a_non_finite_value_refuses_the_whole_import(wfdoctor, tmp_path: Path, value: str) -> None:
    results = csv_file(tmp_path / "r.csv", good_rows(5) + [f"1790100000,{DECODE},{value},bad"] + good_rows(3))
    one_line_error(wfdoctor("regress", "record", str(results)), f"{results}:7:", "finite" if value != "1e400"
                   else "not a finite number")
    assert stored(tmp_path) == 0 and stored(tmp_path, "runs") == 0


@pytest.mark.parametrize("value", ["1e308", "-1e308", "1e101"])
def test_a_finite_value_too_large_for_the_statistics_refuses_the_import(wfdoctor, tmp_path: Path,
                                                                       value: str) -> None:
    # 1e308 and -1e308 alternating made every later check overflow (inf - inf = nan in the trend test)
    results = csv_file(tmp_path / "r.csv", good_rows(5) + [f"1790100000,{DECODE},{value},bad"])
    one_line_error(wfdoctor("regress", "record", str(results)), f"{results}:7:", "within")
    assert stored(tmp_path) == 0


@pytest.mark.parametrize("timestamp", ["1e20", "-5", "1790000000000"])
def test_a_timestamp_outside_1970_to_2200_is_refused(wfdoctor, tmp_path: Path, timestamp: str) -> None:
    results = csv_file(tmp_path / "r.csv", good_rows(3) + [f"{timestamp},{DECODE},41,rev"])
    one_line_error(wfdoctor("regress", "record", str(results)), f"{results}:5:", "timestamp", "1970")
    assert stored(tmp_path) == 0


def test_json_rows_with_infinity_are_refused_naming_the_row(wfdoctor, tmp_path: Path) -> None:
    results = tmp_path / "rows.json"
    results.write_text('[{"metric": "m_seconds", "value": 1.0, "timestamp": 1790000000},'
                       ' {"metric": "m_seconds", "value": -Infinity, "timestamp": 1790000001}]')
    one_line_error(wfdoctor("regress", "record", str(results)), f"{results}:2:", "finite")
    assert stored(tmp_path) == 0


def test_json_rows_that_are_not_objects_are_refused(wfdoctor, tmp_path: Path) -> None:
    results = tmp_path / "rows.json"
    results.write_text("[1, 2]")
    one_line_error(wfdoctor("regress", "record", str(results)), f"{results}:1:")
    assert stored(tmp_path) == 0


def test_a_binary_results_file_is_one_line(wfdoctor, tmp_path: Path) -> None:
    results = tmp_path / "results.csv"
    results.write_bytes(BINARY)
    one_line_error(wfdoctor("regress", "record", str(results)), str(results), "not a text file")
    assert stored(tmp_path) == 0


@pytest.mark.parametrize(("benchmark", "names"), [
    ({"stats": {"median": 0.01}}, ["benchmarks[1]", "'name' is missing"]),
    ({"name": "parse", "stats": {"median": "fast"}}, ["benchmarks[1]", "median", "not a number"]),
    ({"name": "parse", "stats": {"median": None}}, ["benchmarks[1]", "median"]),
    ({"name": "parse", "stats": [0.01]}, ["benchmarks[1]", "stats"]),
    ({"name": ["parse"], "stats": {"median": 0.01}}, ["benchmarks[1]", "'name' must be text"]),
])
def test_malformed_pytest_benchmark_json_names_the_benchmark(wfdoctor, tmp_path: Path, benchmark: dict,
                                                             names: list[str]) -> None:
    results = tmp_path / "bench.json"
    good = {"name": "ok", "stats": {"median": 0.02}}
    results.write_text(json.dumps({"datetime": "2026-11-01T10:00:00", "benchmarks": [good, benchmark]}))
    one_line_error(wfdoctor("regress", "record", str(results)), str(results), *names)
    assert stored(tmp_path) == 0


def test_pytest_benchmark_with_an_impossible_datetime_is_refused(wfdoctor, tmp_path: Path) -> None:
    results = tmp_path / "bench.json"
    results.write_text(json.dumps({"datetime": 1e20, "benchmarks": [{"name": "x", "stats": {"median": 1}}]}))
    one_line_error(wfdoctor("regress", "record", str(results)), str(results), "datetime", "timestamp")
    assert stored(tmp_path) == 0


# --- data files and prompt files ---------------------------------------------------------------------------

def watch_self(wfdoctor, *extra: str) -> CliResult:
    """`memory watch` of this test process: it loads facts and rules before it measures anything."""
    return wfdoctor("memory", "watch", "--pid", str(os.getpid()), "--duration", "1", *extra)


@pytest.mark.parametrize("option", ["--facts", "--rules"])
def test_a_binary_data_file_is_one_line(wfdoctor, tmp_path: Path, option: str) -> None:
    data = tmp_path / "data.yaml"
    data.write_bytes(BINARY)
    one_line_error(watch_self(wfdoctor, option, str(data)), str(data), "not a text file")
    assert stored(tmp_path, "runs") == 0


def test_a_binary_prompt_file_is_one_line(wfdoctor, tmp_path: Path, closed_url: str) -> None:
    prompt = tmp_path / "prompt.txt"
    prompt.write_bytes(BINARY)
    one_line_error(wfdoctor("tokens", "--backend", closed_url, "--prompt-file", str(prompt)), str(prompt),
                   "prompt file", "not a text file")
    assert stored(tmp_path, "runs") == 0


@pytest.mark.parametrize(("facts", "field"), [
    ("tier_rule: {reported_memory_factor: 0}", "tier_rule.reported_memory_factor"),
    ("tier_rule: {order: []}", "tier_rule.order"),
    ("tier_rule: {order: [low, low]}", "tier_rule.order"),
    ("tier_rule: {limits: {mid: {physical_cores: -2, ram_gib: 12, vram_gib: 4}}}",
     "tier_rule.limits.mid.physical_cores"),
    ("targets: {low: {decode_tokens_per_second: 0}}", "targets.low.decode_tokens_per_second"),
    ("thresholds: {mid: {cpu_percent: {warning: 95, critical: 80}}}", "thresholds.mid.cpu_percent"),
    ("common: {council_member_timeout_ms: -1}", "council_member_timeout_ms"),
    ("limits: {tokens: {stall_s: .inf}}", "limits.tokens.stall_s"),
])
def test_facts_out_of_range_name_the_file_and_key(wfdoctor, tmp_path: Path, facts: str, field: str) -> None:
    path = tmp_path / "facts.yaml"
    path.write_text(facts + "\n")
    one_line_error(watch_self(wfdoctor, "--facts", str(path)), f"{path}:1:", field)
    assert stored(tmp_path, "runs") == 0


RULE = """rules:
  - id: my.rule
    row: slow_token_generation
    code: MY_RULE
    cause: "a test cause"
    priority: low
    when: [{{metric: wf_cpu_utilization_ratio, op: ">", threshold: 0.5}}]
    summary: "{summary}"
    measured_by: a test
"""


@pytest.mark.parametrize(("summary", "names"), [
    ("CPU at {speed}", ["my.rule", "'speed'"]),
    ("CPU at {value_2}", ["my.rule", "'value_2'"]),
    ("CPU at {value.real}", ["rules.0.summary", "{value.real}"]),
    ("CPU at {value[0]}", ["rules.0.summary", "{value[0]}"]),
    ("CPU at {", ["rules.0.summary", "'{'"]),
])
def test_a_rule_summary_naming_an_unknown_field_is_refused_at_load(wfdoctor, tmp_path: Path, summary: str,
                                                                   names: list[str]) -> None:
    rules = tmp_path / "rules.yaml"
    rules.write_text(RULE.format(summary=summary))
    one_line_error(watch_self(wfdoctor, "--rules", str(rules)), str(rules), *names)
    assert stored(tmp_path, "runs") == 0


# --- option values: usage errors before anything runs ------------------------------------------------------

@pytest.mark.parametrize(("args", "option"), [
    (["memory", "watch", "--pid", "-1"], "--pid"),
    (["history", "--limit", "99999999999999999999"], "--limit"),
    (["history", "--limit", "0"], "--limit"),
    (["tokens", "--rate", "nan"], "--rate"),
    (["tokens", "--timeout", "inf"], "--timeout"),
    (["tokens", "--warmup", "99999999999999999999"], "--warmup"),
    (["council", "--similarity", "nan"], "--similarity"),
    (["memory", "watch", "--pid", "1", "--duration", "inf"], "--duration"),
    (["regress", "check", "--min-effect", "nan"], "--min-effect"),
])
def test_numbers_out_of_range_are_usage_errors(wfdoctor, tmp_path: Path, args: list[str], option: str) -> None:
    usage_error(wfdoctor(*args), option)
    assert stored(tmp_path, "runs") == 0


@pytest.mark.parametrize("budget", ["-1GiB", "inf", "nan"])
def test_a_negative_or_infinite_eviction_budget_is_refused(wfdoctor, tmp_path: Path, closed_url: str,
                                                           budget: str) -> None:
    result = wfdoctor("memory", "evict", f"--budget={budget}", "--backend", closed_url)
    assert result.code == 2 and "Traceback" not in result.stdout + result.stderr
    assert "budget" in result.stderr or "size" in result.stderr
    assert stored(tmp_path, "runs") == 0 and stored(tmp_path, "actions") == 0


# --- output paths: checked before measuring ----------------------------------------------------------------

@pytest.mark.parametrize("target", ["folder", "missing-folder"])
def test_tokens_checks_its_csv_path_before_measuring(wfdoctor, tmp_path: Path, closed_url: str,
                                                     target: str) -> None:
    path = tmp_path if target == "folder" else tmp_path / "nonexistent" / "x.csv"
    usage_error(wfdoctor("tokens", "--backend", closed_url, "--csv", str(path)), "--csv")
    assert stored(tmp_path, "runs") == 0


def test_regress_check_checks_its_markdown_path_before_checking(wfdoctor, tmp_path: Path) -> None:
    assert wfdoctor("regress", "record", str(csv_file(tmp_path / "r.csv", good_rows()))).code == 0
    usage_error(wfdoctor("regress", "check", "--markdown", str(tmp_path / "nonexistent" / "x.md")), "--markdown")
    assert stored(tmp_path, "runs") == 1  # the import; no check was run or recorded


# --- rows already stored by an older version or by hand ----------------------------------------------------

def write_bad_rows(db: Path) -> None:
    """What an older wfdoctor's import (or a hand edit) may have left: inf, NaN as text, impossible times,
    finite values too large for the statistics."""
    with sqlite3.connect(db) as connection:
        connection.execute("INSERT INTO runs (command, started_at, status) VALUES ('regress record', 1e20, "
                           "'finished')")
        connection.execute("INSERT INTO runs (command, started_at, status) VALUES ('regress record', 9e999, "
                           "'finished')")
        run_id = connection.execute("SELECT MIN(id) FROM runs").fetchone()[0]
        rows = [(9e999, 1_790_000_000.0), ("nan", 1_790_000_000.0), (41.0, 1e20), (41.0, -9e999), (-9e999, 1.8e9),
                (1e308, 1_790_000_100.0), (-1e308, 1_790_000_200.0)]
        connection.executemany(f"INSERT INTO samples (run_id, metric, value, unit, source, labels, ts) VALUES "
                               f"({run_id}, '{DECODE}', ?, 'tokens/s', 'by hand', '{{}}', ?)", rows)


def test_stored_bad_rows_do_not_crash_history_check_or_show(wfdoctor, tmp_path: Path) -> None:
    assert wfdoctor("regress", "record", str(csv_file(tmp_path / "r.csv", good_rows()))).code == 0
    write_bad_rows(tmp_path / "wfdoctor.db")
    history = wfdoctor("history")
    assert history.code == 0 and "(invalid time)" in history.stdout
    check = wfdoctor("regress", "check", "--json")
    assert check.code == 0 and "7 stored points skipped" in check.stderr
    [verdict] = check.json()["series"]
    assert verdict["metric"] == DECODE
    show = wfdoctor("regress", "show", DECODE)
    assert show.code == 0 and "7 stored points skipped" in show.stderr
    for result in (history, check, show):
        assert "Traceback" not in result.stdout + result.stderr and "corrupt" not in result.stderr


# --- memory profile, a full disk, a foreign database -------------------------------------------------------

@pytest.mark.parametrize(("script", "code"), [("import sys; sys.exit(3)", 3), ("raise ValueError('boom')", 1),
                                               ("x = [0] * 10", 0)])
def test_memory_profile_exits_with_the_scripts_exit_code(wfdoctor, tmp_path: Path, script: str, code: int) -> None:
    program = tmp_path / "program.py"
    program.write_text(script + "\n")
    result = wfdoctor("memory", "profile", "--json", "--", "python", str(program))
    assert result.code == code and "Traceback" not in result.stderr  # the script's own is in the report
    assert result.json()["exit_code"] == code and result.json()["script_exit_code"] == code
    assert stored(tmp_path, "runs") == 1  # the profile is kept either way


def test_memory_profile_of_a_program_killed_by_a_signal_exits_128_plus_the_signal(wfdoctor, tmp_path: Path) -> None:
    program = tmp_path / "program.py"
    program.write_text("import os, signal\nos.kill(os.getpid(), signal.SIGKILL)\n")
    result = wfdoctor("memory", "profile", "--", "python", str(program))
    assert result.code == 137 and "Traceback" not in result.stdout + result.stderr
    assert result.stderr.strip().splitlines()[-1] == ("wfdoctor: error: the profiled program was killed by signal 9 "
                                                      "before its profile was written")


def test_a_full_disk_says_so_and_keeps_the_store_usable(tmp_path: Path) -> None:
    with Store.open(tmp_path / "full.db") as store:
        run = Run(command="test", started_at=1.8e9)
        store.begin_run(run)
        pages = store._db.execute("PRAGMA page_count").fetchone()[0]
        store._db.execute(f"PRAGMA max_page_count = {pages + 2}")  # SQLite's own SQLITE_FULL, no tiny filesystem
        batch = [Sample("imported_seconds", 1.0, "s", "x" * 500, {}, 1.8e9) for _ in range(2000)]
        with pytest.raises(WfdoctorError, match=f"^disk full: {tmp_path / 'full.db'}"):
            store.add_samples(run.id or 0, batch)
        assert store.samples_of(run.id or 0) == []  # all or nothing
        store.add_samples(run.id or 0, batch[:1])  # no transaction was left open
        assert len(store.samples_of(run.id or 0)) == 1


def test_a_non_finite_sample_is_refused_by_the_store_naming_it(tmp_path: Path) -> None:
    with Store.open(tmp_path / "w.db") as store:
        run = Run(command="test", started_at=1.8e9)
        store.begin_run(run)
        with pytest.raises(WfdoctorError, match="imported_seconds = nan"):
            store.add_samples(run.id or 0, [Sample("imported_seconds", float("nan"), "s", "test", {}, 1.8e9)])


def test_a_foreign_sqlite_database_is_refused_and_left_alone(wfdoctor, tmp_path: Path) -> None:
    foreign = tmp_path / "contacts.db"
    with sqlite3.connect(foreign) as connection:
        connection.execute("CREATE TABLE contacts (name TEXT)")
    before = foreign.read_bytes()
    one_line_error(wfdoctor("history", "--db", str(foreign)), str(foreign), "another program", "contacts")
    assert foreign.read_bytes() == before
    with sqlite3.connect(foreign) as connection:
        assert connection.execute("SELECT name FROM sqlite_master").fetchall() == [("contacts",)]


def test_an_empty_sqlite_file_becomes_a_wfdoctor_database(wfdoctor, tmp_path: Path) -> None:
    empty = tmp_path / "empty.db"
    empty.touch()
    result = wfdoctor("history", "--db", str(empty))
    assert result.code == 0 and "No runs stored" in result.stdout
