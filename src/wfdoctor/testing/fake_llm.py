"""A scripted LLM server speaking Ollama's and the OpenAI wire formats.

For what a real server cannot show on demand: tokens on an exact schedule
(ground truth for TTFT/ITL accuracy), cold loads, partial GPU offload, cut
streams, malformed chunks, HTTP errors, servers that never answer, and
serialised request handling, a model unload that slows the rest. Shapes follow the Ollama
API documentation and the OpenAI chat-completions streaming format; in llama.cpp mode, llama.cpp's server
README (`GET /props`, `timings` in the last streamed event), for the faults the real `llama-server` cannot show.

It runs in its own process (`FakeLLMServer`) so that its timing is not disturbed by the client being
measured. Run directly: `python -m wfdoctor.testing.fake_llm --config '{"ttft_s": 0.15}'`.
"""

from __future__ import annotations

import argparse
import json
import socket
import socketserver
import struct
import subprocess
import sys
import threading
import time
import urllib.request
from dataclasses import asdict, dataclass, field
from types import TracebackType
from collections.abc import Callable
from typing import Any

from wfdoctor.testing.fake_shapes import MODEL, WORDS, chunk, event, llama_cpp_props, llama_cpp_timings

IMPLEMENTATIONS = ("ollama", "llama.cpp", "openai")
SO_TIMESTAMPNS = getattr(socket, "SO_TIMESTAMPNS", 35)  # Linux's value: the kernel's receive time of each read


@dataclass
class Fault:
    """What goes wrong: `cut` (close after `after` tokens), `malformed` (a broken
    line after `after` tokens), `status` (HTTP `code` instead of a stream), `hang`
    (read the request, never answer), `empty` (an end marker and no tokens),
    `drip` (the stream's bytes one at a time, `interval_s` apart), `huge_line`
    (`size` bytes without a newline after `after` tokens), `final` (`payload`,
    raw, instead of the last events: a wrong `usage`, say; sent `repeat` times: a
    response too large to pass whole on a command line)."""

    kind: str
    after: int = 0
    code: int = 500
    interval_s: float = 1.0
    size: int = 0
    payload: str = ""
    repeat: int = 1


@dataclass
class FakeConfig:
    ttft_s: float = 0.05
    itl_s: float = 0.01
    tokens: int = 16
    prompt_tokens: int = 12
    load_s: float = 0.0                      # Ollama load_duration, added before the first token
    max_parallel: int = 0                    # 0: unlimited; n: at most n streams generate at once
    fault: Fault | None = None
    fault_requests: list[int] = field(default_factory=list)  # 1-based request numbers; empty: all
    version: str = "0.12.3"
    model_size: int = 6591830464
    model_size_vram: int = 6591830464
    include_usage: bool = True               # honour stream_options.include_usage
    text_offset: int = 0                     # start the word cycle elsewhere: servers that disagree
    # Installed models for /api/tags and /api/ps: {name, size, size_vram, expires_at, loaded}.
    # Empty: one model, MODEL, loaded with model_size / model_size_vram.
    models: list[dict[str, Any]] = field(default_factory=list)
    # The server imitated. "ollama": Ollama's API and the OpenAI one (as Ollama serves both);
    # "llama.cpp": the OpenAI API, `GET /props` and `timings` in the last streamed event, as
    # llama.cpp's llama-server; "openai": the OpenAI API alone (vLLM, LM Studio).
    implementation: str = "ollama"
    props: dict[str, Any] | None = None      # GET /props body; None: llama.cpp's in llama.cpp mode, else 404
    answers: dict[str, str] = field(default_factory=dict)  # GET path -> raw body sent instead (hostile servers)
    answer_padding: dict[str, int] = field(default_factory=dict)  # GET path -> newlines before its raw answer
    close_after_stream: bool = False         # drop the connection after each stream, unannounced (llama-server)
    # A generation request arriving on a kept-alive connection is read and the connection closed unanswered: an
    # idle timeout that fell just as the request arrived. The client must send it again on a fresh connection.
    drop_reused: bool = False
    unloaded_itl_s: float = 0.0              # added to each token's interval while a model is unloaded (a fix that hurts)

    def __post_init__(self) -> None:
        if self.implementation not in IMPLEMENTATIONS:
            raise ValueError(f"implementation '{self.implementation}': expected one of {', '.join(IMPLEMENTATIONS)}")

    @classmethod
    def from_json(cls, text: str) -> FakeConfig:
        data = json.loads(text)
        if data.get("fault"):
            data["fault"] = Fault(**data["fault"])
        return cls(**data)


