"""OpenAI-compatible servers (llama.cpp, llama-cpp-python, LM Studio, vLLM).

`/v1/models` for discovery; streamed `/v1/chat/completions` and
`/v1/completions` (server-sent events) for measurement. Servers differ in what
they add: llama.cpp's server reports `timings` (prefill and decode in ms) in
its last event; vLLM and llama.cpp send `usage` when asked with
`stream_options.include_usage`; llama-cpp-python sends neither, so its output
tokens are counted per event and can be confirmed with its
`/extras/tokenize/count` endpoint. Discovery looks on llama.cpp's port (8080),
vLLM's (8000) and LM Studio's (1234).
"""

from __future__ import annotations

import time
from typing import Any

import aiohttp
import orjson

from wfdoctor.sense.backends.base import BackendStatus, GenerationRequest, ModelInfo, ServerReports, StreamTrace
from wfdoctor.sense.backends.http import TRANSPORT_ERRORS, HttpStatusError, get_json, post_json
from wfdoctor.sense.backends.http_backend import HttpProtocol
from wfdoctor.sense.backends.streaming import line_streamer

KIND = "openai"
LLAMA_CPP_PYTHON = "llama-cpp-python"


async def probe_openai(client: aiohttp.ClientSession, url: str) -> BackendStatus:
    """List the models an OpenAI-compatible server serves.

    The API has no notion of loaded vs installed; servers of this family serve
    what they list, so every listed model counts as loaded.
    """
    started = time.perf_counter()
    listing = await get_json(client, f"{url}/v1/models")
    latency = time.perf_counter() - started
    models = [ModelInfo(name=str(entry.get("id", "?")), loaded=True) for entry in listing.get("data", [])]
    return BackendStatus(url=url, kind=KIND, answered=True, latency_s=latency, models=models)


async def identify_server(client: aiohttp.ClientSession, url: str) -> str:
    """Which implementation serves the API: `llama-cpp-python`, `llama.cpp`, or `openai-compatible`.

    Concurrency behaviour differs by implementation, so the diagnosis needs it:
    llama-cpp-python lists `/extras/tokenize/count` in its OpenAPI document;
    llama.cpp's server answers `/props`.
    """
    try:
        if "/extras/tokenize/count" in (await get_json(client, f"{url}/openapi.json")).get("paths", {}):
            return LLAMA_CPP_PYTHON
    except (*TRANSPORT_ERRORS, HttpStatusError, ValueError, AttributeError):
        pass
    try:
        if "default_generation_settings" in await get_json(client, f"{url}/props"):
            return "llama.cpp"
    except (*TRANSPORT_ERRORS, HttpStatusError, ValueError, TypeError):
        pass
    return "openai-compatible"


async def parallel_slots(client: aiohttp.ClientSession, url: str, implementation: str) -> int | None:
    """llama.cpp's slot count (`total_slots` in `/props`, its `--parallel`); None from other servers.

    With several slots the server generates that many requests at once, so
    concurrent requests share its compute instead of queueing for it.
    """
    if implementation != "llama.cpp":
        return None
    try:
        slots = (await get_json(client, f"{url}/props")).get("total_slots")
    except (*TRANSPORT_ERRORS, HttpStatusError, ValueError, AttributeError):
        return None
    return slots if isinstance(slots, int) and slots > 0 else None


async def count_tokens(client: aiohttp.ClientSession, url: str, implementation: str, text: str) -> int | None:
    """Tokens in `text` by llama-cpp-python's own tokenizer; None from other servers or on failure."""
    if implementation != LLAMA_CPP_PYTHON:
        return None
    try:
        return int((await post_json(client, f"{url}/extras/tokenize/count", {"input": text}))["count"])
    except (*TRANSPORT_ERRORS, HttpStatusError, ValueError, KeyError, TypeError):
        return None


def _payload(request: GenerationRequest, model: str) -> tuple[str, dict[str, Any]]:
    body: dict[str, Any] = {
        "model": model,
        "max_tokens": request.max_tokens,
        "temperature": request.temperature,
        "stream": True,
        "stream_options": {"include_usage": True},
    }
    if request.seed is not None:
        body["seed"] = request.seed
    if request.api == "completion":
        return "/v1/completions", body | {"prompt": request.prompt}
    return "/v1/chat/completions", body | {"messages": [{"role": "user", "content": request.prompt}]}


def _absorb(event: dict[str, Any], trace: StreamTrace, arrived: int) -> None:
    """Fold one parsed SSE event into the trace."""
    if not trace.reported_model and event.get("model"):
        trace.reported_model = str(event["model"])
    for choice in event.get("choices") or []:
        piece = (choice.get("delta") or {}).get("content") if "delta" in choice else choice.get("text")
        if piece:
            trace.token_ns.append(arrived)
            trace.pieces.append(piece)
        if choice.get("finish_reason"):
            trace.finish_reason = choice["finish_reason"]
    usage = event.get("usage")
    if usage:
        trace.server["completion_tokens"] = float(usage.get("completion_tokens", 0))
        trace.server["prompt_tokens"] = float(usage.get("prompt_tokens", 0))
    timings = event.get("timings")  # llama.cpp server
    if timings:
        trace.server["prompt_tokens"] = float(timings.get("prompt_n", 0))
        trace.server["prefill_s"] = float(timings.get("prompt_ms", 0)) / 1000
        trace.server["completion_tokens"] = float(timings.get("predicted_n", 0))
        trace.server["decode_s"] = float(timings.get("predicted_ms", 0)) / 1000


def _handle_line(line: bytes, trace: StreamTrace, arrived: int) -> None:
    if not line.startswith(b"data:"):
        return  # comments, event names, keep-alives
    data = line[5:].strip()
    if data == b"[DONE]":
        trace.completed = True
    else:
        _absorb(orjson.loads(data), trace, arrived)


stream_openai = line_streamer(_payload, _handle_line)


PROTOCOL = HttpProtocol(
    name=KIND, default_urls=("http://127.0.0.1:8080", "http://127.0.0.1:8000", "http://127.0.0.1:1234"),
    probe=probe_openai, identify=identify_server, stream=stream_openai, count_tokens=count_tokens, slots=parallel_slots,
    reports=ServerReports(token_count="server usage",
                          fills=frozenset({"prompt_tokens", "completion_tokens", "prefill_s", "decode_s"})),
)
