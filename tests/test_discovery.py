"""Server discovery: Ollama's native API and OpenAI-compatible servers, with short timeouts."""

from __future__ import annotations

import asyncio
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from wfdoctor.sense.backends.discovery import backend_samples, discover
from wfdoctor.sense.backends.embedded import MODEL_ALIAS, EmbeddedServer
from wfdoctor.testing.fake_llm import MODEL, FakeConfig, FakeLLMServer


def test_ollama_reports_loaded_models_with_their_vram_share() -> None:
    with FakeLLMServer(FakeConfig(model_size=6591830464, model_size_vram=5333539264)) as server:
        [status] = asyncio.run(discover([server.base_url]))
    assert status.answered and status.kind == "ollama" and status.version == "0.12.3"
    [model] = status.models
    assert (model.name, model.loaded) == (MODEL, True)
    assert (model.size_bytes, model.vram_bytes) == (6591830464, 5333539264)
    assert model.expires_at == "2026-11-27T01:05:00Z"
    samples = {s.metric: s for s in backend_samples([status])}
    assert samples["wf_llm_model_vram_bytes"].labels["model"] == MODEL
    assert samples["wf_llm_server_up"].value == 1.0


def test_an_openai_compatible_server_is_recognised(llm_server: EmbeddedServer) -> None:
    [status] = asyncio.run(discover([llm_server.base_url]))
    assert status.answered and status.kind == "openai"
    assert [m.name for m in status.models] == [MODEL_ALIAS]


class NotFound(BaseHTTPRequestHandler):
    """A web server that is no LLM server: 404 for every path."""

    def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
        self.send_error(404)

    def log_message(self, *args: object) -> None:
        pass


def test_a_server_that_is_neither_says_what_each_protocol_got() -> None:
    server = ThreadingHTTPServer(("127.0.0.1", 0), NotFound)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        [status] = asyncio.run(discover([f"http://127.0.0.1:{server.server_address[1]}"]))
    finally:
        server.shutdown()
        server.server_close()
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