class FakeServer(socketserver.ThreadingTCPServer):
    """One thread per connection, blocking sockets, HTTP/1.1 keep-alive.

    Threads, not asyncio: `time.sleep` wakes within about 0.1 ms of its
    deadline, where an event loop's timers wake up to 1 ms late (epoll counts
    in milliseconds), and a burst of requests is parsed in parallel threads
    instead of one after another. The schedule is what tests measure against.
    """

    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 1024

    def __init__(self, config: FakeConfig) -> None:
        super().__init__(("127.0.0.1", 0), Handler)
        self.config = config
        self.requests = 0
        self.lock = threading.Lock()
        self.gate = threading.Semaphore(config.max_parallel) if config.max_parallel else None
        self.stopping = threading.Event()
        # every request's method, path and JSON body (and how late its first token was written): GET /_fake/requests
        self.received: list[dict[str, Any]] = []
        self.models = [dict(m) for m in config.models] or [{
            "name": MODEL, "size": config.model_size, "size_vram": config.model_size_vram,
            "expires_at": "2026-11-27T01:05:00Z", "loaded": True}]

    def next_request(self) -> int:
        with self.lock:
            self.requests += 1
            return self.requests


class Handler(socketserver.StreamRequestHandler):
    """One connection. It reads requests itself, so that each request's arrival is the kernel's receive time of
    its first byte: the schedule runs from there, however late a thread (waiting for the GIL among a hundred
    others) gets to read it."""

    server: FakeServer

    def setup(self) -> None:
        super().setup()
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.connection.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
        self.pending = b""

    def handle(self) -> None:
        """Serve requests on one connection until the client closes it."""
        self.generations = 0
        try:
            while self.serve_one():
                pass
        except (ConnectionError, OSError, ValueError):
            pass

    def arrival(self) -> float | None:
        """When the next request's first byte reached the socket, on perf_counter's clock (None: the client
        closed). Waits for that byte and leaves it where it is."""
        if self.pending:
            return time.perf_counter()
        data, ancillary, _, _ = self.connection.recvmsg(1, socket.CMSG_SPACE(16), socket.MSG_PEEK)
        if not data:
            return None
        wall, now = time.time(), time.perf_counter()
        for level, kind, payload in ancillary:
            if level == socket.SOL_SOCKET and kind == SO_TIMESTAMPNS and len(payload) >= 16:
                seconds, nanos = struct.unpack("qq", payload[:16])
                return now - max(wall - (seconds + nanos / 1e9), 0.0)
        return now

    def read_until(self, ready: Callable[[bytes], int]) -> bytes:
        """Read until `ready(pending)` gives a length > 0, and take that many bytes (b"" if the client closed)."""
        while (size := ready(self.pending)) <= 0:
            more = self.connection.recv(65536)
            if not more:
                return b""
            self.pending += more
        taken, self.pending = self.pending[:size], self.pending[size:]
        return taken

    def serve_one(self) -> bool:
        arrived = self.arrival()
        head = self.read_until(lambda data: data.find(b"\r\n\r\n") + 4 if b"\r\n\r\n" in data else 0) \
            if arrived is not None else b""
        if not head:
            return False
        request_line, *lines = head.split(b"\r\n")
        method, path, _ = request_line.decode().split(" ", 2)
        length = next((int(line.split(b":", 1)[1]) for line in lines if line.lower().startswith(b"content-length:")),
                      0)
        body = json.loads(self.read_until(lambda data: length if len(data) >= length else 0)) if length else {}
        if path == "/_fake/requests":
            self.json({"requests": self.server.received})
            return True
        with self.server.lock:
            self.entry: dict[str, Any] = {"method": method, "path": path, "body": body}
            self.server.received.append(self.entry)
        return self.route(method, path, body, arrived)

    def route(self, method: str, path: str, body: dict[str, Any], arrived: float) -> bool:
        """Answer one request; False when the connection must close afterwards."""
        cfg = self.server.config
        models = self.server.models
        listings = {
            "/api/version": {"version": cfg.version},
            "/api/tags": {"models": [{"name": m["name"], "model": m["name"], "size": m["size"],
                                      "modified_at": "2026-10-01T10:00:00Z", "digest": "f00d"} for m in models]},
            "/api/ps": {"models": [{"name": m["name"], "model": m["name"], "size": m["size"],
                                    "size_vram": m["size_vram"], "digest": "f00d", "expires_at": m["expires_at"],
                                    "context_length": 4096} for m in models if m["loaded"]]},
            "/v1/models": {"object": "list", "data": [{"id": m["name"], "object": "model"} for m in models]},
        }
        if path.startswith("/api/") and cfg.implementation != "ollama":
            self.status(404, b"404 page not found")
            return True
        if method == "GET" and path in cfg.answers:
            self.raw(b"\n" * cfg.answer_padding.get(path, 0) + cfg.answers[path].encode())
            return True
        if method == "GET" and path in listings:
            self.json(listings[path])
            return True
        if method == "GET" and path == "/props" and (cfg.props is not None or cfg.implementation == "llama.cpp"):
            self.json(cfg.props if cfg.props is not None else llama_cpp_props(cfg.max_parallel or 1))
            return True
        if method == "POST" and path == "/api/generate" and not body.get("prompt") and "keep_alive" in body:
            return self.load_or_unload(body)
        if method == "POST" and path in ("/api/generate", "/api/chat", "/v1/chat/completions", "/v1/completions"):
            self.generations += 1
            if cfg.drop_reused and self.generations > 1:
                return False
            number = self.server.next_request()
            fault = cfg.fault if cfg.fault and (not cfg.fault_requests or number in cfg.fault_requests) else None
            return self.generate(path, body, fault, arrived)
        self.status(404, b"404 page not found")
        return True

    def load_or_unload(self, body: dict[str, Any]) -> bool:
        """Ollama's documented idiom: /api/generate without a prompt loads a model, keep_alive 0 unloads it."""
        entry = next((m for m in self.server.models if m["name"] == body.get("model")), None)
        if entry is None:
            self.status(404, json.dumps({"error": f"model '{body.get('model')}' not found"}).encode())
            return True
        unload = body["keep_alive"] in (0, "0", "0s")
        entry["loaded"] = not unload
        self.json({"model": entry["name"], "created_at": "2026-11-27T01:00:00Z", "response": "", "done": True,
                   "done_reason": "unload" if unload else "load"})
        return True

    def json(self, payload: dict[str, Any]) -> None:
        data = json.dumps(payload).encode()
        self.wfile.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s"
                         % (len(data), data))

    def raw(self, data: bytes) -> None:
        self.wfile.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s"
                         % (len(data), data))

    def status(self, code: int, text: bytes) -> None:
        self.wfile.write(b"HTTP/1.1 %d Error\r\nContent-Type: text/plain\r\nContent-Length: %d\r\n\r\n%s"
                         % (code, len(text), text))

    def generate(self, path: str, body: dict[str, Any], fault: Fault | None, arrived: float) -> bool:
        if fault and fault.kind == "hang":
            self.server.stopping.wait(3600)
            return False
        if fault and fault.kind == "status":
            self.status(fault.code, json.dumps({"error": "injected failure"}).encode())
            return True
        if self.server.gate is None:
            kept = self.stream(path, body, fault, arrived)
        else:
            with self.server.gate:
                kept = self.stream(path, body, fault, time.perf_counter())
        return kept and not self.server.config.close_after_stream

    def stream(self, path: str, body: dict[str, Any], fault: Fault | None, started: float) -> bool:
        """Stream with chunked transfer encoding; False after a cut (connection dropped)."""
        cfg = self.server.config
        ollama = path.startswith("/api/")
        if not body.get("stream", ollama):  # Ollama streams by default, OpenAI does not
            self.json({"error": "the fake server only streams"})
            return True
        kind = b"application/x-ndjson" if ollama else b"text/event-stream"
        self.wfile.write(b"HTTP/1.1 200 OK\r\nContent-Type: " + kind + b"\r\nCache-Control: no-cache\r\n"
                         b"Transfer-Encoding: chunked\r\n\r\n")
        limit = int(body.get("options", {}).get("num_predict", 0) if ollama else body.get("max_tokens", 0))
        tokens = min(limit, cfg.tokens) if limit > 0 else cfg.tokens
        first_at = started + cfg.load_s + cfg.ttft_s
        itl_s = cfg.itl_s + cfg.unloaded_itl_s * (not all(m["loaded"] for m in self.server.models))
        if fault and fault.kind == "empty":
            tokens = 0
        for index in range(tokens):
            if fault and fault.kind in ("cut", "malformed", "huge_line", "drip") and index == fault.after:
                if fault.kind == "cut":
                    return False  # the connection closes mid-stream
                if fault.kind == "drip":
                    return self.drip(event(path, WORDS[0]) * tokens, fault.interval_s)
                if fault.kind == "huge_line":
                    self.wfile.write(chunk(b"data: " + b"x" * fault.size if not ollama else b"x" * fault.size))
                    return False
                self.wfile.write(chunk(b"{this is not json\n" if ollama else b"data: {this is not json\n\n"))
            delay = first_at + index * itl_s - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
            self.wfile.write(chunk(event(path, WORDS[(index + cfg.text_offset) % len(WORDS)])))
            if index == 0:  # how late the server itself was: a client's error is what it adds to this
                written = time.perf_counter()
                self.entry |= {"first_token_late_s": written - first_at, "arrived_s": started,
                               "first_token_written_s": written}
        finished = time.perf_counter()
        last = fault.payload.encode() * fault.repeat if fault and fault.kind == "final" else self.final(
            path, body, tokens, started, first_at, finished)
        self.wfile.write(chunk(last) + b"0\r\n\r\n")
        return True

    def drip(self, data: bytes, interval_s: float) -> bool:
        """One byte per chunk, `interval_s` apart: a server that is alive but never finishes."""
        for byte in data:
            if self.server.stopping.wait(interval_s):
                break
            self.wfile.write(chunk(bytes([byte])))
        return False

    def final(self, path: str, body: dict[str, Any], tokens: int, started: float, first_at: float,
              finished: float) -> bytes:
        cfg = self.server.config
        if path.startswith("/api/"):
            ns = 1_000_000_000
            done: dict[str, Any] = {
                "model": MODEL, "done": True, "done_reason": "length",
                "total_duration": int((finished - started) * ns), "load_duration": int(cfg.load_s * ns),
                "prompt_eval_count": cfg.prompt_tokens, "prompt_eval_duration": int(cfg.ttft_s * ns),
                "eval_count": tokens, "eval_duration": int(max(0.0, finished - first_at) * ns),
            }
            done["response" if path == "/api/generate" else "message"] = (
                "" if path == "/api/generate" else {"role": "assistant", "content": ""})
            return json.dumps(done).encode() + b"\n"
        events: list[dict[str, Any]] = [{"choices": [{"index": 0, "delta": {}, "finish_reason": "length"}]}]
        if cfg.include_usage and body.get("stream_options", {}).get("include_usage"):
            events.append({"choices": [], "usage": {"prompt_tokens": cfg.prompt_tokens, "completion_tokens": tokens,
                                                    "total_tokens": cfg.prompt_tokens + tokens}})
        if cfg.implementation == "llama.cpp":  # llama-server adds its own timings to the last event
            events[-1]["timings"] = llama_cpp_timings(cfg.prompt_tokens, cfg.ttft_s, tokens, max(0.0, finished - first_at))
        return b"".join(b"data: " + json.dumps(event).encode() + b"\n\n" for event in events) + b"data: [DONE]\n\n"


