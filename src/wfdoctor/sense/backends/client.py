"""One async interface over every protocol: connect, stream, count tokens.

`connect()` finds out what answers at a URL (Ollama's API or the OpenAI one),
which implementation it is (it matters for concurrency: llama-cpp-python runs
one request at a time, llama.cpp has slots, Ollama has OLLAMA_NUM_PARALLEL) and
which model to use.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Protocol

import aiohttp

from wfdoctor.model import WfdoctorError
from wfdoctor.sense.backends.base import BackendStatus, GenerationRequest, StreamTrace
from wfdoctor.sense.backends.discovery import discover
from wfdoctor.sense.backends.http import make_session
from wfdoctor.sense.backends.inprocess import URL, InProcessBackend
from wfdoctor.sense.backends.ollama import stream_ollama
from wfdoctor.sense.backends.openai import count_tokens, identify_server, stream_openai


class Backend(Protocol):
    """What every backend offers the measurement code."""

    url: str
    protocol: str          # "openai", "ollama" or "inprocess"
    implementation: str    # "ollama", "llama-cpp-python", "llama.cpp", "openai-compatible", ...
    model: str
    model_file: str | None  # the model's file, where the backend knows it
    status: BackendStatus

    async def stream(self, request: GenerationRequest, answered: asyncio.Event | None = None) -> StreamTrace: ...

    async def count_tokens(self, text: str) -> int | None: ...

    async def aclose(self) -> None: ...


@dataclass
class HttpBackend:
    """A server reached over HTTP (Ollama's API or the OpenAI one)."""

    url: str
    protocol: str
    implementation: str
    model: str
    status: BackendStatus
    client: aiohttp.ClientSession
    model_file: str | None = None

    async def stream(self, request: GenerationRequest, answered: asyncio.Event | None = None) -> StreamTrace:
        if self.protocol == "ollama":
            return await stream_ollama(self.client, self.url, request, self.model, answered)
        return await stream_openai(self.client, self.url, request, self.model, answered)

    async def count_tokens(self, text: str) -> int | None:
        """The server's own token count of `text`, where the server offers one."""
        if self.implementation == "llama-cpp-python":
            return await count_tokens(self.client, self.url, text)
        return None

    async def aclose(self) -> None:
        await self.client.close()


async def connect(url: str, model: str | None, timeout_s: float = 60.0, max_streams: int = 8) -> Backend:
    """Probe `url`, pick the model, and return a ready backend (or a clear error).

    `embedded` (or `embedded://in-process`) loads the bundled SmolLM2 model in this process.
    """
    if url in ("embedded", URL):
        return InProcessBackend()
    [status] = await discover([url], timeout_s=min(timeout_s, 10.0))
    if not status.answered:
        raise WfdoctorError(f"{url}: no LLM server answered ({status.error})")
    names = [m.name for m in status.models]
    if model is None:
        loaded = [m.name for m in status.models if m.loaded]
        if not (loaded or names):
            raise WfdoctorError(f"{url}: the server lists no models; name one with --model")
        model = (loaded or names)[0]
    elif names and model not in names:
        raise WfdoctorError(f"{url}: model '{model}' is not served here (available: {', '.join(names)})")
    client = make_session(timeout_s, max_streams)
    implementation = "ollama" if status.kind == "ollama" else await identify_server(client, url)
    return HttpBackend(url.rstrip("/"), status.kind, implementation, model, status, client)
