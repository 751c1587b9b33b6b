"""Server discovery: Ollama's native API and OpenAI-compatible servers, with short timeouts."""

from __future__ import annotations

import asyncio
import socket

from tests.ollama_fixture import ollama_fixture
from wfdoctor.sense.backends.discovery import backend_samples, discover
from wfdoctor.sense.backends.embedded import MODEL_ALIAS, EmbeddedServer


def test_ollama_reports_loaded_models_with_vram_share_and_installed_ones() -> None:
    with ollama_fixture() as url:
        [status] = asyncio.run(discover([url]))
    assert status.answered and status.kind == "ollama" and status.version == "0.12.3"
    loaded = {m.name: m for m in status.models if m.loaded}
    assert loaded["llama3.1:8b"].size_bytes == 6591830464
    assert loaded["llama3.1:8b"].vram_bytes == 5333539264
    assert loaded["llama3.1:8b"].expires_at == "2026-11-27T01:05:00.000Z"
    assert [m.name for m in status.models if not m.loaded] == ["qwen2.5:0.5b"]
    samples = {s.metric: s for s in backend_samples([status])}
    assert samples["wf_llm_model_vram_bytes"].labels["model"] == "llama3.1:8b"
    assert samples["wf_llm_server_up"].value == 1.0


def test_an_openai_compatible_server_is_recognised(llm_server: EmbeddedServer) -> None:
    [status] = asyncio.run(discover([llm_server.base_url]))
    assert status.answered and status.kind == "openai"
    assert [m.name for m in status.models] == [MODEL_ALIAS]


def test_a_server_that_is_neither_says_what_each_protocol_got() -> None:
    with ollama_fixture({"/api/version": None}) as url:  # answers 404 everywhere else too
        [status] = asyncio.run(discover([url]))
    assert not status.answered
    assert "ollama: HTTP 404" in status.error and "openai: HTTP 404" in status.error


def test_dead_ports_are_reported_as_refused(closed_url: str) -> None:
    statuses = asyncio.run(discover([closed_url] * 4, timeout_s=0.5))
    assert all(not s.answered and "connection refused" in s.error for s in statuses)


def test_a_server_that_never_answers_times_out_instead_of_hanging() -> None:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()  # accepts connections into the backlog, never replies
        url = f"http://127.0.0.1:{listener.getsockname()[1]}"
        [status] = asyncio.run(discover([url], timeout_s=0.3))
    assert not status.answered and "timed out" in status.error
