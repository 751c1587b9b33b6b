"""Causes before symptoms: a report leads with the measured cause, each symptom says what explains it, and the
actions fit the server and the machine that were measured (issue 10, acceptance points 5 and 6).

The council: two members on the default llama-cpp-python server (interrupt_requests=True, so one of them is
cut off) beside a fake OpenAI-compatible member that answers seconds late. The token run: the real SmolLM2
server on this machine, which has no GPU and a 4-bit model.
"""

from __future__ import annotations

import re
import sqlite3
import time
from pathlib import Path

import pytest
from rich.console import Console

from tests.builders import answered, council_run
from wfdoctor.analyze.council import council_metrics, stragglers
from wfdoctor.app.datafiles import load_data_files
from wfdoctor.app.judge import judge
from wfdoctor.config.rules import Circumstances
from wfdoctor.model import Finding, Priority, Sample
from wfdoctor.sense.gpu_nvml import probe_gpus
from wfdoctor.surface.views.common import Variants, print_conclusion
from wfdoctor.testing.fake_llm import FakeConfig, FakeLLMServer

CAUSES = {"COUNCIL_STRAGGLER", "COUNCIL_INTERRUPTED", "COUNCIL_MEMBER_FAILED", "COUNCIL_SERIALISED",
          "COUNCIL_CONTENTION", "CPU_BOUND", "CPU_CONTENTION"}
SYMPTOMS = {"COUNCIL_SYNC_DELAY", "COUNCIL_INEFFICIENT", "SLOW_TOKENS", "SLOW_FIRST_TOKEN"}
UNMEASURED_SERVERS = ("vLLM", "vllm", "max-num-seqs", "OLLAMA_NUM_PARALLEL", "Ollama", "llama-server")
GPU_ACTIONS = ("enable_gpu_offload", "reduce_context", "clear_gpu_cache")
QUANTISE_ACTIONS = ("lower_precision", "enable_quantization")
DATA = load_data_files(None, [])
LATE_S = 4.0      # the fake member's first token: far behind SmolLM2's answer on two shared cores


def stored_findings(db: Path) -> list[tuple[str, str]]:
    with sqlite3.connect(db) as conn:
        return conn.execute("SELECT code, priority FROM findings ORDER BY id").fetchall()


@pytest.fixture(scope="module")
def late_member():
    with FakeLLMServer(FakeConfig(ttft_s=LATE_S, itl_s=0.01, tokens=16, implementation="openai")) as server:
        yield server


def council_args(llm_server, late_member) -> list[str]:
    return ["council", "--member", llm_server.base_url, "--member", llm_server.base_url, "--member",
            late_member.base_url, "--retries", "0", "--max-tokens", "24"]


def test_a_council_leads_with_the_straggler_and_every_symptom_names_its_cause(wfdoctor, llm_server,
                                                                             late_member, tmp_path) -> None:
    started = time.monotonic()
    result = wfdoctor(*council_args(llm_server, late_member), "--json", timeout=300)
    doc = result.json()
    assert "Traceback" not in result.stderr
    findings = doc["findings"]
    codes = [f["code"] for f in findings]
    assert "COUNCIL_STRAGGLER" in codes, codes
    assert findings[0]["code"] in CAUSES and findings[0]["explained_by"] == ""
    symptoms = [f for f in findings if f["code"] in SYMPTOMS]
    assert symptoms and all(f["explained_by"] in codes for f in symptoms), [(f["code"], f["explained_by"]) for f in
                                                                             findings]
    worst_symptom = min(["critical", "high", "medium", "low", "info"].index(f["priority"]) for f in symptoms)
    straggler = next(f for f in findings if f["code"] == "COUNCIL_STRAGGLER")
    assert ["critical", "high", "medium", "low", "info"].index(straggler["priority"]) <= worst_symptom
    assert straggler["summary"].startswith("m3 ")
    assert result.code == 1                                      # critical and high findings fail --fail-on high
    assert [code for code, _ in stored_findings(tmp_path / "wfdoctor.db")] == codes
    assert time.monotonic() - started < 240


def test_a_council_report_shows_only_the_measured_servers_actions(wfdoctor, llm_server, late_member) -> None:
    result = wfdoctor(*council_args(llm_server, late_member), timeout=300)
    assert result.code == 1 and "Traceback" not in result.stdout + result.stderr
    text = result.stdout
    assert "explained by COUNCIL_STRAGGLER" in text
    assert text.index("COUNCIL_STRAGGLER") < text.index("COUNCIL_SYNC_DELAY")
    assert not [word for word in UNMEASURED_SERVERS if word in text], text
    assert text.count("Undo:") == len(set(line.split(".")[0] for line in text.splitlines()
                                          if "Undo:" in line))   # each action printed once
    assert "Actions: " in text


