"""Protocols spoken over HTTP: a declaration made of a few functions, and the one
backend that drives any of them.

A protocol module fills in an `HttpProtocol` (probe, identify, stream, count
tokens, what the server reports) and `HttpBackend` does the rest the same way for
every protocol: one aiohttp session for probes and answers, one stream client
(`--client`: the lean one, or aiohttp's over the same session), the server's
count labelled on each trace, both closed at the end.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace

import aiohttp

from wfdoctor.sense.backends.base import Backend, BackendStatus, GenerationRequest, ServerReports, StreamTrace
from wfdoctor.sense.backends.base import ServerView
from wfdoctor.sense.backends.http import make_session
from wfdoctor.sense.backends.aiohttp_stream import AiohttpStreams
from wfdoctor.sense.backends.lean import LeanStreams
from wfdoctor.sense.backends.streaming import StreamClient, StreamFunction, client_name

# (session, base URL) -> the server's status; raises when the URL does not speak the protocol
Probe = Callable[[aiohttp.ClientSession, str], Awaitable[BackendStatus]]
# (session, base URL) -> the implementation serving it ("llama.cpp", ...); never raises
Identify = Callable[[aiohttp.ClientSession, str], Awaitable[str]]
# (session, base URL, implementation, text) -> the server tokenizer's count, or None where it has none
CountTokens = Callable[[aiohttp.ClientSession, str, str, str], Awaitable[int | None]]
# (session, base URL, implementation) -> the requests the server generates at once, or None where it does not say
Slots = Callable[[aiohttp.ClientSession, str, str], Awaitable[int | None]]
# (session, base URL, implementation) -> what the server says about its own work; never raises
ServerViewReader = Callable[[aiohttp.ClientSession, str, str], Awaitable[ServerView]]


def stream_client(name: str, session: aiohttp.ClientSession, timeout_s: float) -> StreamClient:
    """The stream reader `name` (streaming.CLIENTS): the lean one, or aiohttp's over the backend's session."""
    return LeanStreams(timeout_s) if name == "lean" else AiohttpStreams(session)


@dataclass(frozen=True)
class HttpProtocol:
    """Everything wfdoctor needs to know about one HTTP protocol.

    `identify` None: the protocol has one implementation, named like the protocol.
    `count_tokens` None: its servers have no tokenizer endpoint.
    `slots` None: its servers do not say how many requests they generate at once.
    `server_view` None: its servers say nothing about their own work (see server_view.py).
    """

    name: str
    default_urls: tuple[str, ...]
    probe: Probe
    stream: StreamFunction          # failures go in `trace.error`, never raised (see streaming.line_streamer)
    reports: ServerReports
    identify: Identify | None = None
    count_tokens: CountTokens | None = None
    slots: Slots | None = None
    server_view: ServerViewReader | None = None
    schemes: tuple[str, ...] = ("http", "https")

    async def open(self, status: BackendStatus, model: str, timeout_s: float, max_streams: int,
                   client: str | None = None) -> Backend:
        name = client_name(client)
        session = make_session(timeout_s, max_streams)
        streamer = stream_client(name, session, timeout_s)
        try:
            implementation = await self.identify(session, status.url) if self.identify else self.name
            if self.slots is not None:
                status = replace(status, slots=await self.slots(session, status.url, implementation))
        except BaseException:
            await session.close()
            raise
        return HttpBackend(self, self.name, status.url, implementation, model, status, session, streamer)


@dataclass
class HttpBackend:
    """A server reached over HTTP, driven through its protocol's declaration."""

    declaration: HttpProtocol
    protocol: str
    url: str
    implementation: str
    model: str
    status: BackendStatus
    client: aiohttp.ClientSession     # probes, counts, listings: everything but the streams
    streamer: StreamClient            # the streams (the lean client, or aiohttp's over `client`)
    model_file: str | None = None
    server_pid: int | None = None  # the listening process is found from the port by whoever needs it

    async def stream(self, request: GenerationRequest, answered: asyncio.Event | None = None) -> StreamTrace:
        trace = await self.declaration.stream(self.streamer, self.url, request, self.model, answered)
        trace.server_count_source = self.declaration.reports.token_count
        return trace

    async def count_tokens(self, text: str) -> int | None:
        """The server's own token count of `text`, where the server offers one."""
        if self.declaration.count_tokens is None:
            return None
        return await self.declaration.count_tokens(self.client, self.url, self.implementation, text)

    async def server_view(self) -> ServerView | None:
        """What the server says about its own work now (None where its protocol has no way to ask)."""
        if self.declaration.server_view is None:
            return None
        return await self.declaration.server_view(self.client, self.url, self.implementation)

    async def aclose(self) -> None:
        await self.streamer.aclose()
        await self.client.close()
