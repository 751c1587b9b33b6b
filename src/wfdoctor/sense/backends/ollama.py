"""Ollama's native API.

Discovery: `/api/version`, `/api/tags` (installed models), `/api/ps` (loaded
models, with `size` and the part in VRAM, `size_vram`). Measurement: streamed
`/api/generate` and `/api/chat` (NDJSON, one JSON object per line); the last
object carries the server's own durations in nanoseconds: `load_duration`,
`prompt_eval_count`/`prompt_eval_duration`, `eval_count`/`eval_duration`,
`total_duration`. One implementation serves it: Ollama itself.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import aiohttp

from wfdoctor.model import WfdoctorError
from wfdoctor.sense.backends.answers import Answer, Bytes, Count, Nanos, fast_parser, one_line
from wfdoctor.sense.backends.base import (BackendStatus, GenerationRequest, ModelInfo, ServerReports, ServerView,
                                          StreamTrace)
from wfdoctor.sense.backends.http import ANSWER_ERRORS, error_text, get_answer, post_answer
from wfdoctor.sense.backends.http_backend import HttpProtocol
from wfdoctor.sense.backends.server_view import OLLAMA, READ_TIMEOUT_S
from wfdoctor.sense.backends.streaming import line_streamer

KIND = "ollama"
NS = 1e9
DURATIONS = {"load_duration": "load_s", "prompt_eval_duration": "prefill_s", "eval_duration": "decode_s",
             "total_duration": "total_s"}
COUNTS = {"prompt_eval_count": "prompt_tokens", "eval_count": "completion_tokens"}


class Version(Answer):
    """`GET /api/version`."""

    version: str


class InstalledModel(Answer):
    name: str
    size: Bytes | None = None


class RunningModel(InstalledModel):
    size_vram: Bytes | None = None
    expires_at: str | None = None


class Installed(Answer):
    """`GET /api/tags`."""

    models: list[InstalledModel] | None = None


class Running(Answer):
    """`GET /api/ps`."""

    models: list[RunningModel] | None = None


class Message(Answer):
    content: str | None = None


class Event(Answer):
    """One NDJSON object of `/api/generate` or `/api/chat`; the last (`done`) carries the server's numbers."""

    error: str | None = None
    response: str | None = None      # /api/generate
    message: Message | None = None   # /api/chat
    done: bool = False
    done_reason: str | None = None
    load_duration: Nanos | None = None
    prompt_eval_duration: Nanos | None = None
    eval_duration: Nanos | None = None
    total_duration: Nanos | None = None
    prompt_eval_count: Count | None = None
    eval_count: Count | None = None


class Loaded(Answer):
    """The answer to a load or unload (`/api/generate` with no prompt)."""

    done: bool


async def probe_ollama(client: aiohttp.ClientSession, url: str) -> BackendStatus:
    """Ask an Ollama server for its version, installed and loaded models. Raises one of ANSWER_ERRORS."""
    started = time.perf_counter()
    version = (await get_answer(client, f"{url}/api/version", Version, "/api/version answer")).version
    latency = time.perf_counter() - started
    running = await get_answer(client, f"{url}/api/ps", Running, "/api/ps listing")
    loaded = {entry.name: ModelInfo(name=entry.name, loaded=True, size_bytes=entry.size, vram_bytes=entry.size_vram,
                                    expires_at=entry.expires_at) for entry in running.models or []}
    installed = await get_answer(client, f"{url}/api/tags", Installed, "/api/tags listing")
    models = list(loaded.values()) + [ModelInfo(name=entry.name, loaded=False, size_bytes=entry.size)
                                      for entry in installed.models or [] if entry.name not in loaded]
    return BackendStatus(url=url, kind=KIND, answered=True, latency_s=latency, version=version, models=models)


async def read_ps_view(client: aiohttp.ClientSession, url: str, implementation: str) -> ServerView:
    """Ollama's view of itself: `/api/ps`, the loaded models, their bytes and the part in VRAM
    (it keeps no counters: the durations of each request come in its last event instead)."""
    try:
        listing = await asyncio.wait_for(get_answer(client, f"{url}/api/ps", Running, "/api/ps listing"),
                                         READ_TIMEOUT_S)
    except ANSWER_ERRORS as exc:
        return ServerView(note=f"/api/ps did not answer ({error_text(exc)})")
    running = listing.models or []
    return ServerView(source=OLLAMA, models_loaded=len(running), model_bytes=sum(m.size or 0 for m in running),
                      model_vram_bytes=sum(m.size_vram or 0 for m in running))


async def set_keep_alive(client: aiohttp.ClientSession, url: str, model: str, keep_alive: int | str) -> None:
    """Load `model` for `keep_alive`, or unload it with 0 (Ollama's documented idiom). Raises one of ANSWER_ERRORS."""
    await post_answer(client, f"{url}/api/generate", {"model": model, "keep_alive": keep_alive}, Loaded,
                      "load answer")


def _payload(request: GenerationRequest, model: str) -> tuple[str, dict[str, Any]]:
    options: dict[str, Any] = {"num_predict": request.max_tokens, "temperature": request.temperature}
    if request.seed is not None:
        options["seed"] = request.seed
    body: dict[str, Any] = {"model": model, "stream": True, "options": options}
    if request.api == "completion":
        return "/api/generate", body | {"prompt": request.prompt}
    return "/api/chat", body | {"messages": [{"role": "user", "content": request.prompt}]}


parse_event = fast_parser(Event)


def _absorb(event: Event, trace: StreamTrace, arrived: int) -> None:
    if event.error is not None:
        raise WfdoctorError(f"server error: {one_line(event.error)}")
    piece = event.response if event.response is not None else (event.message.content if event.message else None)
    if piece:
        trace.token_ns.append(arrived)
        trace.pieces.append(piece)
    if event.done:
        trace.completed = True
        trace.finish_reason = event.done_reason
        durations = {name: value / NS for key, name in DURATIONS.items() if (value := getattr(event, key)) is not None}
        counts = {name: float(value) for key, name in COUNTS.items() if (value := getattr(event, key)) is not None}
        trace.server |= durations | counts


def _handle_line(line: bytes, trace: StreamTrace, arrived: int) -> None:
    """Fold one NDJSON line into the trace. Raises WfdoctorError only: MalformedAnswer for a
    line that is not a valid event, a plain WfdoctorError for the server's own error event."""
    _absorb(parse_event(line, "line"), trace, arrived)


stream_ollama = line_streamer(_payload, _handle_line)


PROTOCOL = HttpProtocol(
    name=KIND, default_urls=("http://127.0.0.1:11434",), probe=probe_ollama, stream=stream_ollama,
    reports=ServerReports(token_count="server eval_count", fills=frozenset({*DURATIONS.values(), *COUNTS.values()}),
                          model_sizes="/api/ps"),
    server_view=read_ps_view,
)