def serve(config: FakeConfig) -> None:
    server = FakeServer(config)
    print(f"PORT {server.server_address[1]}", flush=True)
    try:
        server.serve_forever(poll_interval=0.2)
    finally:
        server.stopping.set()
        server.server_close()


class FakeLLMServer:
    """The fake server in a child process, on a free loopback port."""

    def __init__(self, config: FakeConfig | None = None) -> None:
        self.config = config or FakeConfig()
        self.process: subprocess.Popen[str] | None = None
        self.base_url = ""

    def __enter__(self) -> FakeLLMServer:
        config = asdict(self.config)
        self.process = subprocess.Popen(
            [sys.executable, "-m", "wfdoctor.testing.fake_llm", "--config", json.dumps(config)],
            stdout=subprocess.PIPE, text=True,
        )
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        if not line.startswith("PORT "):
            self.process.kill()
            raise RuntimeError(f"fake server did not start: {line!r}")
        self.base_url = f"http://127.0.0.1:{int(line.split()[1])}"
        return self

    def received(self) -> list[dict[str, Any]]:
        """The requests the server got so far (method, path, JSON body): what a test asserts was sent."""
        with urllib.request.urlopen(f"{self.base_url}/_fake/requests", timeout=5) as answer:
            return list(json.loads(answer.read())["requests"])

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(timeout=10)


def main() -> None:
    parser = argparse.ArgumentParser(description="Scripted Ollama/OpenAI-compatible server for tests.")
    parser.add_argument("--config", default="{}", help="FakeConfig as JSON")
    args = parser.parse_args()
    try:
        serve(FakeConfig.from_json(args.config))
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
