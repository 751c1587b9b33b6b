"""`wfdoctor council`: real servers, an injected straggler, early consensus, a dying member."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from wfdoctor.measure.agreement import exact, majority, quorum_group, tokenset
from wfdoctor.sense.backends.embedded import EmbeddedServer
from wfdoctor.testing.delay_proxy import DelayProxy
from wfdoctor.testing.fake_llm import FakeConfig, FakeLLMServer, Fault

NO_WARNINGS = ("Unclosed", "Task was destroyed", "ResourceWarning", "Traceback", "was never awaited")


def council(wfdoctor, *args: str, max_tokens: int = 24) -> dict:
    result = wfdoctor("council", "--json", "--fail-on", "never", "--max-tokens", str(max_tokens), *args, timeout=300)
    assert result.code == 0, result.stderr
    for warning in NO_WARNINGS:
        assert warning not in result.stderr
    return result.json()


def codes(doc: dict) -> list[str]:
    return [f["code"] for f in doc["findings"]]


def member(doc: dict, name: str) -> dict:
    return next(m for m in doc["council"]["members"] if m["name"] == name)


@pytest.fixture(scope="module")
def three_servers() -> Iterator[list[EmbeddedServer]]:
    """Three llama-cpp-python processes with SmolLM2, interrupts off."""
    servers = [EmbeddedServer(extra_args=["--interrupt_requests", "False"]) for _ in range(3)]
    for server in servers:
        server.start()
    yield servers
    for server in servers:
        server.stop()


def test_three_members_on_one_server_are_named_serialised_with_alpha(wfdoctor, three_servers) -> None:
    url = three_servers[0].base_url
    doc = council(wfdoctor, "--member", url, "--member", url, "--member", url)
    assert doc["council"]["ok"] == 3
    assert doc["council"]["alpha"] > 0.75
    finding = next(f for f in doc["findings"] if f["code"] == "COUNCIL_SERIALISED")
    assert "llama-cpp-python" in finding["summary"] and "alpha" in finding["summary"]


def test_three_server_processes_run_in_parallel_and_contend_for_two_cores(wfdoctor, three_servers) -> None:
    # 96 tokens: the members' decodes overlap for most of their length (with 24, the stagger of their
    # first tokens left a third of each decode alone on a core, and the contention read as noise).
    doc = council(wfdoctor, *[arg for server in three_servers for arg in ("--member", server.base_url)],
                  max_tokens=96)
    assert doc["council"]["ok"] == 3
    assert doc["council"]["alpha"] < 0.75
    assert "COUNCIL_SERIALISED" not in codes(doc)
    measured = {k: doc["council"][k] for k in ("alpha", "speedup", "solo_decode_tps", "council_decode_tps")}
    assert "COUNCIL_CONTENTION" in codes(doc), measured
    finding = next(f for f in doc["findings"] if f["code"] == "COUNCIL_CONTENTION")
    assert "alpha" in finding["summary"]


def test_an_injected_ttft_delay_names_the_straggler(wfdoctor, three_servers) -> None:
    fast = [server.base_url for server in three_servers[:2]]
    with DelayProxy(three_servers[2].port, delay_s=2.0) as slow:
        doc = council(wfdoctor, "--member", fast[0], "--member", fast[1], "--member", slow.base_url)
    assert member(doc, "m3")["ttft_s"] > 2.0
    finding = next(f for f in doc["findings"] if f["code"] == "COUNCIL_STRAGGLER")
    assert finding["summary"].startswith("m3 ") and "first token" in finding["summary"]


def test_a_member_past_its_timeout_fails_after_retries_and_the_council_answers(wfdoctor, three_servers) -> None:
    fast = [server.base_url for server in three_servers[:2]]
    with DelayProxy(three_servers[2].port, delay_s=2.0) as slow:
        doc = council(wfdoctor, "--member", fast[0], "--member", fast[1], "--member", slow.base_url,
                      "--timeout", "1", "--retries", "2")
    late = member(doc, "m3")  # even its probe is late: the member fails, the other two still meet
    assert late["status"] == "failed" and late["retries"] == 2 and "timeout" in late["error"]
    assert doc["council"]["ok"] == 2 and doc["answer"] and set(doc["answer_from"]) <= {"m1", "m2"}
    assert "COUNCIL_MEMBER_FAILED" in codes(doc)


def test_early_consensus_stops_at_the_quorum_and_saves_time(wfdoctor) -> None:
    agreeing = [FakeLLMServer(FakeConfig(ttft_s=0.05, itl_s=0.02, tokens=20)) for _ in range(2)]
    slow = FakeLLMServer(FakeConfig(ttft_s=0.05, itl_s=0.06, tokens=20))
    with agreeing[0] as a, agreeing[1] as b, slow as c:
        doc = council(wfdoctor, "--member", a.base_url, "--member", b.base_url, "--member", c.base_url,
                      "--quorum", "2")
    early = doc["early_consensus"]
    assert early["consensus_s"] is not None and early["cancelled"] == 1
    assert early["consensus_members"] == ["m1", "m2"]
    assert doc["saved_s"] > 0.3  # the slow member needs ~0.8 s more


def test_disagreeing_members_make_the_council_wait_for_all(wfdoctor) -> None:
    servers = [FakeLLMServer(FakeConfig(ttft_s=0.05, itl_s=0.01, tokens=10, text_offset=i)) for i in range(3)]
    with servers[0] as a, servers[1] as b, servers[2] as c:
        doc = council(wfdoctor, "--member", a.base_url, "--member", b.base_url, "--member", c.base_url,
                      "--quorum", "2")
    early = doc["early_consensus"]
    assert early["consensus_s"] is None and early["ok"] == 3 and early["cancelled"] == 0


def test_a_server_dying_mid_stream_fails_only_its_member(wfdoctor) -> None:
    healthy = [FakeLLMServer(FakeConfig(ttft_s=0.02, itl_s=0.005, tokens=10)) for _ in range(2)]
    dying = FakeLLMServer(FakeConfig(ttft_s=0.02, itl_s=0.005, tokens=10, fault=Fault("cut", after=4)))
    with healthy[0] as a, healthy[1] as b, dying as c:
        doc = council(wfdoctor, "--member", a.base_url, "--member", b.base_url, "--member", c.base_url,
                      "--retries", "1")
    assert [m["status"] for m in doc["council"]["members"]] == ["ok", "ok", "failed"]
    assert "connection cut" in member(doc, "m3")["error"]


def test_agreement_tests_and_quorum() -> None:
    answers = {"a": "Paris.", "b": "paris", "c": "It is Lyon"}
    assert quorum_group(answers, exact(), 2) == ["a", "b"]
    assert quorum_group(answers, exact(), 3) == []
    assert tokenset(0.5)("the capital is Paris", "Paris is the capital city")
    assert majority(answers, exact()) == ("a", ["a", "b"])


def test_diagnose_reads_the_latest_council_into_its_matrix(wfdoctor) -> None:
    servers = [FakeLLMServer(FakeConfig(ttft_s=0.02, itl_s=0.01, tokens=10)) for _ in range(2)]
    with servers[0] as a, servers[1] as b:
        council(wfdoctor, "--member", a.base_url, "--member", b.base_url)
    doc = wfdoctor("diagnose", "--json", "--window", "0.2", "--no-embedded", "--backend", "http://127.0.0.1:9",
                   "--fail-on", "never").json()
    row = next(r for r in doc["rows"] if r["id"] == "council_sync_delays")
    assert {"council.sync_delay", "council.efficiency_low"} <= set(row["checked"])


def test_members_cut_off_by_llama_cpp_python_interrupts_are_explained(wfdoctor, llm_server) -> None:
    url = llm_server.base_url  # the session server keeps llama-cpp-python's default interrupt_requests=True
    doc = council(wfdoctor, "--member", url, "--member", url, "--member", url, "--retries", "0")
    finding = next(f for f in doc["findings"] if f["code"] == "COUNCIL_INTERRUPTED")
    assert finding["actions"][0] == "llama_cpp_python_no_interrupt"
