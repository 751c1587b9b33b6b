"""The vocabulary every backend shares: what a probe reports (the server, its
models, how it answered), one generation to stream and its raw timeline, what a
protocol's server reports on its own (per stream, and its own view of its work:
`ServerView`, read by `server_view.py`), and the `Backend` the measurement code drives.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Protocol


@dataclass(frozen=True)
class ModelInfo:
    """A model a server knows; sizes are the server's own numbers when it gives them."""

    name: str
    loaded: bool
    size_bytes: int | None = None
    vram_bytes: int | None = None
    expires_at: str | None = None


@dataclass
class BackendStatus:
    """One probed server. `answered` False means nothing usable came back."""

    url: str
    kind: str
    answered: bool
    latency_s: float | None = None
    version: str = ""
    models: list[ModelInfo] = field(default_factory=list)
    error: str = ""
    embedded: bool = False
    detail: str = ""
    slots: int | None = None  # requests the server generates at once, where it says (llama.cpp's /props)


@dataclass(frozen=True)
class GenerationRequest:
    """One generation to stream. `api` picks the endpoint: `chat` or `completion`
    (OpenAI `/v1/completions`, Ollama `/api/generate`)."""

    prompt: str
    model: str = ""
    max_tokens: int = 64
    temperature: float = 0.0
    seed: int | None = 0
    api: str = "chat"


@dataclass
class StreamTrace:
    """The raw timeline of one streamed request, as the client saw it.

    Times are `time.perf_counter_ns()` values; `sent_ns` is when the request
    was on the wire. `token_ns[i]` is when the event
    carrying content piece `i` arrived (events read in one network read share
    that read's time). Server-reported numbers sit in `server`, in seconds or
    counts, keyed by what the server called them.
    """

    sent_ns: int
    first_byte_ns: int | None = None
    token_ns: list[int] = field(default_factory=list)
    pieces: list[str] = field(default_factory=list)
    done_ns: int | None = None
    finish_reason: str | None = None
    server: dict[str, float] = field(default_factory=dict)
    error: str = ""
    completed: bool = False
    reported_model: str = ""  # the model name or path the server put in its events
    server_count_source: str = ""  # what the server's count in `server["completion_tokens"]` is called
    reconnects: int = 0  # sent again on a fresh connection: the server had closed the pooled one


    @property
    def text(self) -> str:
        return "".join(self.pieces)


@dataclass(frozen=True)
class ServerReports:
    """What a protocol's server reports by itself, beside what the client measures.

    Reports label each number with where it came from, so a protocol names its
    own: `token_count` is the label of the server's output-token count (e.g.
    "server eval_count"), `fills` the `StreamTrace.server` keys its streams can
    fill (`load_s`, `prefill_s`, `decode_s`, `total_s`, `prompt_tokens`,
    `completion_tokens`), `model_sizes` where its model sizes come from (e.g. "/api/ps").
    """

    token_count: str
    fills: frozenset[str]
    model_sizes: str = ""


@dataclass(frozen=True)
class ServerView:
    """One snapshot of what a server says about itself; None where it does not say.

    Counters (cumulative since the server started): `prompt_tokens`, `generated_tokens`,
    `prefill_s`, `decode_s` (seconds spent processing prompts and generating), `queue_s` and
    `finished` (vLLM's queue-time histogram: seconds waited, requests counted), `decode_steps` and
    `busy_slot_steps` (llama.cpp: decode calls and the busy slots summed over them), `preemptions`
    (vLLM), `longest_sequence` (llama.cpp: the longest prompt + generation a slot held).
    Gauges (now): `running`, `waiting`, `kv_cache_ratio` (KV-cache blocks in use, 0-1), `slots_busy`,
    `slots_total`, `slot_context` (tokens of context per slot), `models_loaded`, `model_bytes`,
    `model_vram_bytes` (Ollama).
    """

    source: str = ""                 # LLAMACPP, VLLM, OLLAMA; "" when the server said nothing
    note: str = ""                   # why there is nothing (or less) to report
    prompt_tokens: float | None = None
    generated_tokens: float | None = None
    prefill_s: float | None = None
    decode_s: float | None = None
    queue_s: float | None = None
    finished: float | None = None
    decode_steps: float | None = None
    busy_slot_steps: float | None = None
    preemptions: float | None = None
    longest_sequence: float | None = None
    running: float | None = None
    waiting: float | None = None
    kv_cache_ratio: float | None = None
    slots_busy: int | None = None
    slots_total: int | None = None
    slot_context: int | None = None
    models_loaded: int | None = None
    model_bytes: int | None = None
    model_vram_bytes: int | None = None


class Backend(Protocol):
    """What every backend offers the measurement code, whatever protocol it speaks."""

    url: str
    protocol: str           # the registered protocol's name: "openai", "ollama", "inprocess", ...
    implementation: str     # "ollama", "llama-cpp-python", "llama.cpp", "vllm", "openai-compatible", ...
    model: str
    model_file: str | None  # the model's file, where the backend knows it
    server_pid: int | None  # the serving process, where the backend knows it without asking the OS
    status: BackendStatus

    async def stream(self, request: GenerationRequest, answered: asyncio.Event | None = None) -> StreamTrace: ...

    async def count_tokens(self, text: str) -> int | None: ...

    async def server_view(self) -> ServerView | None: ...  # None: nothing to ask (in-process, unreachable)

    async def aclose(self) -> None: ...
