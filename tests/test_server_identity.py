"""Which server implementation answers, and what its own timings add: llama.cpp through the CLI.

No llama.cpp server is installed here, so the scripted fake imitates the two things
its README documents and wfdoctor relies on: `GET /props` with
`default_generation_settings`, and a `timings` object (prompt_n, prompt_ms,
predicted_n, predicted_ms) in the last streamed event.
"""

from __future__ import annotations

import json

import pytest

from wfdoctor.testing.fake_llm import MODEL, FakeConfig, FakeLLMServer

PREFILL_S = 0.08
PROMPT_TOKENS = 40
LLAMA_CPP = FakeConfig(implementation="llama.cpp", ttft_s=PREFILL_S, itl_s=0.005, tokens=12,
                       prompt_tokens=PROMPT_TOKENS)


def tokens_run(wfdoctor, config: FakeConfig, *extra: str):
    with FakeLLMServer(config) as server:
        result = wfdoctor("tokens", "--backend", server.base_url, "--runs", "3", "--warmup", "0", "--max-tokens",
                          "12", "--no-bandwidth", "--fail-on", "never", *extra)
    assert result.code == 0, result.stderr
    return result


def test_a_llama_cpp_server_is_named_by_its_props_and_its_timings_are_the_server_view(wfdoctor) -> None:
    doc = tokens_run(wfdoctor, LLAMA_CPP, "--json").json()
    assert doc["backend"]["implementation"] == "llama.cpp" and doc["backend"]["protocol"] == "openai"
    [level] = doc["levels"]
    metrics = level["metrics"]
    assert metrics["server_prefill_s"]["p50"] == pytest.approx(PREFILL_S)        # timings.prompt_ms
    assert metrics["prefill_tps"]["p50"] == pytest.approx(PROMPT_TOKENS / PREFILL_S)  # prompt_n / prompt_ms
    assert "server_decode_s" in metrics                                            # timings.predicted_ms
    # What the client waited beyond the server's prefill is queueing and transport only.
    assert metrics["queue_transport_s"]["p50"] < 0.5 * PREFILL_S
    for request in doc["requests"]["1"]:
        assert request["prompt_tokens"] == PROMPT_TOKENS and request["output_tokens"] == 12


def test_the_report_shows_the_llama_cpp_server_view(wfdoctor) -> None:
    out = tokens_run(wfdoctor, LLAMA_CPP).stdout
    assert ": llama.cpp at http://127.0.0.1:" in out
    assert "Server view" in out


@pytest.mark.parametrize("config, implementation", [
    (FakeConfig(tokens=12), "ollama"),
    (FakeConfig(implementation="openai", tokens=12), "openai-compatible"),
    (FakeConfig(implementation="openai", tokens=12, props={"total_slots": 1, "build_info": "other"}),
     "openai-compatible"),
], ids=["ollama", "no /props", "/props without default_generation_settings"])
def test_without_llama_cpp_props_the_server_is_not_llama_cpp(wfdoctor, config: FakeConfig,
                                                              implementation: str) -> None:
    doc = tokens_run(wfdoctor, config, "--json").json()
    assert doc["backend"]["implementation"] == implementation


def listing(*owners: object) -> str:
    return json.dumps({"object": "list", "data": [{"id": MODEL, "object": "model", "owned_by": owner}
                                                  for owner in owners]})


@pytest.mark.parametrize("owners, implementation", [
    (("vllm",), "vllm"),
    (("llamacpp",), "openai-compatible"),
    ((5,), "openai-compatible"),
    ((["vllm"],), "openai-compatible"),
], ids=["vllm", "another owner", "a number", "a list"])
def test_vllm_is_named_by_the_owner_of_its_listed_models_and_nothing_else(wfdoctor, owners: tuple[object, ...],
                                                                          implementation: str) -> None:
    config = FakeConfig(implementation="openai", tokens=12, answers={"/v1/models": listing(*owners)})
    doc = tokens_run(wfdoctor, config, "--json").json()
    assert doc["backend"]["implementation"] == implementation
