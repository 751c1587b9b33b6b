"""Streaming one request: timing, line splitting and failure handling shared by
every line-oriented protocol (SSE for OpenAI, NDJSON for Ollama).

While the stream runs, the client only stamps and stores lines; parsing comes
after the last byte. With many concurrent streams on one event loop, parsing
in the loop would delay the timestamps of whatever arrives meanwhile.
Each protocol says how to fold its lines into the trace; everything that can go
wrong on the wire (HTTP errors, timeouts, cut connections, malformed lines)
ends up as a one-line `error` on that request's trace, never as an exception,
so one bad request never loses the rest of a run.

A stream is bounded: a line longer than `MAX_LINE_BYTES`, a response larger
than `MAX_RESPONSE_BYTES` or one that outlasts the session's deadline ends
that request with an error, so a broken server can neither fill the memory
nor keep a run waiting forever.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Iterator
from typing import Any, Literal

import aiohttp

from wfdoctor.model import WfdoctorError
from wfdoctor.sense.backends.answers import DETAIL_CHARS, one_line
from wfdoctor.sense.backends.base import GenerationRequest, StreamTrace
from wfdoctor.sense.backends.http import (CLOSED_CONNECTION_ERRORS, MAX_RESPONSE_BYTES, RESPONSE_TOO_LARGE,
                                         TRANSPORT_ERRORS, error_text, fresh_connection)

# How one attempt at a request ended (see `_send`).
Attempt = Literal["read", "rejected", "stale"]

# Folds one stamped line into the trace; sets `trace.completed` at the end marker. Built-in
# handlers raise WfdoctorError only (MalformedAnswer for a malformed line); a plugin's may also
# raise ValueError, AttributeError, TypeError or KeyError on a line it cannot read.
LineHandler = Callable[[bytes, StreamTrace, int], None]
HANDLER_ERRORS = (WfdoctorError, ValueError, AttributeError, TypeError, KeyError)
# The longest event line: 1 MiB, thousands of times a real one.
MAX_LINE_BYTES = 1 << 20
LINE_TOO_LONG = f"line longer than {MAX_LINE_BYTES} bytes"


def split_lines(chunks: list[tuple[int, bytes]], ended: bool = True) -> Iterator[tuple[int, bytes]]:
    """(time, line) for every non-empty line in stamped network reads. Never raises.

    A line's time is the arrival of the read that completed it: an event is
    usable only once its last byte is in. The bytes after the last newline
    count as a line only when the stream `ended` cleanly (else they are the
    front of a line that never finished).
    """
    pending = b""
    for arrived, chunk in chunks:
        pending += chunk
        *lines, pending = pending.split(b"\n")
        for line in lines:
            line = line.rstrip(b"\r")
            if line:
                yield arrived, line
    if ended and pending.strip() and chunks:
        yield chunks[-1][0], pending.strip()


async def _send(client: aiohttp.ClientSession, url: str, body: dict[str, Any], trace: StreamTrace,
                chunks: list[tuple[int, bytes]], answered: asyncio.Event | None) -> Attempt:
    """One attempt at the request, its stamped reads appended to `chunks`.

    "stale": it failed on a reused keep-alive connection before any response
    byte; the server had closed that connection, so the request never reached
    it and may be sent again. "rejected": an HTTP error status, in `error`.
    "read": the stream was read, to its end or to a failure in `error`.
    """
    stamp: dict[str, Any] = {}
    clock = time.perf_counter_ns
    size = unterminated = 0  # bytes so far; bytes since the last newline
    try:
        async with client.post(url, json=body, trace_request_ctx=stamp) as response:
            trace.first_byte_ns = time.perf_counter_ns()
            trace.sent_ns = stamp.get("sent_ns", trace.sent_ns)
            if response.status >= 400:
                detail = one_line((await response.content.read(DETAIL_CHARS)).decode("utf-8", "replace"))
                trace.error = f"HTTP {response.status}: {detail}"
                return "rejected"
            content = response.content
            async for chunk in content.iter_any():
                # The hot loop: stamp, keep and count. Whatever else is already buffered
                # arrived by now too: take it in the same turn (one wake-up, not one per event).
                arrived = clock()
                if not content.is_eof():
                    chunk += content.read_nowait()
                chunks.append((arrived, chunk))
                if answered is not None:
                    answered.set()
                    answered = None
                size += len(chunk)
                newline = chunk.rfind(b"\n")
                unterminated = unterminated + len(chunk) if newline < 0 else len(chunk) - newline - 1
                if unterminated > MAX_LINE_BYTES or size > MAX_RESPONSE_BYTES:
                    trace.error = LINE_TOO_LONG if unterminated > MAX_LINE_BYTES else RESPONSE_TOO_LARGE
                    break
    except CLOSED_CONNECTION_ERRORS as exc:
        if stamp.get("reused") and trace.first_byte_ns is None:
            return "stale"
        trace.error = error_text(exc)
    except TRANSPORT_ERRORS as exc:
        trace.error = error_text(exc)
    return "read"


async def stream_request(client: aiohttp.ClientSession, url: str, body: dict[str, Any], handle: LineHandler,
                         answered: asyncio.Event | None = None) -> StreamTrace:
    """POST `body` to `url`, read the stream to its end, then fold its lines into a trace.

    The clock starts when the request's last byte is written to the socket
    (aiohttp's chunk-sent hook), not when the coroutine starts: with many
    streams opened at once, the client's own queueing would otherwise count
    as server latency (3.5 ms p50 at 32 streams here). TTFB is when the
    response headers arrive; token times are the arrival times of the lines
    that `handle` finds content in.

    A server may close a keep-alive connection after a stream without saying
    so (llama.cpp's llama-server does, after every one); the next request on
    that pooled connection then fails before the server saw it. Such a request
    is sent once more on a fresh connection and counted in `trace.reconnects`:
    evidence about the server, not a failed request.
    """
    trace = StreamTrace(sent_ns=time.perf_counter_ns())
    chunks: list[tuple[int, bytes]] = []
    attempt = await _send(client, url, body, trace, chunks, answered)
    if attempt == "stale":
        trace.reconnects += 1
        trace.sent_ns = time.perf_counter_ns()
        async with fresh_connection(client) as fresh:
            attempt = await _send(fresh, url, body, trace, chunks, answered)
    trace.done_ns = time.perf_counter_ns()
    if attempt != "rejected":
        _fold(chunks, trace, handle)
    return trace


def _fold(chunks: list[tuple[int, bytes]], trace: StreamTrace, handle: LineHandler) -> None:
    """Fold the stamped reads into the trace, after the last byte; the first bad line ends it. Never raises."""
    for arrived, line in split_lines(chunks, ended=not trace.error):
        if len(line) > MAX_LINE_BYTES:
            trace.error = trace.error or LINE_TOO_LONG
            break
        try:
            handle(line, trace, arrived)
        except HANDLER_ERRORS as exc:
            trace.error = str(exc) if isinstance(exc, WfdoctorError) else f"malformed line: {exc}"
            break
        if trace.completed:
            break
    if trace.error:
        trace.error += f" after {len(trace.pieces)} tokens"
    if not trace.completed and not trace.error:
        trace.error = f"stream ended early (no end marker) after {len(trace.pieces)} tokens"


# (request, model) -> (path, JSON body) of one protocol's generation endpoint.
PayloadBuilder = Callable[[GenerationRequest, str], tuple[str, dict[str, Any]]]
# (session, base URL, request, model, answered) -> the trace of one streamed request
StreamFunction = Callable[[aiohttp.ClientSession, str, GenerationRequest, str, "asyncio.Event | None"],
                          Awaitable[StreamTrace]]


def line_streamer(payload: PayloadBuilder, handle: LineHandler) -> StreamFunction:
    """A protocol's `stream(client, url, request, model, answered)`: its payload, this engine, its line handler.

    Failures are recorded in the trace, never raised.
    """
    async def stream(client: aiohttp.ClientSession, url: str, request: GenerationRequest, model: str,
                     answered: asyncio.Event | None = None) -> StreamTrace:
        path, body = payload(request, model)
        return await stream_request(client, f"{url}{path}", body, handle, answered)

    return stream
