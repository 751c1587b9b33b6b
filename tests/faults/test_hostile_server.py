"""Hostile servers: malformed answers, absurd numbers, endless lines, drips and hangs.

Whatever a server sends, wfdoctor ends with a one-line error or a failed request
named in the report: never a traceback, never a wait without end, and the
requests that went well are kept.
"""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from wfdoctor.sense.backends.discovery import discover
from wfdoctor.sense.backends.http import MAX_RESPONSE_BYTES
from wfdoctor.sense.backends.streaming import MAX_LINE_BYTES
from wfdoctor.store.db import Store
from wfdoctor.testing.fake_llm import FakeConfig, FakeLLMServer, Fault

pytestmark = pytest.mark.usefixtures("each_client")  # every case with both stream readers (faults/conftest.py)

QUICK = FakeConfig(ttft_s=0.01, itl_s=0.002, tokens=8)
SLACK_S = 1.0  # a hung or dripping request ends within its timeout plus this
STARTUP_S = 15.0  # generous: interpreter start, data files, the sampler, on a loaded machine


@contextmanager
def serving(**config: Any) -> Iterator[str]:
    """A fake server with the quick schedule and `config` on top; yields its URL."""
    with FakeLLMServer(FakeConfig(**(QUICK.__dict__ | config))) as server:
        yield server.base_url


def one_line_error(result: Any) -> str:
    assert result.code == 2 and result.stdout == "" and "Traceback" not in result.stderr, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    return lines[0]


def tokens(wfdoctor: Any, url: str, *extra: str) -> Any:
    """`wfdoctor tokens --json` against `url`, failures not judged (that is the analysis' job)."""
    return wfdoctor("tokens", "--json", "--backend", url, "--no-bandwidth", "--fail-on", "never",
                    "--warmup", "0", *extra)


def failed_requests(document: dict[str, Any]) -> list[dict[str, Any]]:
    return [r for r in document["requests"]["1"] if not r["ok"]]


def stored(tmp_path: Path, run_id: int, metric: str) -> list[float]:
    """What the run's database kept for `metric`."""
    store = Store.open(tmp_path / "wfdoctor.db")
    return [s.value for s in store.samples_of(run_id) if s.metric == metric]


# --- answers to the probe ---------------------------------------------------------------------------------------

@pytest.mark.parametrize(("body", "detail"), [
    ("[]", "Input should be an object"),
    ('{"data": [1, 2]}', "data.0: Input should be an object"),
    ("", "Invalid JSON"),
    ("<html>It works!</html>", "Invalid JSON"),
    ('{"object": "list"}', "data: Field required"),
], ids=["empty list", "numbers for models", "empty body", "not JSON", "no data"])
def test_a_malformed_model_list_is_one_line_naming_the_listing(wfdoctor, body: str, detail: str) -> None:
    with serving(implementation="openai", answers={"/v1/models": body}) as url:
        line = one_line_error(tokens(wfdoctor, url))
    assert url in line and "the server answered a malformed /v1/models listing" in line and detail in line


def test_an_ollama_version_that_is_a_list_falls_back_to_its_openai_api(wfdoctor) -> None:
    with serving(answers={"/api/version": '["0.12.3"]'}) as url:
        result = tokens(wfdoctor, url, "--runs", "2")
    assert result.code == 0 and "Traceback" not in result.stderr
    document = result.json()
    assert document["backend"]["protocol"] == "openai" and document["levels"][0]["ok"] == 2


@pytest.mark.parametrize(("answers", "named"), [
    ({"/api/version": "[]"}, "malformed /api/version answer"),
    ({"/api/tags": '{"models": {"name": "m"}}'}, "malformed /api/tags listing"),
    ({"/api/ps": '{"models": [{"name": "m", "size": -1}]}'}, "malformed /api/ps listing (models.0.size"),
    ({"/api/ps": '{"models": [{"size": 1}]}'}, "malformed /api/ps listing (models.0.name: Field required"),
], ids=["version list", "tags object", "negative size", "nameless model"])
def test_a_malformed_ollama_answer_is_named_beside_the_openai_one(wfdoctor, answers: dict[str, str],
                                                                  named: str) -> None:
    with serving(answers=answers | {"/v1/models": "null"}) as url:
        line = one_line_error(tokens(wfdoctor, url))
    assert f"ollama: the server answered a {named}" in line and "openai: the server answered a malformed" in line


