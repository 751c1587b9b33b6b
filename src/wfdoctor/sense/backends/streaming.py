"""Streaming one request: timing, line splitting and failure handling shared by
every line-oriented protocol (SSE for OpenAI, NDJSON for Ollama).

While the stream runs, the client only stamps and stores lines; parsing comes
after the last byte. With many concurrent streams on one event loop, parsing
in the loop would delay the timestamps of whatever arrives meanwhile.
Each protocol says how to fold its lines into the trace; everything that can go
wrong on the wire (HTTP errors, timeouts, cut connections, malformed lines)
ends up as a one-line `error` on that request's trace, never as an exception,
so one bad request never loses the rest of a run.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import aiohttp

from wfdoctor.sense.backends.base import GenerationRequest, StreamTrace
from wfdoctor.sense.backends.http import TRANSPORT_ERRORS, error_text

# Folds one stamped line into the trace; sets `trace.completed` at the end marker.
LineHandler = Callable[[bytes, StreamTrace, int], None]


def split_lines(chunks: list[tuple[int, bytes]]) -> Iterator[tuple[int, bytes]]:
    """(time, line) for every non-empty line in stamped network reads.

    A line's time is the arrival of the read that completed it: an event is
    usable only once its last byte is in.
    """
    pending = b""
    for arrived, chunk in chunks:
        pending += chunk
        *lines, pending = pending.split(b"\n")
        for line in lines:
            line = line.rstrip(b"\r")
            if line:
                yield arrived, line
    if pending.strip() and chunks:
        yield chunks[-1][0], pending.strip()


async def stream_request(client: aiohttp.ClientSession, url: str, body: dict[str, Any], handle: LineHandler,
                         answered: asyncio.Event | None = None) -> StreamTrace:
    """POST `body` to `url`, read the stream to its end, then fold its lines into a trace.

    The clock starts when the request's last byte is written to the socket
    (aiohttp's chunk-sent hook), not when the coroutine starts: with many
    streams opened at once, the client's own queueing would otherwise count
    as server latency (3.5 ms p50 at 32 streams here). TTFB is when the
    response headers arrive; token times are the arrival times of the lines
    that `handle` finds content in.
    """
    trace = StreamTrace(sent_ns=time.perf_counter_ns())
    stamp: dict[str, int] = {}
    chunks: list[tuple[int, bytes]] = []
    clock = time.perf_counter_ns
    try:
        async with client.post(url, json=body, trace_request_ctx=stamp) as response:
            trace.first_byte_ns = time.perf_counter_ns()
            trace.sent_ns = stamp.get("sent_ns", trace.sent_ns)
            if response.status >= 400:
                detail = (await response.read())[:200].decode("utf-8", "replace").strip()
                trace.error = f"HTTP {response.status}: {detail}"
                trace.done_ns = time.perf_counter_ns()
                return trace
            content = response.content
            async for chunk in content.iter_any():
                # The hot loop: stamp and keep. Whatever else is already buffered
                # arrived by now too: take it in the same turn (one wake-up, not one per event).
                chunks.append((clock(), chunk + content.read_nowait() if not content.is_eof() else chunk))
                if answered is not None:
                    answered.set()
                    answered = None
    except TRANSPORT_ERRORS as exc:
        trace.error = error_text(exc)
    trace.done_ns = time.perf_counter_ns()
    for arrived, line in split_lines(chunks):
        try:
            handle(line, trace, arrived)
        except (ValueError, AttributeError, TypeError, KeyError) as exc:  # orjson.JSONDecodeError is a ValueError
            trace.error = f"malformed line: {exc}"
            break
        if trace.completed:
            break
    if trace.error:
        trace.error += f" after {len(trace.pieces)} tokens"
    if not trace.completed and not trace.error:
        trace.error = f"stream ended early (no end marker) after {len(trace.pieces)} tokens"
    return trace


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