@pytest.mark.skipif(probe_gpus().found, reason="the machine has a GPU")
def test_tokens_on_a_cpu_with_a_4_bit_model_gives_no_gpu_or_quantise_action_and_states_threads(
        wfdoctor, llm_server) -> None:
    result = wfdoctor("tokens", "--backend", llm_server.base_url, "--runs", "3", "--max-tokens", "32", "--json",
                      timeout=300)
    doc = result.json()
    assert "Traceback" not in result.stderr and result.code in (0, 1)
    actions = {action for f in doc["findings"] for action in f["actions"]}
    assert not actions & set(GPU_ACTIONS + QUANTISE_ACTIONS), actions
    # The CPU cause: CPU_BOUND, or CPU_CONTENTION when other work shares this machine's two cores.
    cpu = next(f for f in doc["findings"] if f["code"] in ("CPU_BOUND", "CPU_CONTENTION"))
    assert re.search(r"server \(pid \d+\) used \d+\.\d\d of \d+ cores, \d+ busy threads? of \d+ cores",
                     cpu["summary"]), cpu["summary"]
    share = f"{doc['roofline']['fraction']:.0%}"
    assert share in cpu["cause"] + cpu["summary"]
    if cpu["code"] == "CPU_BOUND":
        assert "bandwidth-bound" in cpu["cause"] or "compute/overhead-bound" in cpu["cause"]
    assert findings_lead_with_causes(doc["findings"])


def findings_lead_with_causes(findings: list[dict]) -> bool:
    """No symptom a present cause explains comes before that cause."""
    order = [f["code"] for f in findings]
    return all(order.index(f["explained_by"]) < order.index(f["code"]) for f in findings if f["explained_by"])


# --- fast cases: the judge and the report over synthetic findings ------------------------------------------

def finding(code: str, rule_id: str, priority: Priority, actions: list[str]) -> Finding:
    return Finding(rule_id, code, "council_sync_delays", "Council sync delays", "cause", priority, actions, [],
                   f"{code} summary")


def judged(causes: list[Finding], samples: list[Sample], circumstances: Circumstances) -> list[Finding]:
    return judge(samples, DATA, "mid", "council", causes, circumstances).findings


SYNC_DELAY = [Sample("wf_council_sync_delay_seconds", 0.84, "s", "test")]
STRAGGLER = finding("COUNCIL_STRAGGLER", "council.council_straggler", Priority.MEDIUM,
                    ["analyze_concurrency", "enable_gpu_offload"])


def test_a_symptom_follows_the_cause_that_explains_it_and_raises_it() -> None:
    findings = judged([STRAGGLER], SYNC_DELAY, Circumstances(frozenset({"llama-cpp-python"})))
    assert [(f.code, f.priority, f.explained_by) for f in findings] == [
        ("COUNCIL_STRAGGLER", Priority.CRITICAL, ""), ("COUNCIL_SYNC_DELAY", Priority.CRITICAL, "COUNCIL_STRAGGLER")]
    assert findings[1].actions == ["analyze_concurrency", "one_server_per_stream"]   # llama-cpp-python's variant


def test_a_symptom_with_no_cause_stands_alone_with_the_default_actions() -> None:
    [alone] = judged([], SYNC_DELAY, Circumstances(frozenset({"openai-compatible"})))
    assert (alone.code, alone.explained_by, alone.actions) == ("COUNCIL_SYNC_DELAY", "",
                                                              ["analyze_concurrency", "reduce_concurrent_requests"])


def test_measured_facts_rule_actions_out_and_unmeasured_facts_do_not() -> None:
    no_gpu = judged([STRAGGLER], [], Circumstances(known={"gpu": False}))
    unknown = judged([STRAGGLER], [], Circumstances())
    assert (no_gpu[0].actions, unknown[0].actions) == (["analyze_concurrency"],
                                                       ["analyze_concurrency", "enable_gpu_offload"])
    assert not DATA.rulebook.actions["lower_precision"].fits(Circumstances(known={"low_bit_model": True}))


def test_each_action_is_printed_once_and_only_the_measured_servers_setting() -> None:
    findings = judged([STRAGGLER], SYNC_DELAY, Circumstances(frozenset({"llama-cpp-python"})))
    console = Console(record=True, width=200)
    print_conclusion(console, findings, DATA.rulebook, [], "healthy", Variants(frozenset({"llama-cpp-python"})))
    text = console.export_text()
    assert text.count("Analyse council concurrency") == 1 and "Actions: 1, 2" in text
    assert "explained by COUNCIL_STRAGGLER" in text and "--all-variants" in text
    every = Console(record=True, width=200)
    print_conclusion(every, findings, DATA.rulebook, [], "healthy", Variants(frozenset({"llama-cpp-python"}), True))
    assert "llama-cpp-python: one `python -m llama_cpp.server" in every.export_text()


def test_of_two_finished_members_the_much_later_one_is_the_straggler() -> None:
    limits = DATA.facts.limits.council
    ratio = limits.pair_straggler_ratio
    metrics = council_metrics(council_run([answered("m1", [0.1, 1.0], 1.0),
                                           answered("m2", [ratio * 0.9, ratio], ratio)], wall_s=ratio))
    [straggler] = stragglers(metrics, {}, limits, 0.1, DATA.rulebook.remedies)
    assert straggler.summary.startswith("m2 ")
    close = council_metrics(council_run([answered("m1", [0.1, 1.0], 1.0),
                                         answered("m2", [ratio * 0.9, ratio * 0.99], ratio * 0.99)], wall_s=ratio))
    assert stragglers(close, {}, limits, 0.1, DATA.rulebook.remedies) == []
