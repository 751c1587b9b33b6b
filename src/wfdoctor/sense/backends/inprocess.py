"""The embedded engine in this process: llama-cpp-python's `Llama` with SmolLM2.

No HTTP at all: tokens are stamped in the worker thread the moment the model
yields them, so this measures the engine alone (the server adapters measure
engine + server + transport). One worker thread: a `Llama` instance serves
one generation at a time, so concurrent requests queue, as they do in
llama-cpp-python's server with interrupts off.

Its protocol, `inprocess`, speaks the URLs `embedded` and `embedded://in-process`
and is never looked for by discovery on its own (that would load a model).
"""

from __future__ import annotations

import asyncio
import os
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import aiohttp

from wfdoctor.sense.backends.base import (Backend, BackendStatus, GenerationRequest, ModelInfo, ServerReports,
                                          ServerView, StreamTrace)
from wfdoctor.sense.backends.embedded import MODEL_ALIAS, require_engine

KIND = "inprocess"
URL = "embedded://in-process"
_DONE = object()


def _status(model_file: Path) -> BackendStatus:
    return BackendStatus(url=URL, kind=KIND, answered=True,
                         models=[ModelInfo(name=MODEL_ALIAS, loaded=True, size_bytes=model_file.stat().st_size)])


class InProcessBackend:
    """Same interface as the HTTP backends (`stream`, `count_tokens`, `aclose`)."""

    protocol = KIND
    implementation = "llama-cpp-python (in process)"
    url = URL

    def __init__(self, model_path: Path | None = None, n_threads: int | None = None, n_ctx: int = 2048) -> None:
        self.model_file: str | None = str(require_engine(server=False, model_path=model_path))
        from llama_cpp import Llama  # here, not at the top: a plain install has no llama_cpp (the embedded extra)
        self.model = MODEL_ALIAS
        self.server_pid: int | None = os.getpid()
        self._llama = Llama(model_path=self.model_file, n_ctx=n_ctx, n_threads=n_threads, verbose=False)
        self._worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="wfdoctor-llama")
        self.status = _status(Path(self.model_file))

    def _generate(self, request: GenerationRequest, emit: Any) -> None:
        try:
            chunks = (self._llama.create_completion(prompt=request.prompt, max_tokens=request.max_tokens,
                                                    temperature=request.temperature, seed=request.seed, stream=True)
                      if request.api == "completion" else
                      self._llama.create_chat_completion(messages=[{"role": "user", "content": request.prompt}],
                                                         max_tokens=request.max_tokens,
                                                         temperature=request.temperature, seed=request.seed,
                                                         stream=True))
            for chunk in chunks:
                emit((time.perf_counter_ns(), chunk))
            emit((time.perf_counter_ns(), _DONE))
        except Exception as exc:  # the engine's failure becomes this request's error, never the run's
            emit((time.perf_counter_ns(), exc))

    async def stream(self, request: GenerationRequest, answered: asyncio.Event | None = None) -> StreamTrace:
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[tuple[int, Any]] = asyncio.Queue()
        trace = StreamTrace(sent_ns=time.perf_counter_ns())
        job = loop.run_in_executor(self._worker, self._generate, request,
                                   lambda item: loop.call_soon_threadsafe(queue.put_nowait, item))
        while True:
            stamp, item = await queue.get()
            if trace.first_byte_ns is None:
                trace.first_byte_ns = stamp
                if answered is not None:
                    answered.set()
            if item is _DONE:
                trace.completed = True
                break
            if isinstance(item, Exception):
                trace.error = f"engine error after {len(trace.pieces)} tokens: {item}"
                break
            choice = item["choices"][0]
            piece = choice.get("text") if "text" in choice else (choice.get("delta") or {}).get("content")
            if piece:
                trace.token_ns.append(stamp)
                trace.pieces.append(piece)
            trace.finish_reason = choice.get("finish_reason") or trace.finish_reason
        await job
        trace.done_ns = time.perf_counter_ns()
        return trace

    async def count_tokens(self, text: str) -> int | None:
        return len(self._llama.tokenize(text.encode("utf-8"), add_bos=False, special=False))

    async def server_view(self) -> ServerView | None:
        return None

    async def aclose(self) -> None:
        self._worker.shutdown(wait=True)
        self._llama.close()


class InProcessProtocol:
    """The in-process engine, declared like any protocol. The probe only checks that
    the engine and its model are installed; the model loads when the backend opens."""

    name = KIND
    schemes = ("embedded",)
    default_urls: tuple[str, ...] = ()
    reports = ServerReports(token_count="", fills=frozenset(), model_sizes="model file")

    async def probe(self, client: aiohttp.ClientSession, url: str) -> BackendStatus:
        return _status(require_engine(server=False))

    async def open(self, status: BackendStatus, model: str, timeout_s: float, max_streams: int,
                   client: str | None = None) -> Backend:
        return InProcessBackend()  # no HTTP stream to read: `client` does not apply


PROTOCOL = InProcessProtocol()
