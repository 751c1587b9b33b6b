"""`tokens --capacity` against the scripted server: a known number of slots is found exactly, and stored.

The schedule: k slots (`max_parallel`), each stream 50 ms to its first token then 15 tokens 20 ms apart
(0.35 s in all, 50 tokens/s). Up to k streams every first token comes after 50 ms; a (k+1)th stream
waits for a slot, a whole stream's time, so its TTFT passes 0.35 s. The test facts set every tier's
targets between the two (TTFT <= 0.2 s) and well under the decode rate (20 tokens/s).
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest

import wfdoctor
from wfdoctor.store.db import Store
from wfdoctor.testing.fake_llm import FakeConfig, FakeLLMServer

TARGETS = "targets:\n" + "".join(f"  {tier}: {{ttft_seconds: 0.2, decode_tokens_per_second: 20}}\n"
                                 for tier in ("low", "mid", "high"))


def schedule(slots: int, implementation: str = "ollama") -> FakeConfig:
    return FakeConfig(ttft_s=0.05, itl_s=0.02, tokens=16, max_parallel=slots, implementation=implementation)


@pytest.fixture
def facts(tmp_path: Path) -> Path:
    path = tmp_path / "facts.yaml"
    path.write_text(TARGETS)
    return path


def capacity(url: str, facts: Path, db: Path, ceiling: int = 16) -> wfdoctor.CapacityReport:
    options = wfdoctor.CapacityOptions(tokens=wfdoctor.TokensOptions(
        backend_url=url, runs=4, warmup=1, max_tokens=16, facts_path=facts, embedded=False), max_concurrency=ceiling)
    return wfdoctor.measure_capacity(options, db=db)


@pytest.mark.parametrize("slots", [1, 3, 6])
def test_the_search_finds_the_servers_slots_exactly_and_names_queueing(slots: int, facts: Path,
                                                                       tmp_path: Path) -> None:
    with FakeLLMServer(schedule(slots)) as server:
        report = capacity(server.base_url, facts, tmp_path / "wfdoctor.db")
    assert report.answer.streams == slots, report.answer.sentence
    assert report.answer.limit == "TTFT (queueing)"
    assert report.answer.sentence.startswith(f"this machine serves {slots} concurrent stream")
    # Ollama's own times split the late requests' TTFT: most of it is the wait for a slot.
    assert "the late requests' TTFT is 0% model load" in report.answer.sentence
    limiting = next(v for v in report.verdicts if v.concurrency == slots + 1)
    assert limiting.late_wait_share is not None and limiting.late_wait_share > 0.5
    assert {v.concurrency: v.passed for v in report.verdicts} == {v.concurrency: v.concurrency <= slots
                                                                  for v in report.verdicts}
    assert slots + 1 in {v.concurrency for v in report.verdicts}  # the failure that bounds the answer was measured
    assert report.findings == [] and not report.interrupted
    goodput = {v.concurrency: v.goodput_rps for v in report.verdicts}
    # Within capacity every stream's requests meet the targets: goodput grows with the streams.
    assert goodput[slots] == pytest.approx(slots * goodput[1], rel=0.2)


def test_without_the_servers_times_queueing_is_named_from_the_ttfts_growth(facts: Path, tmp_path: Path) -> None:
    with FakeLLMServer(schedule(3, implementation="openai")) as server:  # OpenAI's API reports no prefill time
        report = capacity(server.base_url, facts, tmp_path / "wfdoctor.db")
    assert report.answer.streams == 3 and report.answer.limit == "TTFT (queueing)", report.answer.sentence
    assert "x that at 1 stream, decode rate" in report.answer.sentence and "waiting" not in report.answer.sentence


def test_requests_the_server_reports_waiting_are_in_each_levels_verdict_progress_line_and_answer(
        wfdoctor, facts: Path) -> None:
    """The scripted server's /metrics always says 2 requests are deferred (the real llama-server's gauge is read
    the same way, while its levels stream: tests/test_server_view_llama.py)."""
    page = "# TYPE llamacpp:requests_deferred gauge\nllamacpp:requests_deferred 2\n"
    with FakeLLMServer(replace(schedule(3, implementation="openai"), answers={"/metrics": page})) as server:
        result = wfdoctor("tokens", "--capacity", "--json", "--backend", server.base_url, "--runs", "4",
                          "--max-tokens", "16", "--max-concurrency", "4", "--facts", str(facts))
    assert result.code == 0, result.stderr
    doc = result.json()
    assert {v["server_waiting"] for v in doc["verdicts"]} == {2.0}
    assert doc["answer"]["limit"] == "TTFT (queueing)"
    assert doc["answer"]["sentence"].endswith("; the server counted 2 waiting for a slot at its busiest reading)")
    said = [line for line in result.stderr.splitlines() if line.startswith("concurrency ")]
    assert said and all(line.endswith(", the server counted 2 waiting for a slot at its busiest reading)") for line in said)


def test_a_server_faster_than_the_ceiling_is_said_to_serve_at_least_the_ceiling(facts: Path, tmp_path: Path) -> None:
    with FakeLLMServer(schedule(0)) as server:
        report = capacity(server.base_url, facts, tmp_path / "wfdoctor.db", ceiling=3)
    assert [v.concurrency for v in report.verdicts] == [1, 2, 3]
    assert report.answer.streams == 3 and report.answer.limit == ""
    assert "at least 3 concurrent streams" in report.answer.sentence and "ceiling of 3" in report.answer.sentence


def test_cli_json_progress_and_the_stored_answer(wfdoctor, facts: Path, tmp_path: Path) -> None:
    with FakeLLMServer(schedule(2)) as server:
        result = wfdoctor("tokens", "--capacity", "--json", "--backend", server.base_url, "--runs", "4",
                          "--max-tokens", "16", "--max-concurrency", "8", "--facts", str(facts))
    assert result.code == 0, result.stderr
    doc = result.json()
    assert doc["answer"]["streams"] == 2 and doc["settings"]["capacity"] is True
    assert doc["statistics"]["ttft_percentile"] == 95 and doc["targets"]["ttft_s"] == 0.2
    # Progress on stderr: every level tried, in order, with its verdict.
    said = [line for line in result.stderr.splitlines() if line.startswith("concurrency ")]
    assert [line.split(":")[0] for line in said] == ["concurrency 1", "concurrency 2", "concurrency 4",
                                                     "concurrency 3"]
    assert "limited by TTFT" in said[2] and "meets the targets" in said[1]
    runs = json.loads(wfdoctor("history", "--json").stdout)
    assert runs[0]["id"] == doc["run_id"] and runs[0]["command"] == "tokens"
    with Store.open(tmp_path / "wfdoctor.db") as store:
        stored = {(s.metric, s.labels.get("concurrency", "")): s.value for s in store.samples_of(doc["run_id"])}
    assert stored[("wf_llm_capacity_streams", "")] == 2
    assert stored[("wf_llm_goodput_requests_per_second", "2")] > 0


class CtrlCDuringTheFirstLevel:
    """A progress listener that presses Ctrl-C once the first level has two requests done."""

    def note(self, message: str) -> None:
        pass

    def advance(self, task: str, done: float, total: float | None = None) -> None:
        if done >= 2:
            raise KeyboardInterrupt


def test_ctrl_c_before_any_level_finished_answers_nothing_and_keeps_the_run_as_interrupted(
        facts: Path, tmp_path: Path) -> None:
    """A level cut short proves nothing either way: no "at least 0 streams", no verdict about the server."""
    options = wfdoctor.CapacityOptions(tokens=wfdoctor.TokensOptions(
        runs=4, warmup=0, max_tokens=16, facts_path=facts, embedded=False), max_concurrency=4)
    with FakeLLMServer(schedule(2)) as server, pytest.raises(KeyboardInterrupt):
        wfdoctor.measure_capacity(replace(options, tokens=replace(options.tokens, backend_url=server.base_url)),
                                  db=tmp_path / "wfdoctor.db", progress=CtrlCDuringTheFirstLevel())
    with Store.open(tmp_path / "wfdoctor.db") as store:
        [run] = store.list_runs()
        assert run.status == "interrupted" and run.findings_by_priority == {}
        assert not any(sample.metric == "wf_llm_capacity_streams" for sample in store.samples_of(run.id))
