"""README claims about `diagnose`'s options, exit codes, user configuration and `history`, through the CLI.

Fast: no real LLM server; the fake server stands in where one must answer.
"""

from __future__ import annotations

import json
import os
import re
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from wfdoctor.testing.fake_llm import FakeConfig, FakeLLMServer, Fault

TIERS = ("low", "mid", "high")
QUICK = ("--window", "0.2", "--no-embedded")


def memory_threshold_facts(path: Path) -> Path:
    """A facts file moving every tier's memory warning to 0.1 %: the packaged memory.high rule then fires
    (priority high) on any machine."""
    path.write_text("thresholds:\n" + "".join(
        f"  {tier}: {{memory_percent: {{warning: 0.1, critical: 100}}}}\n" for tier in TIERS))
    return path


def rule_file(path: Path, rule_id: str, code: str, threshold: float) -> Path:
    """One rule on the memory in use: fires when the used ratio is at least `threshold`."""
    path.write_text(
        f"rules:\n  - id: {rule_id}\n    row: high_memory\n    code: {code}\n    cause: \"test rule\"\n"
        f"    priority: low\n    when: [{{metric: wf_memory_used_ratio, op: '>=', threshold: {threshold}}}]\n"
        f"    summary: \"memory {{value}}\"\n    measured_by: wfdoctor diagnose\n")
    return path


def codes(doc: dict) -> list[str]:
    return [f["code"] for f in doc["findings"]]


def stored_settings(db: Path) -> dict:
    [(settings,)] = sqlite3.connect(db).execute("SELECT settings FROM runs").fetchall()
    return json.loads(settings)


def test_diagnose_samples_for_2_seconds_by_default(wfdoctor, closed_url: str, tmp_path: Path) -> None:
    doc = wfdoctor("diagnose", "--json", "--no-embedded", "--backend", closed_url, "--token-runs", "0",
                   "--fail-on", "never").json()
    assert stored_settings(tmp_path / "wfdoctor.db")["window_s"] == 2.0
    assert doc["window_s"] >= 2.0


@pytest.mark.parametrize("window", ["0.1", "601"])
def test_a_window_outside_0_2_to_600_seconds_is_a_usage_error(wfdoctor, window: str) -> None:
    result = wfdoctor("diagnose", "--window", window, "--no-embedded")
    assert result.code == 2 and "Traceback" not in result.stderr


def test_backend_is_repeatable_and_ollama_is_tried_before_openai(wfdoctor) -> None:
    both = FakeLLMServer(FakeConfig())                              # answers Ollama's API and the OpenAI one
    openai_only = FakeLLMServer(FakeConfig(implementation="openai"))
    with both as a, openai_only as b:
        doc = wfdoctor("diagnose", "--json", *QUICK, "--backend", a.base_url, "--backend", b.base_url,
                       "--token-runs", "0", "--fail-on", "never").json()
    assert [(s["url"], s["kind"], s["answered"]) for s in doc["backends"]] == [
        (a.base_url, "ollama", True), (b.base_url, "openai", True)]


def test_no_embedded_leaves_the_embedded_engine_off(wfdoctor, closed_url: str) -> None:
    doc = wfdoctor("diagnose", "--json", *QUICK, "--backend", closed_url, "--fail-on", "never").json()
    assert [(s["answered"], s["embedded"]) for s in doc["backends"]] == [(False, False)]
    assert any("--no-embedded" in note for note in doc["notes"])


def only_memory_pressure_facts(path: Path) -> Path:
    """Memory warning at 0.1 % (a high finding), CPU, GPU and VRAM thresholds out of reach: on this shared
    machine the one finding at or above `medium` is HIGH_MEMORY, whatever else is running."""
    out_of_reach = "{warning: 1000, critical: 1000}"
    path.write_text("thresholds:\n" + "".join(
        f"  {tier}: {{memory_percent: {{warning: 0.1, critical: 100}}, cpu_percent: {out_of_reach}, "
        f"gpu_utilization_percent: {out_of_reach}}}\n" for tier in TIERS)
        + "common:\n  vram_percent: {warning: 1000, critical: 1000, emergency: 1000}\n")
    return path


@pytest.mark.parametrize("fail_on, code", [("critical", 0), ("high", 1), ("info", 1), ("never", 0)])
def test_fail_on_exits_1_only_for_a_finding_at_or_above_it(wfdoctor, closed_url: str, tmp_path: Path,
                                                            fail_on: str, code: int) -> None:
    facts = only_memory_pressure_facts(tmp_path / "facts.yaml")
    result = wfdoctor("diagnose", "--json", *QUICK, "--backend", closed_url, "--facts", str(facts),
                      "--fail-on", fail_on)
    doc = result.json()
    # NO_SERVER: no server answers at the closed URL; it is high too, so the exit codes stay what they test
    assert sorted(f["code"] for f in doc["findings"] if f["priority"] in ("critical", "high")) == [
        "HIGH_MEMORY", "NO_SERVER"]
    assert result.code == doc["exit_code"] == code


