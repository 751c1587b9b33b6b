"""One async interface over every protocol: connect, stream, count tokens.

`connect()` finds out which registered protocol answers at a URL, and its
protocol opens the backend: which implementation serves it (it matters for
concurrency: llama-cpp-python runs one request at a time, llama.cpp has slots,
Ollama has OLLAMA_NUM_PARALLEL) and how to stream from it.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from wfdoctor.model import WfdoctorError
from wfdoctor.sense.backends import registry
from wfdoctor.sense.backends.base import Backend, BackendStatus
from wfdoctor.sense.backends.discovery import discover
from wfdoctor.sense.backends.streaming import client_name

__all__ = ["Backend", "connect"]


def _pick_model(status: BackendStatus, model: str | None) -> str:
    """`model` if the server serves it; else the first loaded model, else the first listed."""
    names = [m.name for m in status.models]
    if model is None:
        loaded = [m.name for m in status.models if m.loaded]
        if not (loaded or names):
            raise WfdoctorError(f"{status.url}: the server lists no models; name one with --model")
        return (loaded or names)[0]
    if names and model not in names:
        raise WfdoctorError(f"{status.url}: model '{model}' is not served here (available: {', '.join(names)})")
    return model


PROBE_TIMEOUT_S = 10.0  # the longest a probe waits by default: a listing answers in milliseconds


async def connect(url: str, model: str | None, timeout_s: float = 60.0, max_streams: int = 8,
                  probe_timeout_s: float | None = None, client: str | None = None) -> Backend:
    """Probe `url`, pick the model, and return a ready backend (or a clear error).

    Any registered protocol's URL works: `http(s)://...` for the servers, and
    `embedded` (or `embedded://in-process`) for the bundled SmolLM2 model loaded in this process.
    `timeout_s` is every later request's deadline (see `make_session`); the probe
    waits `probe_timeout_s` per protocol (default: the shorter of `timeout_s` and 10 s).
    `client` picks the stream reader (`lean` or `aiohttp`; None: $WFDOCTOR_CLIENT, else lean).
    """
    client = client_name(client)  # a wrong name is a usage error before anything is probed
    [status] = await discover([url], timeout_s=probe_timeout_s or min(timeout_s, PROBE_TIMEOUT_S))
    if not status.answered:
        # A base URL has no path: "http://host:8080/v1", the OpenAI clients' form, is probed as ".../v1/v1/models"
        # and answers 404.
        parts = urlsplit(url)
        with_path = parts.scheme in ("http", "https") and parts.path.strip("/") and "HTTP 404" in status.error
        hint = "; name the server's base URL, without a path such as /v1" if with_path else ""
        raise WfdoctorError(f"{url}: no LLM server answered ({status.error}){hint}")
    return await registry.named(status.kind).open(status, _pick_model(status, model), timeout_s, max_streams, client)