def test_diagnose_reports_a_malformed_server_and_measures_the_next(wfdoctor) -> None:
    with serving(implementation="openai", answers={"/v1/models": '{"data": [1, 2]}'}) as bad, serving() as good:
        result = wfdoctor("diagnose", "--json", "--window", "0.5", "--no-embedded", "--fail-on", "never",
                          "--backend", bad, "--backend", good)
    assert result.code == 0 and "Traceback" not in result.stderr
    statuses = {b["url"]: b for b in result.json()["backends"]}
    assert not statuses[bad]["answered"] and "malformed /v1/models listing" in statuses[bad]["error"]
    assert statuses[good]["answered"]


def test_a_malformed_props_answer_only_rules_llama_cpp_out(wfdoctor) -> None:
    with serving(implementation="llama.cpp", answers={"/props": '["default_generation_settings"]'}) as url:
        result = tokens(wfdoctor, url, "--runs", "1")
    assert result.code == 0 and "Traceback" not in result.stderr
    assert result.json()["backend"]["implementation"] == "openai-compatible"


# --- what a stream says about itself ---------------------------------------------------------------------------

def final(*events: str) -> Fault:
    """The stream's last events replaced by `events` (SSE `data:` payloads), then `[DONE]`."""
    return Fault("final", payload="".join(f"data: {event}\n\n" for event in events) + "data: [DONE]\n\n")


@pytest.mark.parametrize(("fault", "error"), [
    (final('{"choices": [], "usage": {"completion_tokens": "nan"}}'), "malformed usage (completion_tokens"),
    (final('{"choices": [], "usage": {"completion_tokens": 1e308}}'), "malformed usage (completion_tokens"),
    (final('{"choices": [], "usage": {"prompt_tokens": -1}}'), "malformed usage (prompt_tokens"),
    (final('{"choices": "stop"}'), "malformed choices"),
    (final("[1, 2]"), "malformed line"),
], ids=["usage nan", "usage 1e308", "usage negative", "choices a string", "event a list"])
def test_a_stream_with_malformed_numbers_fails_alone(wfdoctor, tmp_path: Path, fault: Fault, error: str) -> None:
    with serving(implementation="openai", fault=fault, fault_requests=[2]) as url:
        result = tokens(wfdoctor, url, "--runs", "3")
    assert result.code == 0 and "Traceback" not in result.stderr
    document = result.json()
    [failed] = failed_requests(document)
    assert f"the server answered a {error}" in failed["error"]
    assert document["levels"][0]["ok"] == 2
    assert stored(tmp_path, document["run_id"], "wf_llm_failed_requests") == [1.0]


def test_llama_cpp_timings_of_the_wrong_type_fail_that_stream(wfdoctor) -> None:
    fault = final('{"choices": [], "timings": {"prompt_n": 12, "prompt_ms": "fast"}}')
    with serving(implementation="llama.cpp", fault=fault, fault_requests=[1]) as url:
        result = tokens(wfdoctor, url, "--runs", "2")
    assert result.code == 0 and "Traceback" not in result.stderr
    [failed] = failed_requests(result.json())
    assert "the server answered a malformed timings (prompt_ms: Input should be a valid number" in failed["error"]


@pytest.mark.parametrize(("payload", "error"), [
    ('{"done": true, "eval_count": "nan"}\n', "malformed line (eval_count"),
    ('{"done": true, "eval_duration": -5}\n', "malformed line (eval_duration"),
    ('{"error": "model runner crashed"}\n', "server error: model runner crashed"),
], ids=["count nan", "negative duration", "error event"])
def test_an_ollama_stream_that_ends_badly_fails_alone(wfdoctor, payload: str, error: str) -> None:
    with serving(fault=Fault("final", payload=payload), fault_requests=[1]) as url:
        result = tokens(wfdoctor, url, "--runs", "2", "--api", "completion")
    assert result.code == 0 and "Traceback" not in result.stderr
    [failed] = failed_requests(result.json())
    assert error in failed["error"]


# --- size and time bounds -------------------------------------------------------------------------------------

@pytest.mark.parametrize("implementation", ["openai", "ollama"])
def test_a_line_without_end_is_cut_at_the_line_limit(wfdoctor, implementation: str) -> None:
    fault = Fault("huge_line", size=3 * MAX_LINE_BYTES, after=2)
    with serving(implementation=implementation, fault=fault, fault_requests=[1]) as url:
        result = tokens(wfdoctor, url, "--runs", "2")
    assert result.code == 0 and "Traceback" not in result.stderr
    document = result.json()
    [failed] = failed_requests(document)
    assert failed["error"] == f"line longer than {MAX_LINE_BYTES} bytes after 2 tokens"
    assert document["levels"][0]["ok"] == 1