def test_rules_is_repeatable_takes_a_folder_and_replaces_a_packaged_rule_with_its_id(wfdoctor, closed_url: str,
                                                                                     tmp_path: Path) -> None:
    facts = memory_threshold_facts(tmp_path / "facts.yaml")  # the packaged memory.high would fire
    folder = tmp_path / "rules.d"
    folder.mkdir()
    rule_file(folder / "extra.yaml", "test.any_memory", "ANY_MEMORY", 0.0)
    never = rule_file(tmp_path / "replace.yaml", "memory.high", "HIGH_MEMORY", 2.0)  # 200 %: never fires
    doc = wfdoctor("diagnose", "--json", *QUICK, "--backend", closed_url, "--facts", str(facts),
                   "--rules", str(folder), "--rules", str(never), "--fail-on", "never").json()
    assert "ANY_MEMORY" in codes(doc) and "HIGH_MEMORY" not in codes(doc)
    row = next(r for r in doc["rows"] if r["id"] == "high_memory")
    assert "memory.high" in row["checked"]  # the replacement ran, and passed


def process_samples(doc: dict, metric: str) -> list[dict]:
    return [s for s in doc["samples"] if s["metric"] == metric]


def test_top_sets_how_many_processes_are_listed_by_cpu_and_by_memory(wfdoctor, closed_url: str) -> None:
    default = wfdoctor("diagnose", "--json", *QUICK, "--backend", closed_url, "--fail-on", "never").json()
    two = wfdoctor("diagnose", "--json", *QUICK, "--backend", closed_url, "--top", "2", "--fail-on", "never").json()
    assert len(process_samples(default, "wf_process_resident_memory_bytes")) == 5
    assert len(process_samples(two, "wf_process_resident_memory_bytes")) == 2
    assert 1 <= len(process_samples(two, "wf_process_cpu_utilization_ratio")) <= 2


@pytest.mark.parametrize("option, measured", [((), 3), (("--token-runs", "5"), 5), (("--token-runs", "0"), 0)])
def test_token_runs_is_the_number_of_requests_in_the_short_token_check(wfdoctor, option: tuple[str, ...],
                                                                        measured: int) -> None:
    failing = FakeConfig(fault=Fault("status", code=503))  # every request fails: the count shows how many ran
    with FakeLLMServer(failing) as server:
        doc = wfdoctor("diagnose", "--json", *QUICK, "--backend", server.base_url, *option,
                       "--fail-on", "never").json()
    failed = [s["value"] for s in doc["samples"] if s["metric"] == "wf_llm_failed_requests"]
    assert failed == ([float(measured)] if measured else [])


@pytest.mark.parametrize("option, timeout", [((), 10.0), (("--token-timeout", "2.5"), 2.5)])
def test_token_timeout_is_how_long_a_token_check_request_may_go_without_data(wfdoctor, closed_url: str,
                                                                              tmp_path: Path, option: tuple[str, ...],
                                                                              timeout: float) -> None:
    wfdoctor("diagnose", *QUICK, "--backend", closed_url, *option, "--fail-on", "never")
    assert stored_settings(tmp_path / "wfdoctor.db")["token_timeout_s"] == timeout


@pytest.mark.parametrize("timeout", ["0", "-1", "601"])
def test_a_token_timeout_outside_0_1_to_600_seconds_is_a_usage_error(wfdoctor, timeout: str) -> None:
    result = wfdoctor("diagnose", "--token-timeout", timeout, "--no-embedded")
    assert result.code == 2 and "Traceback" not in result.stderr and result.stdout == ""


def test_db_names_the_database(wfdoctor, closed_url: str, tmp_path: Path) -> None:
    db = tmp_path / "elsewhere" / "mine.db"
    db.parent.mkdir()
    assert wfdoctor("diagnose", *QUICK, "--backend", closed_url, "--db", str(db), "--fail-on", "never").code == 0
    assert [run["command"] for run in wfdoctor("history", "--json", "--db", str(db)).json()] == ["diagnose"]
    assert wfdoctor("history", "--json").json() == []  # $WFDOCTOR_DB's database stayed empty


@pytest.mark.parametrize("data_home", [None, "xdg-data"])
def test_without_db_or_wfdoctor_db_the_database_is_under_the_xdg_data_home(tmp_path: Path,
                                                                            data_home: str | None) -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("WFDOCTOR_DB", "XDG_DATA_HOME")} | {
        "HOME": str(tmp_path)}
    if data_home:
        env["XDG_DATA_HOME"] = str(tmp_path / data_home)
    subprocess.run([sys.executable, "-m", "wfdoctor", "history"], env=env, check=True, capture_output=True)
    expected = tmp_path / (data_home or ".local/share") / "wfdoctor" / "wfdoctor.db"
    assert expected.is_file()


COMMANDS = [["diagnose"], ["tokens"], ["council"], ["memory", "watch"], ["memory", "profile"],
            ["memory", "models"], ["memory", "unload"], ["memory", "preload"], ["memory", "evict"],
            ["regress", "record"], ["regress", "check"], ["regress", "show"], ["history"]]


