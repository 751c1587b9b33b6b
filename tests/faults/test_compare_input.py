"""`wfdoctor compare` given what it cannot compare: torn stored rows, run ids that are not ids, runs that
are not there. Each case: the exit code, one `wfdoctor: error:` line (or a named warning), no traceback."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

import pytest

from tests.conftest import CliResult
from wfdoctor.model import Run, Sample
from wfdoctor.store.db import Store

TTFT = "wf_llm_request_ttft_seconds"


def stored_runs(tmp_path: Path, count: int = 2) -> list[int]:
    """Runs of `tokens` with eight per-request TTFTs each, in the database the `wfdoctor` fixture uses."""
    ids = []
    with Store.open(tmp_path / "wfdoctor.db") as store:
        for _ in range(count):
            run = Run(command="tokens", started_at=time.time(), settings={"model": "m"}, environment={"hostname": "h"})
            ids.append(store.begin_run(run))
            store.add_samples(run.id or 0, [Sample(TTFT, 0.1 + i / 1000, "s", "test", {"concurrency": "1",
                                                                                      "request": str(i)})
                                            for i in range(8)])
            store.finish_run(run)
    return ids


def sql(tmp_path: Path, statement: str) -> None:
    """A hand edit of the database behind wfdoctor's back."""
    with sqlite3.connect(tmp_path / "wfdoctor.db") as connection:
        connection.execute(statement)


def one_line_error(result: CliResult, *names: str) -> None:
    assert result.code == 2, (result.stdout, result.stderr)
    assert "Traceback" not in result.stdout + result.stderr and result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("wfdoctor: error: "), result.stderr
    assert all(name in lines[0] for name in names), lines[0]


@pytest.mark.parametrize("run_id", ["0", "-1", "9223372036854775808", "99999999999999999999999"])
def test_a_run_id_outside_the_ids_sqlite_can_hold_is_one_line(wfdoctor, tmp_path: Path, run_id: str) -> None:
    first, _ = stored_runs(tmp_path)
    one_line_error(wfdoctor("compare", str(first), "--", run_id), f"run {run_id}: run ids are whole numbers from 1")


def test_a_run_id_that_is_no_number_is_a_usage_error(wfdoctor, tmp_path: Path) -> None:
    first, _ = stored_runs(tmp_path)
    result = wfdoctor("compare", str(first), "five")
    assert result.code == 2 and "Traceback" not in result.stderr and result.stdout == ""
    assert "Invalid value for 'RUN_B'" in result.stderr and "valid integer" in result.stderr


def test_a_run_that_is_not_stored_is_one_line_naming_it_and_the_database(wfdoctor, tmp_path: Path) -> None:
    first, _ = stored_runs(tmp_path)
    one_line_error(wfdoctor("compare", str(first), "7"), "no run 7 in", str(tmp_path / "wfdoctor.db"))


def test_a_deleted_run_is_not_there_any_more(wfdoctor, tmp_path: Path) -> None:
    first, second = stored_runs(tmp_path)
    sql(tmp_path, f"DELETE FROM runs WHERE id = {second}")
    one_line_error(wfdoctor("compare", str(first), str(second)), f"no run {second}")


def test_torn_sample_rows_are_left_out_and_the_rest_is_compared(wfdoctor, tmp_path: Path) -> None:
    first, second = stored_runs(tmp_path)
    sql(tmp_path, f"UPDATE samples SET value = 'fast' WHERE run_id = {second} AND labels LIKE '%\"request\": \"0\"%'")
    sql(tmp_path, f"UPDATE samples SET labels = '[not json' WHERE run_id = {second} "
                  "AND labels LIKE '%\"request\": \"1\"%'")
    result = wfdoctor("compare", str(first), str(second), "--json")
    assert result.code == 0 and "Traceback" not in result.stderr, result.stderr
    [ttft] = result.json()["comparisons"]
    assert (ttft["before_n"], ttft["after_n"]) == (8, 6)


def test_a_torn_run_row_reads_as_what_can_be_read(wfdoctor, tmp_path: Path) -> None:
    first, second = stored_runs(tmp_path)
    sql(tmp_path, f"UPDATE runs SET started_at = 'yesterday', settings = '{{torn', environment = '[1]', "
                  f"status = 'exploded' WHERE id = {second}")
    result = wfdoctor("compare", str(first), str(second), "--json")
    assert result.code == 0 and "Traceback" not in result.stderr, result.stderr
    document = result.json()
    assert document["after"]["started_at"] is None and document["after"]["model"] is None
    assert f"run {second} has status 'exploded': its samples are partial" in document["warnings"]
    assert any(f"run {second} recorded no machine facts" in note for note in document["notes"])
    text = wfdoctor("compare", str(first), str(second))
    assert text.code == 0 and "(invalid time)" in text.stdout and "Traceback" not in text.stderr


def test_json_and_markdown_together_are_a_usage_error(wfdoctor, tmp_path: Path) -> None:
    first, second = stored_runs(tmp_path)
    result = wfdoctor("compare", str(first), str(second), "--json", "--markdown")
    assert result.code == 2 and "choose one of --json and --markdown" in result.stderr
    assert "Traceback" not in result.stderr and result.stdout == ""


def test_a_worse_metric_fails_only_with_fail_on_worse(wfdoctor, tmp_path: Path) -> None:
    first, second = stored_runs(tmp_path)
    sql(tmp_path, f"UPDATE samples SET value = value * 2 WHERE run_id = {second}")
    assert wfdoctor("compare", str(first), str(second)).code == 0
    failed = wfdoctor("compare", str(first), str(second), "--fail-on-worse", "--json")
    assert failed.code == 1 and failed.json()["counts"]["worse"] == 1 and failed.json()["exit_code"] == 1
