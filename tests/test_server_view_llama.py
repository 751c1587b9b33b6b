"""llama.cpp's own llama-server, read by the token run: its `/metrics` and `/slots` before and after each level
of a sweep at concurrency 1-3, stored as samples whose counts agree with what the client received, and read
while the levels stream too, where it reports requests waiting once the streams outnumber its slots."""

from __future__ import annotations

from pathlib import Path

import wfdoctor
from tests.conftest import LLAMA_SERVER_SLOTS
from wfdoctor.sense.backends.server_view import LLAMACPP_SLOTS
from wfdoctor.store.db import Store


def test_the_servers_counters_agree_with_the_clients_token_counts_at_every_level(wfdoctor, llama_server: str,
                                                                                 tmp_path: Path) -> None:
    result = wfdoctor("tokens", "--json", "--backend", llama_server, "--concurrency", "1,2,3", "--runs", "6",
                      "--max-tokens", "24", "--no-bandwidth", "--fail-on", "never", timeout=300)
    assert result.code == 0, result.stderr
    assert "Traceback" not in result.stderr
    doc = result.json()
    assert any(f"the server's own view: {LLAMACPP_SLOTS}" in note for note in doc["notes"])
    store = Store.open(tmp_path / "wfdoctor.db")
    try:
        stored = [s for s in store.samples_of(doc["run_id"]) if s.metric.startswith("wf_llm_server_view_")]
    finally:
        store.close()
    assert stored and all(s.source == LLAMACPP_SLOTS for s in stored)
    view = {(s.metric, int(s.labels["concurrency"])): s.value for s in stored}
    for concurrency, requests in doc["requests"].items():
        level = int(concurrency)
        assert all(r["ok"] and r["output_tokens_source"] == "server usage" for r in requests)
        assert view["wf_llm_server_view_generated_tokens", level] == sum(r["output_tokens"] for r in requests)
        assert view["wf_llm_server_view_slots", level] == LLAMA_SERVER_SLOTS
        assert view["wf_llm_server_view_decode_seconds", level] > 0
    # One stream keeps one slot busy per decode step; three streams keep more than one busy.
    assert view["wf_llm_server_view_busy_slots", 1] <= 1.01 < view["wf_llm_server_view_busy_slots", 3]


def test_more_streams_than_slots_are_seen_waiting_for_a_slot_by_the_server(wfdoctor, llama_server: str) -> None:
    streams = 2 * LLAMA_SERVER_SLOTS
    # 48 tokens: the first slots' requests still run at the first reading during the level (0.1 s in).
    result = wfdoctor("tokens", "--json", "--backend", llama_server, "--concurrency", f"1,{streams}", "--runs",
                      str(streams), "--max-tokens", "48", "--no-bandwidth", "--fail-on", "never", timeout=300)
    assert result.code == 0, result.stderr
    evidence = {e["metric"]: e for f in result.json()["findings"] for e in f["evidence"]
                if e["metric"].startswith("wf_llm_server_view_")}
    queued = evidence["wf_llm_server_view_queue_share_ratio"]
    assert queued["labels"]["concurrency"] == str(streams) and queued["value"] >= 0.3
    assert queued["source"] == LLAMACPP_SLOTS
    assert evidence["wf_llm_server_view_busy_slots"]["value"] >= 0.9 * LLAMA_SERVER_SLOTS
    # Read while the streams ran: the server itself said requests were waiting (at the level's edges it says 0).
    assert evidence["wf_llm_server_view_waiting_requests"]["value"] >= 1


def test_llama_cpp_python_is_not_asked_and_the_note_says_so(wfdoctor, llm_server) -> None:
    result = wfdoctor("tokens", "--json", "--backend", llm_server.base_url, "--runs", "2", "--max-tokens", "8",
                      "--no-bandwidth", "--fail-on", "never", timeout=300)
    assert result.code == 0, result.stderr
    doc = result.json()
    assert doc["server_view"] == []
    assert "the server's own view: nothing to report (llama-cpp-python serves no /metrics)" in doc["notes"]


def test_a_capacity_search_sees_the_server_report_waiting_once_the_streams_outnumber_its_slots(
        llama_server: str, tmp_path: Path) -> None:
    """Targets every level meets, so the search doubles to its ceiling: 1, 2 and 4 streams on 3 slots."""
    facts = tmp_path / "facts.yaml"
    facts.write_text("targets:\n" + "".join(f"  {tier}: {{ttft_seconds: 100, decode_tokens_per_second: 0.1}}\n"
                                            for tier in ("low", "mid", "high")))
    options = wfdoctor.CapacityOptions(tokens=wfdoctor.TokensOptions(
        backend_url=llama_server, runs=2, warmup=1, max_tokens=48, facts_path=facts, embedded=False),
        max_concurrency=4)
    report = wfdoctor.measure_capacity(options, db=tmp_path / "wfdoctor.db")
    waiting = {v.concurrency: v.server_waiting for v in report.verdicts}
    assert waiting.keys() == {1, 2, 4} and waiting[1] == waiting[2] == 0.0
    assert waiting[4] is not None and waiting[4] >= 1, waiting  # the fourth stream waits for one of 3 slots
