"""One HTTP/1.1 response, read as it arrives: the lean client's parser.

It is fed each socket read with the time it arrived. llhttp (Node's C parser,
through httptools) steps over the status line, headers and chunked framing;
this keeps the body's bytes per read, framing removed, and notices the end.
The body's lines are parsed only after the end (`streaming._fold`).
Chosen by measurement: stepping over the framing in Python cost 1.1-2.0 µs a
chunk, llhttp 0.1-0.3 µs.

It never raises on what a server sends: a malformed head or framing, a line
or body past its bound, a cut connection all end the response with one
`error` phrase, the same phrases the aiohttp client gives (see http.error_text).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

import httptools

from wfdoctor.sense.backends.answers import DETAIL_CHARS, one_line
from wfdoctor.sense.backends.http import MAX_RESPONSE_BYTES, RESPONSE_TOO_LARGE
from wfdoctor.sense.backends.streaming import LINE_TOO_LONG, MAX_LINE_BYTES, Reads

MAX_HEAD_BYTES = 64 << 10    # a status line and headers: a few hundred bytes from any LLM server
DISCONNECTED = "server disconnected"
CUT = "connection cut mid-response"
FRAMING_HEADERS = frozenset({b"content-length", b"transfer-encoding"})


class ResponseReader:
    """Parses one response fed read by read; calls `on_end(reusable)` once, when it has ended.

    `reusable`: the response ended cleanly within its framing and the server
    keeps the connection, so the next request may go out on it.
    """

    def __init__(self, reads: Reads, on_end: Callable[[bool], None], answered: asyncio.Event | None = None) -> None:
        self.reads = reads
        self.on_end = on_end
        self.answered = answered          # set at the first body bytes (the council's "a member answered")
        self.parser = httptools.HttpResponseParser(self)
        self.status = 0                   # once the head is whole
        self.ended = False
        self.complete = False             # the body's framing said it was whole
        self.framed = False               # Content-Length or chunked: else the body ends when the connection does
        self.keep_alive = False           # the server keeps the connection after this response
        self.trailing = False             # bytes came after the response: never reuse the connection
        self.fed = 0                      # every byte fed, framing and trailers included: the outer bound
        self.head_bytes = 0
        self.pieces: list[bytes] = []     # this read's body bytes
        self.size = 0                     # body bytes so far: the response bound
        self.unterminated = 0             # body bytes since the last newline: the line bound
        self.now = 0

    @property
    def got_nothing(self) -> bool:
        """Not one byte of a response arrived: on a reused connection, the server had closed it before."""
        return self.status == 0 and self.head_bytes == 0

    # --- llhttp's callbacks ---
    def on_header(self, name: bytes, value: bytes) -> None:
        if name.lower() in FRAMING_HEADERS:
            self.framed = True

    def on_headers_complete(self) -> None:
        if self.complete:                 # a second response after this one: the connection is out of step
            self.trailing = True
            return
        status = self.parser.get_status_code()
        if status >= 200:
            self.status = status
            self.reads.first_byte_ns = self.now

    def on_body(self, body: bytes) -> None:
        if not self.trailing:
            self.pieces.append(body)

    def on_message_complete(self) -> None:
        if self.status and not self.complete:                   # not an interim 1xx answer: the real one follows those
            self.complete = True
            self.keep_alive = self.parser.should_keep_alive()  # llhttp forgets it once the callback returns

    # --- the connection's side ---
    def feed(self, data: bytes, now: int) -> None:
        """Take one read that arrived at `now` (perf_counter_ns)."""
        if self.ended:
            self.trailing = True
            return
        self.now = now
        self.fed += len(data)
        if not self.status:
            self.head_bytes += len(data)
        if self.complete:
            self.trailing = True
        try:
            self.parser.feed_data(data)
        except (httptools.HttpParserError, httptools.HttpParserUpgrade) as exc:
            if self.pieces:
                self._body(now)
            self.end(f"malformed response ({exc or 'a protocol upgrade'})")
            return
        if self.fed > MAX_RESPONSE_BYTES + MAX_HEAD_BYTES:   # framing or trailers without end
            self.end(RESPONSE_TOO_LARGE)
        elif not self.status and self.head_bytes > MAX_HEAD_BYTES:
            self.end(f"malformed response (headers longer than {MAX_HEAD_BYTES} bytes)")
        elif self.pieces:
            self._body(now)
        if self.complete:
            self.end()

    def lost(self, exc: Exception | None = None) -> None:
        """The connection closed: the end of an until-close body, else a response cut short (or reset)."""
        if self.ended:
            return
        if self.status and not self.framed:
            self.complete = True
            self.end()
        elif isinstance(exc, ConnectionResetError) and not self.status:
            self.end(f"connection reset ({exc})" if str(exc) else "connection reset")
        else:
            self.end(CUT if self.status else DISCONNECTED)

    def end(self, error: str = "") -> None:
        """End the response once; an error ends it unusable (the connection must not be reused)."""
        if self.ended:
            return
        self.ended = True
        reads = self.reads
        reads.done_ns = time.perf_counter_ns()
        if self.status >= 400 and not error:
            detail = b"".join(reads.chunks)[:DETAIL_CHARS]
            reads.error, reads.rejected = f"HTTP {self.status}: {one_line(detail.decode('utf-8', 'replace'))}", True
        elif error:
            reads.error = error
        self.on_end(self.complete and not error and self.framed and self.keep_alive and not self.trailing)

    def _body(self, now: int) -> None:
        """Keep this read's body bytes under its arrival time; check the bounds."""
        pieces = self.pieces
        chunk = pieces[0] if len(pieces) == 1 else b"".join(pieces)
        self.pieces = []
        self.size += len(chunk)
        if self.size > MAX_RESPONSE_BYTES:
            self.end(RESPONSE_TOO_LARGE)
            return
        self.reads.arrivals.append(now)
        self.reads.chunks.append(chunk)
        if self.status >= 400:   # as aiohttp's read(DETAIL_CHARS): the first words that came, no waiting for more
            self.end()
            return
        if self.answered is not None:
            self.answered.set()
            self.answered = None
        newline = chunk.rfind(b"\n")
        self.unterminated = self.unterminated + len(chunk) if newline < 0 else len(chunk) - newline - 1
        if self.unterminated > MAX_LINE_BYTES:
            self.end(LINE_TOO_LONG)
