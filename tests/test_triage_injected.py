"""Conditions injected into the real machine, judged by the real CLI."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest


@pytest.fixture
def one_core_burner() -> Iterator[subprocess.Popen[bytes]]:
    """A process spinning one core at 100 %."""
    proc = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    time.sleep(0.5)
    yield proc
    proc.kill()
    proc.wait()


@pytest.fixture
def memory_hog() -> Iterator[subprocess.Popen[bytes]]:
    """A process holding 400 MiB of touched memory."""
    proc = subprocess.Popen([sys.executable, "-c",
                             "import time; block = bytearray(400 * 1024 * 1024); time.sleep(120)"])
    time.sleep(1.5)
    yield proc
    proc.kill()
    proc.wait()


def _finding(doc: dict, code: str) -> dict:
    matches = [f for f in doc["findings"] if f["code"] == code]
    assert matches, f"no {code} finding; findings: {[f['code'] for f in doc['findings']]}"
    return matches[0]


def test_one_saturated_core_is_found_and_its_process_named(wfdoctor, closed_url, one_core_burner) -> None:
    doc = wfdoctor("diagnose", "--json", "--window", "2", "--backend", closed_url, "--no-embedded",
                   "--fail-on", "never").json()
    average = next(s["value"] for s in doc["samples"] if s["metric"] == "wf_cpu_utilization_ratio")
    threshold = doc["tier"]["thresholds"]["cpu_percent"]["warning"] / 100
    assert average < threshold, "the machine-wide average must stay under the CPU alert threshold"
    finding = _finding(doc, "CPU_CORE_SATURATED")
    culprit_pids = [s["labels"]["pid"] for s in finding["evidence"] if s["metric"] == "wf_process_cpu_utilization_ratio"]
    assert culprit_pids[0] == str(one_core_burner.pid)
    assert f"pid {one_core_burner.pid}" in finding["summary"]
    assert "HIGH_CPU" not in [f["code"] for f in doc["findings"]]


def test_memory_pressure_gives_high_memory_with_top_rss_processes(wfdoctor, closed_url, memory_hog,
                                                                  tmp_path: Path) -> None:
    """The packaged memory.high rule, its threshold moved through the facts file (as a user would) to where
    this shared machine's memory use always crosses it; the threshold at the packaged values of every tier
    is tested in test_memory_pressure.py."""
    low_threshold = tmp_path / "low-memory-threshold.yaml"
    low_threshold.write_text("thresholds:\n" + "".join(
        f"  {tier}: {{memory_percent: {{warning: 0.1, critical: 100}}}}\n" for tier in ("low", "mid", "high")))
    result = wfdoctor("diagnose", "--json", "--window", "0.5", "--backend", closed_url, "--no-embedded",
                      "--facts", str(low_threshold))
    assert result.code == 1, "a high finding fails the default --fail-on high"
    finding = _finding(result.json(), "HIGH_MEMORY")
    assert finding["rule_id"] == "memory.high" and finding["priority"] == "high"
    assert "(threshold 0.1%)" in finding["summary"]
    rss = [s for s in finding["evidence"] if s["metric"] == "wf_process_resident_memory_bytes"]
    assert len(rss) == 5
    assert [s["value"] for s in rss] == sorted((s["value"] for s in rss), reverse=True)
    assert rss[0]["labels"]["pid"] == str(memory_hog.pid)
    assert rss[0]["value"] >= 400 * 1024 * 1024


BROKEN_FILES = {
    "invalid YAML": ("rules:\n  - id: x\n    row: [unclosed\n", 4, "invalid YAML"),
    "bad indentation": ("rules:\n  - id: x\n   row: y\n", 3, "invalid YAML"),
    "bad priority": ("rules:\n  - id: x\n    row: high_memory\n    code: X\n    cause: c\n    priority: urgent\n"
                     "    when: [{metric: wf_memory_used_ratio, op: '>', threshold: 1}]\n"
                     "    summary: s\n    measured_by: m\n",
                     6, "field 'rules.0.priority'"),
    "unknown action": ("rules:\n  - id: x\n    row: high_memory\n    code: X\n    cause: c\n    priority: high\n"
                       "    when: [{metric: wf_memory_used_ratio, op: '>', threshold: 1}]\n"
                       "    actions: [no_such_action]\n"
                       "    summary: s\n    measured_by: m\n", 2, "unknown action 'no_such_action'"),
    "bad threshold ref": ("rules:\n  - id: x\n    row: high_memory\n    code: X\n    cause: c\n    priority: high\n"
                          "    when: [{metric: wf_memory_used_ratio, op: '>',"
                          " threshold: {ref: thresholds.no_such}}]\n"
                          "    summary: s\n    measured_by: m\n", 2, "'no_such' is not in the facts file"),
    "unregistered metric": ("rules:\n  - id: x\n    row: high_memory\n    code: X\n    cause: c\n    priority: high\n"
                            "    when: [{metric: wf_memory_use_ratio, op: '>', threshold: 1}]\n"
                            "    summary: s\n    measured_by: m\n", 7, "unregistered metric 'wf_memory_use_ratio'"),
}


@pytest.mark.parametrize("case", sorted(BROKEN_FILES))
def test_broken_rule_file_exits_2_with_file_and_line(wfdoctor, tmp_path: Path, case: str) -> None:
    text, line, message = BROKEN_FILES[case]
    broken = tmp_path / "broken.yaml"
    broken.write_text(text)
    result = wfdoctor("diagnose", "--rules", str(broken), "--window", "0.2", "--no-embedded")
    assert result.code == 2
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(f"wfdoctor: error: {broken}:{line}:"), lines[0]
    assert message in lines[0]
