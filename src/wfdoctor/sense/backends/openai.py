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
from pydantic import Field

from wfdoctor.sense.backends.answers import Answer, Count, MalformedAnswer, Millis, fast_parser
from wfdoctor.sense.backends.base import BackendStatus, GenerationRequest, ModelInfo, ServerReports, StreamTrace
from wfdoctor.sense.backends.http import ANSWER_ERRORS, get_answer, post_answer
from wfdoctor.sense.backends.http_backend import HttpProtocol
from wfdoctor.sense.backends.server_view import read_metrics_view
from wfdoctor.sense.backends.streaming import line_streamer

KIND = "openai"
LLAMA_CPP_PYTHON = "llama-cpp-python"
VLLM = "vllm"   # the catalogue's key for vLLM's settings (data/rules/30-actions.yaml)


class ListedModel(Answer):
    id: str


class ModelList(Answer):
    """`GET /v1/models`."""

    data: list[ListedModel]


class Owner(Answer):
    owned_by: object = None    # read as a string or not at all: a listing is never refused for it


class OwnedModels(Answer):
    """`GET /v1/models` read for who serves it: vLLM lists its models as `owned_by: "vllm"`."""

    data: list[Owner]


class OpenApi(Answer):
    """`GET /openapi.json` (FastAPI servers such as llama-cpp-python)."""

    paths: dict[str, object] = Field(default_factory=dict)


class Props(Answer):
    """`GET /props` (llama.cpp's server)."""

    default_generation_settings: dict[str, object]
    total_slots: object = None   # its --parallel; read as a positive int or unknown, never an error


class TokenCount(Answer):
    """`POST /extras/tokenize/count` (llama-cpp-python)."""

    count: Count


class Delta(Answer):
    content: str | None = None


class Choice(Answer):
    delta: Delta | None = None
    text: str | None = None      # /v1/completions
    finish_reason: str | None = None


class Usage(Answer):
    prompt_tokens: Count | None = None
    completion_tokens: Count | None = None


class Timings(Answer):
    """llama.cpp's server: prefill (`prompt_*`) and decode (`predicted_*`) counts and milliseconds."""

    prompt_n: Count | None = None
    prompt_ms: Millis | None = None
    predicted_n: Count | None = None
    predicted_ms: Millis | None = None


class Chunk(Answer):
    """One server-sent event of a streamed completion."""

    sections = frozenset({"choices", "usage", "timings"})
    model: str | None = None
    choices: list[Choice] | None = None
    usage: Usage | None = None
    timings: Timings | None = None


async def probe_openai(client: aiohttp.ClientSession, url: str) -> BackendStatus:
    """List the models an OpenAI-compatible server serves. Raises one of ANSWER_ERRORS.

    The API has no notion of loaded vs installed; servers of this family serve
    what they list, so every listed model counts as loaded.
    """
    started = time.perf_counter()
    listing = await get_answer(client, f"{url}/v1/models", ModelList, "/v1/models listing")
    latency = time.perf_counter() - started
    models = [ModelInfo(name=entry.id, loaded=True) for entry in listing.data]
    return BackendStatus(url=url, kind=KIND, answered=True, latency_s=latency, models=models)


async def identify_server(client: aiohttp.ClientSession, url: str) -> str:
    """Which implementation serves the API: `llama-cpp-python`, `llama.cpp`, `vllm` or `openai-compatible`.

    Concurrency behaviour and settings differ by implementation, so the diagnosis
    and the actions it shows need it: llama-cpp-python lists `/extras/tokenize/count`
    in its OpenAPI document; llama.cpp's server answers `/props`; vLLM lists its
    models as `owned_by: "vllm"` (its ModelCard's default). Never raises: a failed
    or malformed answer only rules that implementation out.
    """
    try:
        if "/extras/tokenize/count" in (await get_answer(client, f"{url}/openapi.json", OpenApi,
                                                          "/openapi.json document")).paths:
            return LLAMA_CPP_PYTHON
    except ANSWER_ERRORS:
        pass
    try:
        await get_answer(client, f"{url}/props", Props, "/props answer")
        return "llama.cpp"
    except ANSWER_ERRORS:
        pass
    try:
        listing = await get_answer(client, f"{url}/v1/models", OwnedModels, "/v1/models listing")
        if any(model.owned_by == VLLM for model in listing.data):
            return VLLM
    except ANSWER_ERRORS:
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
        slots = (await get_answer(client, f"{url}/props", Props, "/props answer")).total_slots
    except ANSWER_ERRORS:
        return None
    return slots if isinstance(slots, int) and not isinstance(slots, bool) and slots > 0 else None


