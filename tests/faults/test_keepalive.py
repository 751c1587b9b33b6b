"""Servers that close kept-alive connections without saying so.

llama.cpp's llama-server closes every connection after a stream. A request
that goes out on such a pooled connection fails before the server sees it
(the aiohttp client meets this; the lean one usually sees the close first).
Either way wfdoctor sends it once more on a fresh connection and counts that
apart, as evidence about the server, never as a failed request. A failure
after the server answered stays a failure.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from wfdoctor.store.db import Store
from wfdoctor.testing.fake_llm import FakeConfig, FakeLLMServer, Fault

pytestmark = pytest.mark.usefixtures("each_client")  # every case with both stream readers (faults/conftest.py)

CLOSES_EVERY_CONNECTION = FakeConfig(ttft_s=0.02, itl_s=0.002, tokens=8, implementation="llama.cpp",
                                     max_parallel=3, close_after_stream=True)
# Keeps the connection after a stream, then closes it unanswered when the next request arrives on it.
DROPS_REUSED_CONNECTIONS = FakeConfig(ttft_s=0.02, itl_s=0.002, tokens=8, implementation="llama.cpp",
                                      max_parallel=3, drop_reused=True)


def tokens(wfdoctor, url: str, concurrency: str) -> tuple[dict, str]:
    result = wfdoctor("tokens", "--json", "--backend", url, "--runs", "6", "--concurrency", concurrency,
                      "--no-bandwidth", "--fail-on", "never", timeout=60)
    assert result.code == 0, result.stderr
    assert "Traceback" not in result.stderr
    return result.json(), result.stderr


def stored_retries(db: Path) -> dict[str, float]:
    with Store.open(db) as store:
        [run] = store.list_runs(limit=1)
        return {s.labels["concurrency"]: s.value for s in store.samples_of(run.id)
                if s.metric == "wf_llm_connection_retries"}


def all_answered(wfdoctor, config: FakeConfig, concurrency: str, db: Path) -> tuple[dict, dict]:
    """The run's document and its one level, after checking that all six requests answered and the store
    kept the level's retries."""
    with FakeLLMServer(config) as server:
        doc, _ = tokens(wfdoctor, server.base_url, concurrency)
    [level] = doc["levels"]
    assert level["ok"] == level["requests"] == 6 and level["errors"] == {}
    assert stored_retries(db) == {concurrency: level["reconnects"]}
    return doc, level


@pytest.mark.parametrize("concurrency", ["1", "3"])
def test_requests_on_connections_the_server_closed_are_retried_and_all_succeed(wfdoctor, tmp_path: Path,
                                                                               concurrency: str) -> None:
    doc, level = all_answered(wfdoctor, DROPS_REUSED_CONNECTIONS, concurrency, tmp_path / "wfdoctor.db")
    assert level["reconnects"] >= 1
    assert all(not request["error"] for request in doc["requests"][concurrency])
    assert any(f"the server closed {level['reconnects']} reused connections" in note for note in doc["notes"])


@pytest.mark.parametrize("concurrency", ["1", "3"])
def test_a_server_that_closes_every_connection_after_its_stream_fails_no_request(wfdoctor, tmp_path: Path,
                                                                                 concurrency: str) -> None:
    all_answered(wfdoctor, CLOSES_EVERY_CONNECTION, concurrency, tmp_path / "wfdoctor.db")


def test_a_server_that_keeps_connections_open_needs_no_retry(wfdoctor, tmp_path: Path) -> None:
    config = FakeConfig(ttft_s=0.02, itl_s=0.002, tokens=8, implementation="llama.cpp")
    with FakeLLMServer(config) as server:
        doc, _ = tokens(wfdoctor, server.base_url, "1")
    assert doc["levels"][0]["reconnects"] == 0
    assert not any("reused connections" in note for note in doc["notes"])
    assert stored_retries(tmp_path / "wfdoctor.db") == {"1": 0.0}


def test_a_stream_cut_after_the_server_answered_on_a_reused_connection_is_a_failure_not_a_retry(wfdoctor) -> None:
    config = FakeConfig(ttft_s=0.02, itl_s=0.002, tokens=8, implementation="llama.cpp",
                        fault=Fault("cut", after=0), fault_requests=[3])
    with FakeLLMServer(config) as server:
        doc, _ = tokens(wfdoctor, server.base_url, "1")
    [level] = doc["levels"]
    assert level["requests"] - level["ok"] == 1
    failed = [r for r in doc["requests"]["1"] if r["error"]]
    assert len(failed) == 1 and failed[0]["reconnects"] == 0
