"""What a backend probe reports: the server, its models, and how it answered."""

from __future__ import annotations

from dataclasses import dataclass, field


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

    @property
    def text(self) -> str:
        return "".join(self.pieces)
