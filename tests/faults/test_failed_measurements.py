"""A failed or empty measurement is a named finding, never a pass: tokens, diagnose and council
against servers that fail, cut, hang, answer nothing, die mid-run, or are not there at all."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from wfdoctor.testing.fake_llm import FakeConfig, FakeLLMServer, Fault

pytestmark = pytest.mark.usefixtures("each_client")  # every case with both stream readers (faults/conftest.py)

QUICK = dict(ttft_s=0.01, itl_s=0.002, tokens=8)
TOKENS = ("--json", "--runs", "3", "--warmup", "0", "--no-bandwidth", "--timeout", "1")
DIAGNOSE = ("--json", "--window", "0.2", "--no-embedded", "--token-runs", "2", "--token-timeout", "1")


def stored_findings(db: Path) -> list[tuple[str, str]]:
    """(code, priority) of every finding the store kept."""
    return sqlite3.connect(db).execute("SELECT code, priority FROM findings ORDER BY id").fetchall()


def codes(doc: dict) -> dict[str, str]:
    return {f["code"]: f["priority"] for f in doc["findings"]}


def clean(result) -> None:
    assert "Traceback" not in result.stderr + result.stdout


NOTHING_USABLE = {
    "HTTP 500 to every request": (Fault("status", code=500), "SERVER_ERRORS", "HTTP 500"),
    "every stream cut": (Fault("cut", after=2), "SERVER_UNAVAILABLE", "connection cut mid-response"),
    "malformed lines": (Fault("malformed", after=1), "SERVER_UNAVAILABLE", "malformed line"),
    "[DONE] and no tokens": (Fault("empty"), "EMPTY_RESPONSES", "empty response"),
    "never answers": (Fault("hang"), "SERVER_UNAVAILABLE", "timed out"),
}


@pytest.mark.parametrize("case", sorted(NOTHING_USABLE))
def test_tokens_with_no_usable_answer_is_a_critical_finding_that_fails_and_is_kept(wfdoctor, tmp_path: Path,
                                                                                   case: str) -> None:
    fault, code, kind = NOTHING_USABLE[case]
    with FakeLLMServer(FakeConfig(**QUICK, fault=fault)) as server:
        started = time.monotonic()
        result = wfdoctor("tokens", "--backend", server.base_url, *TOKENS, "--fail-on", "high")
        took = time.monotonic() - started
    clean(result)
    assert took < 60  # three requests of at most the 1 s timeout each, plus start-up
    doc = result.json()
    assert result.code == doc["exit_code"] == 1
    [level] = doc["levels"]
    assert (level["ok"], level["requests"]) == (0, 3)
    finding = next(f for f in doc["findings"] if f["code"] == code)
    assert finding["priority"] == "critical" and finding["summary"].startswith("0 of 3 requests")
    # nothing was generated, so no cause of slow generation (CPU contention, ...) is named beside it
    assert [f["code"] for f in doc["findings"] if f["row"] == finding["row"]] == [code]
    assert any(kind in s["labels"]["error"] for s in finding["evidence"])
    assert (code, "critical") in stored_findings(tmp_path / "wfdoctor.db")
    [run] = wfdoctor("history", "--json").json()
    assert run["command"] == "tokens" and run["findings_by_priority"]["critical"] >= 1


def test_an_empty_stream_among_answers_counts_failed_and_is_named(wfdoctor, tmp_path: Path) -> None:
    with FakeLLMServer(FakeConfig(**QUICK, fault=Fault("empty"), fault_requests=[2])) as server:
        result = wfdoctor("tokens", "--backend", server.base_url, *TOKENS[:2], "4", *TOKENS[3:],
                          "--fail-on", "medium")
    clean(result)
    doc = result.json()
    assert result.code == 1  # a medium finding at --fail-on medium
    assert (doc["levels"][0]["ok"], doc["levels"][0]["requests"]) == (3, 4)
    assert [r["error"] for r in doc["requests"]["1"] if not r["ok"]] == ["empty response (an end marker and no tokens)"]
    assert codes(doc)["EMPTY_RESPONSES"] == "medium"
    assert ("EMPTY_RESPONSES", "medium") in stored_findings(tmp_path / "wfdoctor.db")


def test_cut_requests_at_concurrency_1_are_named_with_their_kind(wfdoctor) -> None:
    config = FakeConfig(**QUICK, fault=Fault("cut", after=3), fault_requests=[1, 3, 4])
    with FakeLLMServer(config) as server:
        result = wfdoctor("tokens", "--backend", server.base_url, *TOKENS[:2], "4", *TOKENS[3:])
    clean(result)
    doc = result.json()
    assert result.code == 1  # 3 of 4 failed: high, at the default --fail-on high
    finding = next(f for f in doc["findings"] if f["code"] == "REQUESTS_FAILED")
    assert finding["priority"] == "high"
    assert finding["summary"].startswith("3 of 4 requests failed at concurrency 1 (connection cut mid-response x3)")
    assert [s["value"] for s in finding["evidence"]] == [3.0]


def test_a_server_killed_mid_run_is_a_server_that_died(tmp_path: Path) -> None:
    env = os.environ | {"WFDOCTOR_DB": str(tmp_path / "w.db"), "XDG_CONFIG_HOME": str(tmp_path / "config")}
    with FakeLLMServer(FakeConfig(ttft_s=0.05, itl_s=0.02, tokens=10)) as server:  # about 0.25 s a request
        proc = subprocess.Popen([sys.executable, "-m", "wfdoctor", "tokens", "--backend", server.base_url, "--json",
                                 "--runs", "12", "--warmup", "0", "--no-bandwidth", "--timeout", "2"],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
        assert proc.stderr is not None
        while "measuring" not in proc.stderr.readline():  # connected: the measured requests start now
            pass
        time.sleep(0.8)
        assert server.process is not None
        server.process.terminate()
        out, err = proc.communicate(timeout=60)
    assert "Traceback" not in err
    doc = json.loads(out)
    assert proc.returncode == doc["exit_code"] == 1
    assert 1 <= doc["levels"][0]["ok"] < 12
    finding = next((f for f in doc["findings"] if f["code"] == "SERVER_DIED"), None)
    assert finding is not None, (doc["levels"][0]["errors"], [f["summary"] for f in doc["findings"]])
    assert finding["priority"] == "high" and "stopped answering during the run" in finding["summary"]
    assert ("SERVER_DIED", "high") in stored_findings(tmp_path / "w.db")


def test_diagnose_against_a_failing_server_is_not_healthy(wfdoctor, tmp_path: Path) -> None:
    with FakeLLMServer(FakeConfig(**QUICK, fault=Fault("status", code=503))) as server:
        result = wfdoctor("diagnose", "--backend", server.base_url, *DIAGNOSE, "--fail-on", "never")
        text = wfdoctor("diagnose", "--backend", server.base_url, *DIAGNOSE[1:], "--fail-on", "never")
    clean(result)
    clean(text)
    doc = result.json()
    assert doc["healthy"] is False and codes(doc)["SERVER_ERRORS"] == "critical"
    row = next(r for r in doc["rows"] if r["id"] == "slow_token_generation")
    assert row["status"] == "findings" and "SERVER_ERRORS" in row["findings"]
    assert "Healthy" not in text.stdout and "SERVER_ERRORS" in text.stdout
    assert ("SERVER_ERRORS", "critical") in stored_findings(tmp_path / "wfdoctor.db")


def test_diagnose_token_check_against_a_hung_server_ends_within_its_token_timeout(wfdoctor) -> None:
    with FakeLLMServer(FakeConfig(**QUICK, fault=Fault("hang"))) as server:
        started = time.monotonic()
        result = wfdoctor("diagnose", "--backend", server.base_url, *DIAGNOSE)
        took = time.monotonic() - started
    clean(result)
    doc = result.json()
    assert result.code == 1 and codes(doc)["SERVER_UNAVAILABLE"] == "critical"
    assert took < 30  # warm-up + 2 requests of 1 s each, the window and start-up; 30 s a request before


def test_diagnose_with_no_server_and_no_embedded_engine_names_no_server_and_exits_1(wfdoctor, closed_url: str,
                                                                                     tmp_path: Path) -> None:
    result = wfdoctor("diagnose", "--backend", closed_url, *DIAGNOSE)
    clean(result)
    doc = result.json()
    assert result.code == doc["exit_code"] == 1
    finding = next(f for f in doc["findings"] if f["code"] == "NO_SERVER")
    assert finding["priority"] == "high" and closed_url in finding["summary"]
    assert finding["actions"] == ["start_llm_server"]
    assert ("NO_SERVER", "high") in stored_findings(tmp_path / "wfdoctor.db")


def test_tokens_with_no_server_and_no_embedded_engine_is_one_line_exit_2(wfdoctor, tmp_path: Path) -> None:
    result = wfdoctor("tokens", "--no-embedded", "--no-bandwidth")
    clean(result)
    assert result.code == 2 and result.stdout == ""
    [line] = result.stderr.strip().splitlines()
    assert line == "wfdoctor: error: no LLM server answered on the usual ports; name one with --backend URL"
    assert stored_findings(tmp_path / "wfdoctor.db") == []


@pytest.mark.parametrize(("fault", "code"), [(Fault("status", code=500), "SERVER_ERRORS"),
                                             (Fault("empty"), "EMPTY_RESPONSES")])
def test_a_council_whose_members_all_fail_is_a_critical_finding(wfdoctor, tmp_path: Path, fault: Fault,
                                                                code: str) -> None:
    with FakeLLMServer(FakeConfig(**QUICK, fault=fault)) as server:
        result = wfdoctor("council", "--json", "--member", server.base_url, "--member", server.base_url,
                          "--retries", "0", "--timeout", "1")
    clean(result)
    doc = result.json()
    assert result.code == 1
    # the failed members explain the council's low efficiency, so they rank at least as high as it
    assert codes(doc)[code] == "critical" and codes(doc)["COUNCIL_MEMBER_FAILED"] in ("high", "critical")
    assert (code, "critical") in stored_findings(tmp_path / "wfdoctor.db")


def test_a_token_timeout_of_0_is_a_usage_error(wfdoctor) -> None:
    result = wfdoctor("diagnose", "--token-timeout", "0", "--no-embedded")
    clean(result)
    assert result.code == 2 and result.stdout == "" and "--token-timeout" in result.stderr
