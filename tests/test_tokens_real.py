"""`wfdoctor tokens` against the real SmolLM2 llama-cpp-python server."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator

import pytest

from wfdoctor.sense.backends.embedded import EmbeddedServer


def tokens_json(wfdoctor, url: str, *args: str) -> dict:
    result = wfdoctor("tokens", "--json", "--backend", url, "--fail-on", "never", *args, timeout=300)
    assert result.code == 0, result.stderr
    return result.json()


def level(doc: dict, concurrency: int) -> dict:
    return next(lv for lv in doc["levels"] if lv["concurrency"] == concurrency)


def codes(doc: dict) -> list[str]:
    return [f["code"] for f in doc["findings"]]


@pytest.fixture(scope="module")
def queued_server() -> Iterator[EmbeddedServer]:
    """SmolLM2 served with interrupts off: a new request waits for the running one."""
    with EmbeddedServer(extra_args=["--interrupt_requests", "False"]) as server:
        yield server


def test_reports_every_metric_with_percentiles_and_checked_token_counts(wfdoctor, llm_server) -> None:
    doc = tokens_json(wfdoctor, llm_server.base_url, "--runs", "4", "--max-tokens", "24")
    assert doc["backend"]["implementation"] == "llama-cpp-python"
    metrics = level(doc, 1)["metrics"]
    for name in ("ttft_s", "ttfb_s", "itl_s", "tpot_s", "decode_tps", "e2e_s"):
        assert {"p50", "p90", "p95", "p99", "mean", "sd"} <= set(metrics[name]), name
    for request in doc["requests"]["1"]:
        assert request["ok"]
        assert request["output_tokens_source"] == "content events (one token each)"
        assert abs(request["output_tokens"] - request["tokenizer_tokens"]) <= 1
    assert doc["roofline"]["model_bytes"] > 50_000_000
    assert 0 < doc["roofline"]["fraction"] < 1


def test_default_llama_cpp_python_interrupts_are_named_with_their_fix(wfdoctor, llm_server) -> None:
    doc = tokens_json(wfdoctor, llm_server.base_url, "--runs", "4", "--warmup", "0", "--max-tokens", "24",
                      "--concurrency", "1,2", "--no-bandwidth")
    assert level(doc, 1)["ok"] == 4 and level(doc, 2)["ok"] < 4
    finding = next(f for f in doc["findings"] if f["code"] == "STREAMS_INTERRUPTED")
    assert "interrupt_requests" in finding["cause"]
    assert finding["actions"][0] == "llama_cpp_python_no_interrupt"
    assert "SERVER_SERIALISES" not in codes(doc)


def test_with_interrupts_off_the_sweep_names_serialisation_and_the_knee(wfdoctor, queued_server) -> None:
    doc = tokens_json(wfdoctor, queued_server.base_url, "--runs", "8", "--warmup", "1", "--max-tokens", "24",
                      "--concurrency", "1,2,4", "--no-bandwidth")
    assert all(level(doc, c)["ok"] == 8 for c in (1, 2, 4))
    assert doc["knee"]["concurrency"] == 1
    assert "stops scaling at concurrency 1" in doc["knee"]["explanation"]
    finding = next(f for f in doc["findings"] if f["code"] == "SERVER_SERIALISES")
    assert finding["actions"] == ["one_server_per_stream", "parallel_slots_server"]
    ttft = {c: level(doc, c)["metrics"]["ttft_s"]["p50"] for c in (1, 2, 4)}
    assert ttft[4] > 2 * ttft[2] > 2 * ttft[1]  # grows with the queue ahead of each request
    assert "STREAMS_INTERRUPTED" not in codes(doc)


@pytest.fixture
def cpu_hogs() -> Iterator[list[int]]:
    """One busy process per core."""
    procs = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(os.cpu_count() or 1)]
    time.sleep(0.5)
    yield [p.pid for p in procs]
    for proc in procs:
        proc.kill()
        proc.wait()


def test_cpu_contention_is_named_with_the_competing_processes(wfdoctor, llm_server, cpu_hogs) -> None:
    doc = tokens_json(wfdoctor, llm_server.base_url, "--runs", "3", "--max-tokens", "24", "--no-bandwidth")
    finding = next(f for f in doc["findings"] if f["code"] == "CPU_CONTENTION")
    named = {s["labels"]["pid"] for s in finding["evidence"] if s["metric"] == "wf_process_cpu_utilization_ratio"}
    assert named & {str(pid) for pid in cpu_hogs}


def test_no_contention_is_reported_on_a_quiet_machine(wfdoctor, llm_server) -> None:
    doc = tokens_json(wfdoctor, llm_server.base_url, "--runs", "3", "--max-tokens", "24", "--no-bandwidth")
    assert "CPU_CONTENTION" not in codes(doc)


def test_the_in_process_engine_is_measured_without_http(wfdoctor) -> None:
    doc = tokens_json(wfdoctor, "embedded", "--runs", "3", "--max-tokens", "16", "--no-bandwidth")
    assert doc["backend"]["implementation"] == "llama-cpp-python (in process)"
    requests = doc["requests"]["1"]
    assert all(r["ok"] and abs(r["output_tokens"] - r["tokenizer_tokens"]) <= 1 for r in requests)
    assert "CLIENT_OVERHEAD" not in codes(doc)  # the model runs in wfdoctor's own process


def test_synthetic_prompt_length_is_close_to_what_the_tokenizer_counts() -> None:
    from llama_cpp import Llama

    from wfdoctor.sense.backends.embedded import smollm2_model_path
    from wfdoctor.measure.tokens import synthetic_prompt

    llama = Llama(model_path=str(smollm2_model_path()), n_ctx=512, verbose=False, vocab_only=True)
    for wanted in (100, 400, 1600):
        counted = len(llama.tokenize(synthetic_prompt(wanted).encode(), add_bos=False))
        assert 0.75 * wanted <= counted <= 1.25 * wanted, (wanted, counted)
