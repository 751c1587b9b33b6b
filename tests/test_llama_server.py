"""llama.cpp's own server (`llama-server --parallel 3`) as a second real server.

It closes every connection after a streamed response without saying so, and it
runs its slots in parallel: every request must succeed, and the analysis must
see slots sharing compute, not a server that queues requests one at a time.
"""

from __future__ import annotations

from tests.conftest import LLAMA_SERVER_SLOTS

NO_TRACEBACK = "Traceback"


def test_tokens_at_concurrency_1_2_3_all_succeed_and_the_slots_are_recognised(wfdoctor, llama_server: str) -> None:
    result = wfdoctor("tokens", "--json", "--backend", llama_server, "--concurrency", "1,2,3", "--runs", "6",
                      "--max-tokens", "32", "--no-bandwidth", "--fail-on", "never", timeout=300)
    assert result.code == 0, result.stderr
    assert NO_TRACEBACK not in result.stderr
    doc = result.json()
    assert doc["backend"]["implementation"] == "llama.cpp"
    assert doc["backend"]["slots"] == LLAMA_SERVER_SLOTS
    for level in doc["levels"]:
        assert level["ok"] == level["requests"] == 6 and level["errors"] == {}, level
    assert [level["concurrency"] for level in doc["levels"]] == [1, 2, 3]
    codes = [finding["code"] for finding in doc["findings"]]
    assert "SERVER_SERIALISES" not in codes and "STREAMS_INTERRUPTED" not in codes
    saturated = [f for f in doc["findings"] if f["code"] == "THROUGHPUT_SATURATED"]
    assert all(f"{LLAMA_SERVER_SLOTS} slots" in finding["cause"] for finding in saturated)
    retried = sum(level["reconnects"] for level in doc["levels"])
    assert retried == 0 or any(f"the server closed {retried} reused connections" in n for n in doc["notes"])


def test_a_council_of_three_members_on_one_llama_server_all_answer(wfdoctor, llama_server: str) -> None:
    result = wfdoctor("council", "--json", "--fail-on", "never", "--max-tokens", "24",
                      "--member", llama_server, "--member", llama_server, "--member", llama_server, timeout=300)
    assert result.code == 0, result.stderr
    assert NO_TRACEBACK not in result.stderr
    council = result.json()["council"]
    assert council["ok"] == 3
    assert [member["status"] for member in council["members"]] == ["ok", "ok", "ok"]
    assert all(member["retries"] == 0 for member in council["members"])
