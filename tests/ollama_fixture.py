"""A wire-faithful stand-in for Ollama's HTTP API, written from its API documentation.

There is no Ollama server on these machines; this fixture lets the Ollama
adapter be tested on Ollama's real JSON shapes. It serves /api/version,
/api/tags and /api/ps; responses can be replaced per test.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

DETAILS = {"parent_model": "", "format": "gguf", "family": "llama", "families": ["llama"],
           "parameter_size": "8.0B", "quantization_level": "Q4_K_M"}
DEFAULT_ROUTES: dict[str, Any] = {
    "/api/version": {"version": "0.12.3"},
    "/api/tags": {"models": [
        {"name": "llama3.1:8b", "model": "llama3.1:8b", "modified_at": "2026-10-01T10:00:00Z",
         "size": 4920753328, "digest": "46e0c10c039e", "details": DETAILS},
        {"name": "qwen2.5:0.5b", "model": "qwen2.5:0.5b", "modified_at": "2026-10-02T10:00:00Z",
         "size": 397821319, "digest": "a8b0c5157701", "details": DETAILS},
    ]},
    "/api/ps": {"models": [
        {"name": "llama3.1:8b", "model": "llama3.1:8b", "size": 6591830464, "digest": "46e0c10c039e",
         "details": DETAILS, "expires_at": "2026-11-27T01:05:00.000Z", "size_vram": 5333539264,
         "context_length": 4096},
    ]},
}


@contextmanager
def ollama_fixture(routes: dict[str, Any] | None = None) -> Iterator[str]:
    """Serve the routes on a free loopback port; yields the base URL."""
    table = DEFAULT_ROUTES | (routes or {})

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
            body = table.get(self.path)
            if body is None:
                self.send_response(404)
                self.send_header("Content-Type", "text/plain")
                self.end_headers()
                self.wfile.write(b"404 page not found")
                return
            payload = json.dumps(body).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json; charset=utf-8")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
