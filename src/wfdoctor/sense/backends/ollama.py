"""Ollama's native API.

Discovery: `/api/version`, `/api/tags` (installed models), `/api/ps` (loaded
models, with `size` and the part in VRAM, `size_vram`). Measurement: streamed
`/api/generate` and `/api/chat` (NDJSON, one JSON object per line); the last
object carries the server's own durations in nanoseconds: `load_duration`,
`prompt_eval_count`/`prompt_eval_duration`, `eval_count`/`eval_duration`,
`total_duration`. One implementation serves it: Ollama itself.
"""

from __future__ import annotations

import time
from typing import Any

import aiohttp
import orjson

from wfdoctor.sense.backends.base import BackendStatus, GenerationRequest, ModelInfo, ServerReports, StreamTrace
from wfdoctor.sense.backends.http import get_json
from wfdoctor.sense.backends.http_backend import HttpProtocol
from wfdoctor.sense.backends.streaming import line_streamer

KIND = "ollama"
NS = 1e9
DURATIONS = {"load_duration": "load_s", "prompt_eval_duration": "prefill_s", "eval_duration": "decode_s",
             "total_duration": "total_s"}
COUNTS = {"prompt_eval_count": "prompt_tokens", "eval_count": "completion_tokens"}


async def probe_ollama(client: aiohttp.ClientSession, url: str) -> BackendStatus:
    """Ask an Ollama server for its version, installed and loaded models."""
    started = time.perf_counter()
    version = str((await get_json(client, f"{url}/api/version")).get("version", ""))
    latency = time.perf_counter() - started
    loaded: dict[str, ModelInfo] = {}
    for entry in (await get_json(client, f"{url}/api/ps")).get("models", []):
        loaded[entry["name"]] = ModelInfo(
            name=entry["name"], loaded=True, size_bytes=entry.get("size"),
            vram_bytes=entry.get("size_vram"), expires_at=entry.get("expires_at"),
        )
    models = list(loaded.values())
    for entry in (await get_json(client, f"{url}/api/tags")).get("models", []):
        if entry["name"] not in loaded:
            models.append(ModelInfo(name=entry["name"], loaded=False, size_bytes=entry.get("size")))
    return BackendStatus(url=url, kind=KIND, answered=True, latency_s=latency, version=version, models=models)


def _payload(request: GenerationRequest, model: str) -> tuple[str, dict[str, Any]]:
    options: dict[str, Any] = {"num_predict": request.max_tokens, "temperature": request.temperature}
    if request.seed is not None:
        options["seed"] = request.seed
    body: dict[str, Any] = {"model": model, "stream": True, "options": options}
    if request.api == "completion":
        return "/api/generate", body | {"prompt": request.prompt}
    return "/api/chat", body | {"messages": [{"role": "user", "content": request.prompt}]}


def _absorb(event: dict[str, Any], trace: StreamTrace, arrived: int) -> None:
    if "error" in event:
        raise ValueError(f"server error: {event['error']}")
    piece = event.get("response") if "response" in event else (event.get("message") or {}).get("content")
    if piece:
        trace.token_ns.append(arrived)
        trace.pieces.append(piece)
    if event.get("done"):
        trace.completed = True
        trace.finish_reason = event.get("done_reason")
        for key, name in DURATIONS.items():
            if key in event:
                trace.server[name] = event[key] / NS
        for key, name in COUNTS.items():
            if key in event:
                trace.server[name] = float(event[key])


def _handle_line(line: bytes, trace: StreamTrace, arrived: int) -> None:
    _absorb(orjson.loads(line), trace, arrived)


stream_ollama = line_streamer(_payload, _handle_line)


PROTOCOL = HttpProtocol(
    name=KIND, default_urls=("http://127.0.0.1:11434",), probe=probe_ollama, stream=stream_ollama,
    reports=ServerReports(token_count="server eval_count", fills=frozenset({*DURATIONS.values(), *COUNTS.values()}),
                          model_sizes="/api/ps"),
)
