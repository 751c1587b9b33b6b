"""`tokens --capacity` when things go wrong: a server that fails or never answers serves not even one stream
(a named finding, the answer stored), no server is a one-line error, bad options are usage errors, and
Ctrl-C mid-search keeps the levels measured."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from wfdoctor.testing.fake_llm import FakeConfig, FakeLLMServer, Fault

QUICK = {"ttft_s": 0.01, "itl_s": 0.002, "tokens": 8}
CAPACITY = ("tokens", "--capacity", "--json", "--runs", "2", "--warmup", "0", "--timeout", "1", "--fail-on", "high")


def clean(result) -> None:
    assert "Traceback" not in result.stderr + result.stdout


def stored(db: Path, metric: str) -> list[float]:
    return [row[0] for row in sqlite3.connect(db).execute(
        "SELECT value FROM samples WHERE metric = ?", (metric,)).fetchall()]


@pytest.mark.parametrize("fault, code", [(Fault("status", code=500), "SERVER_ERRORS"),
                                         (Fault("hang"), "SERVER_UNAVAILABLE")], ids=["http-500", "hang"])
def test_a_server_with_no_usable_answer_serves_not_even_one_stream(wfdoctor, tmp_path: Path, fault: Fault,
                                                                   code: str) -> None:
    with FakeLLMServer(FakeConfig(**QUICK, fault=fault)) as server:
        started = time.monotonic()
        result = wfdoctor(*CAPACITY, "--backend", server.base_url)
        took = time.monotonic() - started
    clean(result)
    assert took < 60  # one level of two requests, each at most the 1 s timeout, plus start-up
    doc = result.json()
    assert result.code == doc["exit_code"] == 1
    assert doc["answer"]["streams"] == 0 and doc["answer"]["sentence"].startswith("not even 1 stream")
    assert doc["answer"]["limit"].startswith("failed requests")
    assert [v["concurrency"] for v in doc["verdicts"]] == [1]
    assert any(f["code"] == code for f in doc["findings"])
    assert stored(tmp_path / "wfdoctor.db", "wf_llm_capacity_streams") == [0.0]


def test_no_server_is_one_line_and_exit_2(wfdoctor, closed_url: str) -> None:
    result = wfdoctor(*CAPACITY, "--backend", closed_url)
    clean(result)
    assert result.code == 2 and len(result.stderr.strip().splitlines()) == 1
    assert closed_url.removeprefix("http://") in result.stderr


@pytest.mark.parametrize("args, says", [(("--max-concurrency", "0"), "--max-concurrency"),
                                        (("--csv", "rows.csv"), "--csv")], ids=["zero-ceiling", "csv"])
def test_bad_capacity_options_are_usage_errors(wfdoctor, closed_url: str, args: tuple[str, ...], says: str) -> None:
    result = wfdoctor("tokens", "--capacity", "--backend", closed_url, *args)
    clean(result)
    assert result.code == 2 and says in result.stderr


def test_max_concurrency_without_capacity_is_a_usage_error(wfdoctor, closed_url: str) -> None:
    result = wfdoctor("tokens", "--max-concurrency", "8", "--backend", closed_url)
    clean(result)
    assert result.code == 2 and "--max-concurrency applies to --capacity" in result.stderr


def test_ctrl_c_mid_search_keeps_the_levels_measured(tmp_path: Path) -> None:
    db = tmp_path / "wfdoctor.db"
    # Slow streams: the search is still at its second level when the signal comes.
    with FakeLLMServer(FakeConfig(ttft_s=0.05, itl_s=0.2, tokens=10)) as server:
        process = subprocess.Popen(
            [sys.executable, "-m", "wfdoctor", "tokens", "--capacity", "--backend", server.base_url, "--runs", "2",
             "--warmup", "0", "--max-tokens", "10"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            env=os.environ | {"WFDOCTOR_DB": str(db), "XDG_CONFIG_HOME": str(tmp_path)}, start_new_session=True)
        assert process.stderr is not None
        for line in process.stderr:
            if line.startswith("concurrency 1:"):
                break
        os.killpg(process.pid, signal.SIGINT)
        _, err = process.communicate(timeout=60)
    assert process.returncode == 130 and "Traceback" not in err
    status = sqlite3.connect(db).execute("SELECT status FROM runs").fetchall()
    assert status == [("interrupted",)]
    assert stored(db, "wf_llm_goodput_requests_per_second")  # level 1's verdict was kept
