"""`wfdoctor tokens` against the scripted fake server: ground truth and faults."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from wfdoctor.testing.fake_llm import FakeConfig, FakeLLMServer, Fault

SCHEDULE = FakeConfig(ttft_s=0.150, itl_s=0.020, tokens=30)


def level(doc: dict, concurrency: int) -> dict:
    return next(lv for lv in doc["levels"] if lv["concurrency"] == concurrency)


@pytest.mark.parametrize("concurrency", [1, 32])
def test_metrics_match_a_known_token_schedule_within_2_percent(wfdoctor, concurrency: int) -> None:
    with FakeLLMServer(SCHEDULE) as server:
        result = wfdoctor("tokens", "--json", "--backend", server.base_url, "--runs", str(2 * concurrency),
                          "--warmup", str(concurrency), "--concurrency", str(concurrency), "--max-tokens", "30",
                          "--no-bandwidth", "--fail-on", "never")
    assert result.code == 0, result.stderr
    measured = level(result.json(), concurrency)
    assert measured["ok"] == measured["requests"] == 2 * concurrency
    metrics = measured["metrics"]
    assert metrics["ttft_s"]["p50"] == pytest.approx(0.150, rel=0.02)
    assert metrics["itl_s"]["mean"] == pytest.approx(0.020, rel=0.02)
    assert metrics["decode_tps"]["p50"] == pytest.approx(50.0, rel=0.02)
    assert metrics["output_tokens"]["p50"] == 30


def test_ollama_cold_load_is_named_as_dominating_ttft(wfdoctor) -> None:
    with FakeLLMServer(FakeConfig(ttft_s=0.05, itl_s=0.005, tokens=8, load_s=1.2)) as server:
        doc = wfdoctor("tokens", "--json", "--backend", server.base_url, "--runs", "2", "--warmup", "0",
                       "--no-bandwidth", "--fail-on", "never").json()
    assert doc["backend"]["implementation"] == "ollama"
    finding = next(f for f in doc["findings"] if f["code"] == "COLD_MODEL_LOAD")
    assert "load 1.20 s of TTFT" in finding["summary"]
    assert "preload_models" in finding["actions"]
    server_view = level(doc, 1)["metrics"]
    assert server_view["server_load_s"]["p50"] == pytest.approx(1.2, abs=0.01)
    assert server_view["queue_transport_s"]["p50"] < 0.05  # TTFT - load - prefill: transport only


def test_ollama_partial_gpu_offload_is_named_with_its_fraction(wfdoctor) -> None:
    config = FakeConfig(ttft_s=0.02, itl_s=0.002, tokens=8, model_size=6_000_000_000, model_size_vram=3_900_000_000)
    with FakeLLMServer(config) as server:
        doc = wfdoctor("tokens", "--json", "--backend", server.base_url, "--runs", "2", "--no-bandwidth",
                       "--fail-on", "never").json()
    finding = next(f for f in doc["findings"] if f["code"] == "PARTIAL_GPU_OFFLOAD")
    assert "only 65% of 6.0 GB is in VRAM" in finding["summary"]
    assert finding["evidence"][0]["metric"] == "wf_llm_model_vram_ratio"


FAULTS = {
    "cut mid-stream": (Fault("cut", after=3), "connection cut mid-response after 3 tokens"),
    "malformed line": (Fault("malformed", after=2), "malformed line"),
    "HTTP 500": (Fault("status", code=500), "HTTP 500"),
    "HTTP 503": (Fault("status", code=503), "HTTP 503"),
    "never answers": (Fault("hang"), "timed out after 0 tokens"),
}


@pytest.mark.parametrize("case", sorted(FAULTS))
def test_a_failing_request_is_a_clear_error_and_the_rest_of_the_run_is_kept(wfdoctor, case: str) -> None:
    fault, message = FAULTS[case]
    config = FakeConfig(ttft_s=0.01, itl_s=0.002, tokens=8, fault=fault, fault_requests=[2])
    with FakeLLMServer(config) as server:
        result = wfdoctor("tokens", "--json", "--backend", server.base_url, "--runs", "4", "--warmup", "0",
                          "--timeout", "1", "--no-bandwidth", "--fail-on", "never")
    assert result.code == 0, result.stderr
    assert "Traceback" not in result.stderr
    doc = result.json()
    measured = level(doc, 1)
    assert (measured["requests"], measured["ok"]) == (4, 3)
    [failed] = [r for r in doc["requests"]["1"] if not r["ok"]]
    assert message in failed["error"]


def test_ctrl_c_keeps_the_requests_that_finished(tmp_path) -> None:
    with FakeLLMServer(FakeConfig(ttft_s=0.05, itl_s=0.05, tokens=20)) as server:  # about 1 s a request
        env = os.environ | {"WFDOCTOR_DB": str(tmp_path / "w.db")}
        proc = subprocess.Popen([sys.executable, "-m", "wfdoctor", "tokens", "--json", "--backend", server.base_url,
                                 "--runs", "20", "--warmup", "0", "--no-bandwidth"],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
        time.sleep(5)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130 and "Traceback" not in err
    doc = json.loads(out)
    assert doc["interrupted"]
    [measured] = doc["levels"]
    assert 1 <= measured["ok"] < 20 and measured["ok"] == measured["requests"]


class KillsTheServerAfterLevel1:
    """A progress listener that kills the server as the first level's last request ends."""

    def __init__(self, server: FakeLLMServer, runs: int) -> None:
        self.server, self.runs = server, runs

    def note(self, message: str) -> None:
        pass

    def advance(self, task: str, done: float, total: float | None = None) -> None:
        if task == "concurrency 1" and done >= self.runs and self.server.process and self.server.process.poll() is None:
            self.server.process.kill()
            self.server.process.wait()


def test_a_server_that_dies_between_levels_is_named_dead_and_never_blamed_as_another_process(tmp_path) -> None:
    """Level 1 answered, level 2 found nothing listening: SERVER_DIED, not streams cancelled by the server, and
    the server's own CPU during level 1 is the server's (found before the run), not another process's."""
    from wfdoctor import TokensOptions, measure_tokens

    with FakeLLMServer(FakeConfig(ttft_s=0.0, itl_s=0.0, tokens=1500)) as server:
        pid = server.process.pid
        report = measure_tokens(TokensOptions(backend_url=server.base_url, runs=4, warmup=0, concurrency=[1, 2],
                                              max_tokens=1500, measure_bandwidth=False),
                                db=tmp_path / "wf.db", progress=KillsTheServerAfterLevel1(server, 4))
    codes = [finding.code for finding in report.findings]
    assert "SERVER_DIED" in codes and "STREAMS_INTERRUPTED" not in codes, codes
    assert not any(f"pid {pid}" in finding.summary for finding in report.findings if finding.code == "CPU_CONTENTION")
    assert [level.ok for level in report.levels] == [4, 0]
