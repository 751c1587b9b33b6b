"""`tokens --capacity` against the real SmolLM2 server (llama-cpp-python): an answer within 2 minutes, stored."""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from wfdoctor.sense.backends.embedded import EmbeddedServer


def test_the_real_server_gets_an_answer_in_under_two_minutes_and_it_is_stored(wfdoctor, llm_server,
                                                                              tmp_path: Path) -> None:
    started = time.monotonic()
    result = wfdoctor("tokens", "--capacity", "--json", "--backend", llm_server.base_url, "--runs", "2",
                      "--warmup", "1", "--max-tokens", "16", "--max-concurrency", "4", "--fail-on", "never",
                      timeout=180)
    took = time.monotonic() - started
    assert result.code == 0, result.stderr
    assert took < 120  # the acceptance: an answer in under 2 minutes
    doc = result.json()
    answer = doc["answer"]
    passed = {v["concurrency"]: v["passed"] for v in doc["verdicts"]}
    assert answer["streams"] == max((c for c, ok in passed.items() if ok and all(
        passed[below] for below in passed if below < c)), default=0)
    assert answer["sentence"].startswith("this machine serves" if answer["streams"] else "not even 1 stream")
    assert doc["backend"]["implementation"] == "llama-cpp-python"
    assert all(line.startswith("concurrency ") for line in result.stderr.splitlines() if "meets" in line)
    # Stored: the run in the history, the answer among its samples.
    run = next(r for r in json.loads(wfdoctor("history", "--json").stdout) if r["id"] == doc["run_id"])
    assert run["command"] == "tokens" and run["status"] == "finished"
    kept = sqlite3.connect(tmp_path / "wfdoctor.db").execute(
        "SELECT value FROM samples WHERE run_id = ? AND metric = 'wf_llm_capacity_streams'", (doc["run_id"],))
    assert [row[0] for row in kept] == [answer["streams"]]


@pytest.fixture(scope="module")
def queued_server() -> Iterator[EmbeddedServer]:
    """SmolLM2 with interrupts off: a new request waits for the running one, so TTFT grows with the queue."""
    with EmbeddedServer(extra_args=["--interrupt_requests", "False"]) as server:
        yield server


def test_a_server_that_serves_one_request_at_a_time_is_limited_by_queueing(wfdoctor, queued_server) -> None:
    started = time.monotonic()
    result = wfdoctor("tokens", "--capacity", "--json", "--backend", queued_server.base_url, "--runs", "2",
                      "--warmup", "1", "--max-tokens", "16", "--max-concurrency", "16", "--fail-on", "never",
                      timeout=180)
    assert result.code == 0, result.stderr
    assert time.monotonic() - started < 120
    answer = result.json()["answer"]
    assert answer["streams"] >= 1 and "TTFT (queueing)" in answer["limit"], answer["sentence"]