def test_a_response_beyond_the_size_limit_is_abandoned(wfdoctor) -> None:
    event = 'data: {"choices": [{"delta": {"content": "' + "y" * 60_000 + '"}}]}\n\n'  # each line is fine
    fault = Fault("final", payload=event, repeat=MAX_RESPONSE_BYTES // len(event) + 2)  # the whole is not
    with serving(implementation="openai", fault=fault, fault_requests=[1]) as url:
        result = tokens(wfdoctor, url, "--runs", "2")
    assert result.code == 0 and "Traceback" not in result.stderr
    [failed] = failed_requests(result.json())
    assert failed["error"].startswith(f"response larger than {MAX_RESPONSE_BYTES} bytes")


@pytest.mark.parametrize("fault", [Fault("drip", interval_s=0.2), Fault("hang")], ids=["drip", "hang"])
def test_a_request_ends_within_its_timeout(wfdoctor, fault: Fault) -> None:
    with serving(implementation="openai", fault=fault, fault_requests=[1]) as url:
        started = time.monotonic()
        result = tokens(wfdoctor, url, "--runs", "2", "--timeout", "1")
        took = time.monotonic() - started
    assert result.code == 0 and "Traceback" not in result.stderr
    document = result.json()
    [failed] = failed_requests(document)
    assert failed["error"].startswith("timed out") and failed["e2e_s"] <= 1 + SLACK_S
    assert document["levels"][0]["ok"] == 1 and took < 1 + SLACK_S + STARTUP_S


def test_the_warm_up_honours_the_timeout(wfdoctor) -> None:
    with serving(implementation="openai", fault=Fault("hang")) as url:
        started = time.monotonic()
        result = wfdoctor("tokens", "--json", "--backend", url, "--no-bandwidth", "--fail-on",
                          "never", "--warmup", "2", "--runs", "1", "--timeout", "1")
        took = time.monotonic() - started
    assert result.code == 0 and "Traceback" not in result.stderr
    [failed] = failed_requests(result.json())
    assert failed["error"].startswith("timed out")
    assert took < 3 * (1 + SLACK_S) + STARTUP_S  # two warm-ups and one request, each bounded


def test_a_hung_council_member_fails_within_its_timeout(wfdoctor) -> None:
    with serving(implementation="openai", fault=Fault("hang")) as url:
        started = time.monotonic()
        result = wfdoctor("council", "--json", "--member", url, "--timeout", "1", "--retries", "0", "--fail-on",
                          "never")
        took = time.monotonic() - started
    assert result.code == 0 and "Traceback" not in result.stderr
    [finding] = [f for f in result.json()["findings"] if f["code"] == "COUNCIL_MEMBER_FAILED"]
    assert "no answer within 1 s" in finding["summary"]
    assert took < 3 * (1 + SLACK_S) + STARTUP_S  # warm-up, alone, in council: one bounded try each (was 31 s)


def test_a_council_warm_up_that_hangs_is_cut_at_the_timeout_and_the_members_run(wfdoctor) -> None:
    with serving(implementation="openai", fault=Fault("hang"), fault_requests=[1]) as url:
        started = time.monotonic()
        result = wfdoctor("council", "--json", "--member", url, "--member", url, "--timeout", "1", "--fail-on",
                          "never")
        took = time.monotonic() - started
    assert result.code == 0 and "Traceback" not in result.stderr
    assert f"warm-up of {url} failed: no answer within 1 s" in result.stderr
    document = result.json()
    assert document["answer"] and not [f for f in document["findings"] if f["code"] == "COUNCIL_MEMBER_FAILED"]
    assert took < 1 + SLACK_S + STARTUP_S


@pytest.fixture
def silent_url() -> Iterator[str]:
    """A loopback URL that accepts connections and never answers anything (not even a probe)."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(64)
        yield f"http://127.0.0.1:{listener.getsockname()[1]}"


def test_a_server_that_never_answers_a_probe_fails_within_the_timeout(wfdoctor, silent_url: str) -> None:
    started = time.monotonic()
    line = one_line_error(wfdoctor("tokens", "--backend", silent_url, "--timeout", "1"))
    took = time.monotonic() - started
    assert silent_url in line and "ollama: timed out; openai: timed out" in line
    assert took < 1 + SLACK_S + STARTUP_S


def test_probing_a_silent_server_costs_one_timeout_not_one_per_protocol(silent_url: str) -> None:
    started = time.monotonic()
    [status] = asyncio.run(discover([silent_url], timeout_s=1.0))
    assert time.monotonic() - started < 1 + SLACK_S
    assert not status.answered and status.error == "ollama: timed out; openai: timed out"
