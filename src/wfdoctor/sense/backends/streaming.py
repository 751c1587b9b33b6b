"""Streaming one request: timing, line splitting and failure handling shared by
every line-oriented protocol (SSE for OpenAI, NDJSON for Ollama).

While the stream runs, a `StreamClient` only stamps and stores what it reads;
parsing comes after the last byte. With many concurrent streams on one event loop, parsing
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
import os
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, Protocol

from wfdoctor.model import WfdoctorError
from wfdoctor.sense.backends.base import GenerationRequest, StreamTrace

# Folds one stamped line into the trace; sets `trace.completed` at the end marker. Built-in
# handlers raise WfdoctorError only (MalformedAnswer for a malformed line); a plugin's may also
# raise ValueError, AttributeError, TypeError or KeyError on a line it cannot read.
LineHandler = Callable[[bytes, StreamTrace, int], None]
HANDLER_ERRORS = (WfdoctorError, ValueError, AttributeError, TypeError, KeyError)
# The longest event line: 1 MiB, thousands of times a real one.
MAX_LINE_BYTES = 1 << 20
LINE_TOO_LONG = f"line longer than {MAX_LINE_BYTES} bytes"
CARRIAGE_RETURN = ord("\r")
CLIENTS = ("lean", "aiohttp")     # the stream readers `--client` picks from; the first is the default
CLIENT_VARIABLE = "WFDOCTOR_CLIENT"


@dataclass
class Reads:
    """One streamed response as the wire delivered it, before any parsing.

    One entry per network read: `chunks[i]` is the body's bytes it brought
    (chunked framing already removed), `arrivals[i]` when it arrived
    (perf_counter_ns). Two flat lists, not a list of pairs: a pair is an object
    the garbage collector tracks, and at 64 streams their growth set off about
    120 collections per 256,000 tokens (benchmarks/bench_token_client.py).
    `rejected`: the server answered an HTTP error status (named in `error`);
    there is nothing to fold.
    """

    sent_ns: int
    first_byte_ns: int | None = None
    done_ns: int | None = None
    arrivals: list[int] = field(default_factory=list)
    chunks: list[bytes] = field(default_factory=list)
    error: str = ""
    rejected: bool = False
    reconnects: int = 0


class StreamClient(Protocol):
    """Reads streamed responses: POST a JSON body, stamp every read, parse nothing.

    Failures (refused, cut, timed out, too long) end up in `Reads.error`, never raised.
    A server that closed a kept-alive connection unannounced before the request
    reached it (llama.cpp's `llama-server` closes every one) gets the request once
    more on a fresh connection, counted in `Reads.reconnects`: evidence about the
    server, not a failed request.
    """

    async def read_stream(self, url: str, body: dict[str, Any], answered: asyncio.Event | None) -> Reads: ...

    async def aclose(self) -> None: ...


def client_name(name: str | None) -> str:
    """The stream reader to use: `name`, else $WFDOCTOR_CLIENT, else the first of CLIENTS."""
    chosen = name or os.environ.get(CLIENT_VARIABLE) or CLIENTS[0]
    if chosen not in CLIENTS:
        where = "--client" if name else CLIENT_VARIABLE
        raise WfdoctorError(f"{where}: unknown client '{chosen}' (known: {', '.join(CLIENTS)})")
    return chosen


def split_lines(arrivals: list[int], chunks: list[bytes], ended: bool = True) -> Iterator[tuple[int, list[bytes]]]:
    """(time, lines) for every network read that completed lines, the lines as sent (some empty, some
    ending in a carriage return: `_fold_lines` skips and trims them). Never raises.

    A line's time is the arrival of the read that completed it: an event is
    usable only once its last byte is in. The bytes after the last newline
    count as a line only when the stream `ended` cleanly (else they are the
    front of a line that never finished); that line comes last, stripped, with
    the last read's time. A tuple per read, not per line: a token is about two
    lines (an event and a blank one), and a generator step per line cost about
    6 % of the whole fold (measured on a 2,000-token stream).
    """
    pending = b""
    for arrived, chunk in zip(arrivals, chunks):
        if pending:
            chunk = pending + chunk
        lines = chunk.split(b"\n")
        pending = lines.pop()
        if lines:
            yield arrived, lines
    if ended and pending.strip() and chunks:
        yield arrivals[-1], [pending.strip()]


async def stream_request(client: StreamClient, url: str, body: dict[str, Any], handle: LineHandler,
                         answered: asyncio.Event | None = None) -> StreamTrace:
    """POST `body` to `url`, read the stream to its end, then fold its lines into a trace.

    The clock starts when the request's last byte is written to the socket,
    not when the coroutine starts: with many streams opened at once, the
    client's own queueing would otherwise count as server latency (3.5 ms p50
    at 32 streams here). TTFB is when the response headers arrive; token times
    are the arrival times of the lines that `handle` finds content in.
    """
    reads = await client.read_stream(url, body, answered)
    trace = StreamTrace(sent_ns=reads.sent_ns, first_byte_ns=reads.first_byte_ns, done_ns=reads.done_ns,
                        error=reads.error, reconnects=reads.reconnects)
    if not reads.rejected:
        _fold(reads.arrivals, reads.chunks, trace, handle)
    return trace


def _fold(arrivals: list[int], chunks: list[bytes], trace: StreamTrace, handle: LineHandler) -> None:
    """Fold the stamped reads into the trace, after the last byte; the first bad line ends it. Never raises."""
    _fold_lines(arrivals, chunks, trace, handle)
    if trace.error:
        trace.error += f" after {len(trace.pieces)} tokens"
    if not trace.completed and not trace.error:
        trace.error = f"stream ended early (no end marker) after {len(trace.pieces)} tokens"


def _fold_lines(arrivals: list[int], chunks: list[bytes], trace: StreamTrace, handle: LineHandler) -> None:
    """Hand every non-empty line, carriage return trimmed, to `handle` until the end marker or the first bad line."""
    for arrived, lines in split_lines(arrivals, chunks, ended=not trace.error):
        for line in lines:
            if not line:
                continue
            if line[-1] == CARRIAGE_RETURN:
                line = line.rstrip(b"\r")
                if not line:
                    continue
            if len(line) > MAX_LINE_BYTES:
                trace.error = trace.error or LINE_TOO_LONG
                return
            try:
                handle(line, trace, arrived)
            except HANDLER_ERRORS as exc:
                trace.error = str(exc) if isinstance(exc, WfdoctorError) else f"malformed line: {exc}"
                return
            if trace.completed:
                return


# (request, model) -> (path, JSON body) of one protocol's generation endpoint.
PayloadBuilder = Callable[[GenerationRequest, str], tuple[str, dict[str, Any]]]
# (stream client, base URL, request, model, answered) -> the trace of one streamed request
StreamFunction = Callable[[StreamClient, str, GenerationRequest, str, "asyncio.Event | None"],
                          Awaitable[StreamTrace]]


def line_streamer(payload: PayloadBuilder, handle: LineHandler) -> StreamFunction:
    """A protocol's `stream(client, url, request, model, answered)`: its payload, this engine, its line handler.

    Failures are recorded in the trace, never raised.
    """
    async def stream(client: StreamClient, url: str, request: GenerationRequest, model: str,
                     answered: asyncio.Event | None = None) -> StreamTrace:
        path, body = payload(request, model)
        return await stream_request(client, f"{url}{path}", body, handle, answered)

    return stream
