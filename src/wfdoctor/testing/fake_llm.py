"""A scripted LLM server speaking Ollama's and the OpenAI wire formats.

For what a real server cannot show on demand: tokens on an exact schedule
(ground truth for TTFT/ITL accuracy), cold loads, partial GPU offload, cut
streams, malformed chunks, HTTP errors, servers that never answer, and
serialised request handling. Shapes follow the Ollama API documentation and
the OpenAI chat-completions streaming format.

It runs in its own process (`FakeLLMServer`) so that its timing is not
disturbed by the client being measured. Run directly for manual use:
`python -m wfdoctor.testing.fake_llm --config '{"ttft_s": 0.15}'`.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from types import TracebackType
from typing import Any

WORDS = ["the", " quick", " brown", " fox", " jumps", " over", " a", " lazy", " dog", "."]
MODEL = "fake-model:1b"


@dataclass
class Fault:
    """What goes wrong: `cut` (close after `after` tokens), `malformed` (a broken
    line after `after` tokens), `status` (HTTP `code` instead of a stream), `hang`
    (read the request, never answer)."""

    kind: str
    after: int = 0
    code: int = 500


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

    @classmethod
    def from_json(cls, text: str) -> FakeConfig:
        data = json.loads(text)
        if data.get("fault"):
            data["fault"] = Fault(**data["fault"])
        return cls(**data)


class FakeServer:
    def __init__(self, config: FakeConfig) -> None:
        self.config = config
        self.requests = 0
        self.gate = asyncio.Semaphore(config.max_parallel) if config.max_parallel else None

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """Serve requests on one connection until the client closes it (HTTP/1.1 keep-alive)."""
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                method, path, _ = head.split(b"\r\n", 1)[0].decode().split(" ", 2)
                length = 0
                for line in head.decode().split("\r\n")[1:]:
                    if line.lower().startswith("content-length:"):
                        length = int(line.split(":", 1)[1])
                body = json.loads(await reader.readexactly(length)) if length else {}
                if not await self.route(method, path, body, writer):
                    break
                await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
            pass
        finally:
            writer.close()

    async def route(self, method: str, path: str, body: dict[str, Any], writer: asyncio.StreamWriter) -> bool:
        """Answer one request; False when the connection must close afterwards."""
        cfg = self.config
        if method == "GET" and path == "/api/version":
            self.json(writer, {"version": cfg.version})
            return True
        if method == "GET" and path == "/api/tags":
            self.json(writer, {"models": [{"name": MODEL, "model": MODEL, "size": cfg.model_size,
                                           "modified_at": "2026-10-01T10:00:00Z", "digest": "f00d"}]})
            return True
        if method == "GET" and path == "/api/ps":
            self.json(writer, {"models": [{"name": MODEL, "model": MODEL, "size": cfg.model_size,
                                           "size_vram": cfg.model_size_vram, "digest": "f00d",
                                           "expires_at": "2026-11-27T01:05:00Z", "context_length": 4096}]})
            return True
        if method == "GET" and path == "/v1/models":
            self.json(writer, {"object": "list", "data": [{"id": MODEL, "object": "model"}]})
            return True
        if method == "POST" and path in ("/api/generate", "/api/chat", "/v1/chat/completions", "/v1/completions"):
            self.requests += 1
            fault = cfg.fault if cfg.fault and (not cfg.fault_requests or self.requests in cfg.fault_requests) else None
            return await self.generate(path, body, writer, fault)
        self.status(writer, 404, b"404 page not found")
        return True

    def json(self, writer: asyncio.StreamWriter, payload: dict[str, Any]) -> None:
        data = json.dumps(payload).encode()
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s"
                     % (len(data), data))

    def status(self, writer: asyncio.StreamWriter, code: int, text: bytes) -> None:
        writer.write(b"HTTP/1.1 %d Error\r\nContent-Type: text/plain\r\nContent-Length: %d\r\n\r\n%s"
                     % (code, len(text), text))

    async def generate(self, path: str, body: dict[str, Any], writer: asyncio.StreamWriter,
                       fault: Fault | None) -> bool:
        if fault and fault.kind == "hang":
            await asyncio.sleep(3600)
        if fault and fault.kind == "status":
            self.status(writer, fault.code, json.dumps({"error": "injected failure"}).encode())
            return True
        arrived = time.perf_counter()
        if self.gate is None:
            return await self.stream(path, body, writer, fault, arrived)
        async with self.gate:
            return await self.stream(path, body, writer, fault, arrived)

    async def stream(self, path: str, body: dict[str, Any], writer: asyncio.StreamWriter, fault: Fault | None,
                     arrived: float) -> bool:
        """Stream with chunked transfer encoding; False after a cut (connection dropped)."""
        cfg = self.config
        ollama = path.startswith("/api/")
        if not body.get("stream", ollama):  # Ollama streams by default, OpenAI does not
            self.json(writer, {"error": "the fake server only streams"})
            return True
        started = time.perf_counter()
        kind = b"application/x-ndjson" if ollama else b"text/event-stream"
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: " + kind + b"\r\nCache-Control: no-cache\r\n"
                     b"Transfer-Encoding: chunked\r\n\r\n")
        await writer.drain()
        limit = int(body.get("options", {}).get("num_predict", 0) if ollama else body.get("max_tokens", 0))
        tokens = min(limit, cfg.tokens) if limit > 0 else cfg.tokens
        first_at = started + cfg.load_s + cfg.ttft_s
        for index in range(tokens):
            if fault and fault.kind in ("cut", "malformed") and index == fault.after:
                if fault.kind == "malformed":
                    writer.write(_chunk(b"{this is not json\n" if ollama else b"data: {this is not json\n\n"))
                    await writer.drain()
                    continue
                return False  # cut: the connection closes mid-stream
            delay = first_at + index * cfg.itl_s - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            word = WORDS[index % len(WORDS)]
            writer.write(_chunk(self.chunk(path, word)))
            if cfg.itl_s > 0 or index % 64 == 63:
                await writer.drain()
        finished = time.perf_counter()
        writer.write(_chunk(self.final(path, body, tokens, arrived, started, first_at, finished)) + b"0\r\n\r\n")
        await writer.drain()
        return True

    def chunk(self, path: str, word: str) -> bytes:
        if path == "/api/generate":
            return json.dumps({"model": MODEL, "response": word, "done": False}).encode() + b"\n"
        if path == "/api/chat":
            return json.dumps({"model": MODEL, "message": {"role": "assistant", "content": word},
                               "done": False}).encode() + b"\n"
        if path == "/v1/completions":
            payload = {"object": "text_completion", "choices": [{"index": 0, "text": word, "finish_reason": None}]}
        else:
            payload = {"object": "chat.completion.chunk",
                       "choices": [{"index": 0, "delta": {"content": word}, "finish_reason": None}]}
        return b"data: " + json.dumps(payload).encode() + b"\n\n"

    def final(self, path: str, body: dict[str, Any], tokens: int, arrived: float, started: float,
              first_at: float, finished: float) -> bytes:
        cfg = self.config
        if path.startswith("/api/"):
            ns = 1_000_000_000
            done: dict[str, Any] = {
                "model": MODEL, "done": True, "done_reason": "length",
                "total_duration": int((finished - arrived) * ns), "load_duration": int(cfg.load_s * ns),
                "prompt_eval_count": cfg.prompt_tokens, "prompt_eval_duration": int(cfg.ttft_s * ns),
                "eval_count": tokens, "eval_duration": int((finished - first_at) * ns),
            }
            done["response" if path == "/api/generate" else "message"] = (
                "" if path == "/api/generate" else {"role": "assistant", "content": ""})
            return json.dumps(done).encode() + b"\n"
        stop = {"choices": [{"index": 0, "delta": {}, "finish_reason": "length"}]}
        out = b"data: " + json.dumps(stop).encode() + b"\n\n"
        if cfg.include_usage and body.get("stream_options", {}).get("include_usage"):
            usage = {"choices": [], "usage": {"prompt_tokens": cfg.prompt_tokens, "completion_tokens": tokens,
                                              "total_tokens": cfg.prompt_tokens + tokens}}
            out += b"data: " + json.dumps(usage).encode() + b"\n\n"
        return out + b"data: [DONE]\n\n"


def _chunk(data: bytes) -> bytes:
    """One HTTP/1.1 chunked-transfer frame."""
    return b"%x\r\n%s\r\n" % (len(data), data)


async def serve(config: FakeConfig, port: int) -> None:
    server = FakeServer(config)
    listener = await asyncio.start_server(server.handle, "127.0.0.1", port, backlog=1024)
    print(f"PORT {listener.sockets[0].getsockname()[1]}", flush=True)
    async with listener:
        await listener.serve_forever()


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

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(timeout=10)


def main() -> None:
    parser = argparse.ArgumentParser(description="Scripted Ollama/OpenAI-compatible server for tests.")
    parser.add_argument("--config", default="{}", help="FakeConfig as JSON")
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args()
    try:
        asyncio.run(serve(FakeConfig.from_json(args.config), args.port))
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