@pytest.mark.parametrize("command", COMMANDS, ids=" ".join)
def test_every_command_exits_2_on_a_bad_option(wfdoctor, command: list[str]) -> None:
    result = wfdoctor(*command, "--no-such-option")
    assert result.code == 2 and "Traceback" not in result.stderr and result.stdout == ""


def one_line_error(result) -> str:
    assert result.code == 2 and result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    return lines[0]


@pytest.mark.parametrize("command", [
    ["diagnose", *QUICK], ["tokens", "--backend", "http://127.0.0.1:9"], ["council", "--member", "http://127.0.0.1:9"],
    ["memory", "watch", "--pid", str(os.getpid()), "--duration", "1"]], ids=lambda c: c[0])
def test_a_broken_facts_file_exits_2_with_one_line_naming_file_and_line(wfdoctor, tmp_path: Path,
                                                                        command: list[str]) -> None:
    broken = tmp_path / "facts.yaml"
    broken.write_text("thresholds:\n  low:\n    memory_percent: {warning: eighty}\n")
    line = one_line_error(wfdoctor(*command, "--facts", str(broken)))
    assert line.startswith(f"wfdoctor: error: {broken}:3:"), line


@pytest.mark.parametrize("command", [["tokens", "--backend"], ["council", "--member"]], ids=lambda c: c[0])
def test_no_server_at_the_named_url_exits_2_with_one_line(wfdoctor, closed_url: str, command: list[str]) -> None:
    line = one_line_error(wfdoctor(*command, closed_url))
    assert line.startswith("wfdoctor: error: ") and closed_url in line and "no LLM server answered" in line


def test_a_server_url_with_a_path_that_answers_nothing_says_to_name_the_base_url(wfdoctor) -> None:
    with FakeLLMServer(FakeConfig()) as server:
        line = one_line_error(wfdoctor("tokens", "--backend", f"{server.base_url}/v1", "--runs", "1"))
    assert line.endswith("name the server's base URL, without a path such as /v1"), line


def test_a_scheme_in_capitals_is_the_same_scheme(wfdoctor) -> None:
    with FakeLLMServer(FakeConfig(tokens=4)) as server:
        result = wfdoctor("tokens", "--json", "--backend", server.base_url.replace("http://", "HTTP://"), "--runs", "1",
                          "--warmup", "0", "--max-tokens", "4", "--no-bandwidth", "--fail-on", "never")
    assert result.code == 0, result.stderr
    assert result.json()["levels"][0]["ok"] == 1


@pytest.mark.parametrize("url", ["http://127.0.0.1:99999", "http://127.0.0.1:abc", "http://[::1"],
                         ids=["port out of range", "port not a number", "broken IPv6 address"])
@pytest.mark.parametrize("command", [["tokens", "--backend"], ["tokens", "--capacity", "--backend"],
                                     ["council", "--member"], ["diagnose", *QUICK, "--backend"],
                                     ["monitor", "--backend"], ["troubleshoot", "--backend"], ["recover", "--backend"],
                                     ["memory", "models", "--backend"]],
                         ids=lambda c: " ".join(c[:2]))
def test_a_server_url_that_cannot_be_read_is_refused_before_anything_is_measured(
        wfdoctor, command: list[str], url: str) -> None:
    """Exit 2 before anything is sampled or stored, the URL and what is wrong with it named, no traceback: a usage
    error where the command's options hold the URL, one line where the council reads its members."""
    result = wfdoctor(*command, url)
    assert result.code == 2 and result.stdout == "" and "Traceback" not in result.stderr
    assert "sampling" not in result.stderr and f"{url}: not a usable server URL (" in result.stderr, result.stderr


def test_user_facts_and_rules_in_the_config_dir_are_read_automatically(wfdoctor, closed_url: str,
                                                                       tmp_path: Path) -> None:
    config = tmp_path / "config" / "wfdoctor"  # the fixture's $XDG_CONFIG_HOME/wfdoctor
    (config / "rules").mkdir(parents=True)
    memory_threshold_facts(config / "facts.yaml")
    rule_file(config / "rules" / "mine.yaml", "user.any_memory", "USER_RULE", 0.0)
    doc = wfdoctor("diagnose", "--json", *QUICK, "--backend", closed_url, "--fail-on", "never").json()
    assert {"HIGH_MEMORY", "USER_RULE"} <= set(codes(doc))
    assert doc["tier"]["thresholds"]["memory_percent"]["warning"] == 0.1


def test_history_shows_id_time_command_tier_and_findings_by_priority(wfdoctor, closed_url: str,
                                                                     tmp_path: Path) -> None:
    facts = memory_threshold_facts(tmp_path / "facts.yaml")
    wfdoctor("diagnose", *QUICK, "--backend", closed_url, "--facts", str(facts), "--fail-on", "never")
    [run] = wfdoctor("history", "--json").json()
    assert run["findings_by_priority"]["high"] >= 1
    [line] = wfdoctor("history").stdout.strip().splitlines()
    assert re.match(rf"\s*1  \d{{4}}-\d\d-\d\d \d\d:\d\d:\d\d  diagnose\s+tier={run['tier']}\s", line), line
    assert f"{run['findings_by_priority']['high']} high" in line