async def count_tokens(client: aiohttp.ClientSession, url: str, implementation: str, text: str) -> int | None:
    """Tokens in `text` by llama-cpp-python's own tokenizer; None from other servers or on any failure."""
    if implementation != LLAMA_CPP_PYTHON:
        return None
    try:
        return (await post_answer(client, f"{url}/extras/tokenize/count", {"input": text}, TokenCount,
                                  "token count")).count
    except ANSWER_ERRORS:
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


parse_chunk = fast_parser(Chunk)
CLOSING_BRACE = ord("}")


def _server_numbers(event: Chunk, trace: StreamTrace) -> None:
    """The server's counts and times: `usage` (vLLM, llama.cpp when asked) and llama.cpp's `timings`."""
    reported: dict[str, float | None] = {}
    if event.usage:
        reported |= {"completion_tokens": event.usage.completion_tokens, "prompt_tokens": event.usage.prompt_tokens}
    if event.timings:  # llama.cpp server
        timings = event.timings
        reported |= {"prompt_tokens": timings.prompt_n, "completion_tokens": timings.predicted_n,
                     "prefill_s": timings.prompt_ms / 1000 if timings.prompt_ms is not None else None,
                     "decode_s": timings.predicted_ms / 1000 if timings.predicted_ms is not None else None}
    trace.server |= {name: float(value) for name, value in reported.items() if value is not None}


def _handle_line(line: bytes, trace: StreamTrace, arrived: int) -> None:
    """Fold one SSE line into the trace: its content pieces, finish reason and the server's own numbers.

    Raises MalformedAnswer only (on a `data:` line that is not a valid event).
    Runs once per streamed token, so the path of an event does no more than it
    must: an event is a JSON object, so a line ending in "}" is parsed at once;
    only another line is stripped and tested for the end marker. A payload
    padded with blanks JSON does not allow (a form feed, say) is parsed again
    stripped, as any payload was before.
    """
    if line[:5] != b"data:":
        return  # comments, event names, keep-alives
    data = line[5:]
    if line[-1] != CLOSING_BRACE:
        data = data.strip()
        if data == b"[DONE]":
            trace.completed = True
            return
    try:
        event = parse_chunk(data, "line")
    except MalformedAnswer:
        event = parse_chunk(data.strip(), "line")
    if not trace.reported_model and event.model:
        trace.reported_model = event.model
    for choice in event.choices or ():
        delta = choice.delta
        piece = (delta.content if delta is not None else None) or choice.text
        if piece:
            trace.token_ns.append(arrived)
            trace.pieces.append(piece)
        if choice.finish_reason:
            trace.finish_reason = choice.finish_reason
    if event.usage is not None or event.timings is not None:
        _server_numbers(event, trace)


stream_openai = line_streamer(_payload, _handle_line)


PROTOCOL = HttpProtocol(
    name=KIND, default_urls=("http://127.0.0.1:8080", "http://127.0.0.1:8000", "http://127.0.0.1:1234"),
    probe=probe_openai, identify=identify_server, stream=stream_openai, count_tokens=count_tokens, slots=parallel_slots,
    server_view=read_metrics_view,
    reports=ServerReports(token_count="server usage",
                          fills=frozenset({"prompt_tokens", "completion_tokens", "prefill_s", "decode_s"})),
)
