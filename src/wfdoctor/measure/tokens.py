"""Token workloads: warm-up, repeated runs, concurrency levels, arrivals.

For each concurrency level the runner first sends the warm-up requests (kept
apart, never in the statistics), then `runs` measured requests, closed-loop (a
fixed number of streams, each sending its next request when the last ends) or
with Poisson arrivals (open loop at a given rate, at most `concurrency` in
flight). The system is sampled throughout, so the analysis can see what the
machine did *during* generation (from a separate sampler process, so the
sampling never delays the timestamps). The server's own view (its counters and
gauges, where it publishes them) is read just before the measured requests and
again once they all ended: the counters' differences are the level's work as the
server counted it. Where the view has gauges, it is read a few times more while
they stream (GAUGE_FIRST_S in, then every GAUGE_EVERY_S), for the gauges alone:
requests waiting and KV-cache use peak during a level and are back near zero at
its edges. Finished requests are appended to the result as they end: an
interrupted run keeps them.
"""

from __future__ import annotations

import asyncio
import os
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from wfdoctor.measure.sampler import BackgroundSampler
from wfdoctor.model import Sample
from wfdoctor.sense.backends.base import GenerationRequest, ServerView, StreamTrace
from wfdoctor.sense.backends.client import Backend


@dataclass
class Workload:
    request: GenerationRequest
    runs: int = 10
    warmup: int = 1
    concurrency: list[int] = field(default_factory=lambda: [1])
    arrival: str = "closed"          # "closed" or "poisson"
    rate_per_s: float = 1.0          # Poisson arrival rate
    seed: int = 0
    sample_interval_s: float = 0.5
    read_gauges: bool = True         # read the server's gauges while a level streams (where its view has any)


@dataclass
class LevelRun:
    """Everything measured at one concurrency level."""

    concurrency: int
    arrival: str
    traces: list[StreamTrace] = field(default_factory=list)
    warmup: list[StreamTrace] = field(default_factory=list)
    token_counts: list[int | None] = field(default_factory=list)
    system: list[Sample] = field(default_factory=list)
    started_ns: int = 0
    ended_ns: int = 0
    own_pids: list[int] = field(default_factory=list)  # wfdoctor's client and sampler processes
    server_before: ServerView | None = None  # the server's view before the measured requests (after warm-up)
    server_after: ServerView | None = None   # ...and after they all ended
    server_during: list[ServerView] = field(default_factory=list)  # ...and while they streamed (for its gauges)


Progress = Callable[[int, int], None]  # (concurrency, measured requests done)

# The server's gauges during a level: first soon after it starts (a closed loop's queue is longest as its streams
# start together), then once a second. A reading asks the server for its pages from memory (llama.cpp: /metrics and
# /slots, answered between two decode steps) and parses them on the loop that stamps the tokens: a token arriving
# meanwhile is stamped late by that much, 0.26-0.28 ms for llama.cpp's pages and 0.5 ms for vLLM's documented page
# on the test VM (benchmarks/bench_server_view.py), once a second.
GAUGE_FIRST_S = 0.1
GAUGE_EVERY_S = 1.0

DEFAULT_PROMPT = "Explain in a few sentences why the sky is blue."
FILLER = "The quick brown fox jumps over the lazy dog while the council of models deliberates. "
CHARS_PER_TOKEN = 4.0  # English text with BPE tokenizers; the server's own count is reported beside
EMPTY_RESPONSE = "empty response (an end marker and no tokens)"


def answer_error(trace: StreamTrace) -> str:
    """Why a trace is no usable answer, "" when it is one.

    A stream that ends properly but carries no content token measured nothing
    (no TTFT, no decode rate): it fails like a cut stream, so a server that
    answers `[DONE]` and nothing else is never counted as working.
    """
    if trace.error or not trace.completed:
        return trace.error or "incomplete"
    return "" if trace.pieces else EMPTY_RESPONSE


def synthetic_prompt(tokens: int) -> str:
    """A prompt of roughly `tokens` tokens (filler text, then the question), for prefill tests."""
    filler_chars = max(int(tokens * CHARS_PER_TOKEN) - len(DEFAULT_PROMPT), 0)
    filler = (FILLER * (filler_chars // len(FILLER) + 1))[:filler_chars]
    return f"{filler}\n\n{DEFAULT_PROMPT}" if filler else DEFAULT_PROMPT


async def _one(backend: Backend, request: GenerationRequest, level: LevelRun, measured: bool,
               progress: Progress) -> None:
    trace = await backend.stream(request)
    if not measured:
        level.warmup.append(trace)
        return
    level.traces.append(trace)
    progress(level.concurrency, len(level.traces))


async def _closed_loop(backend: Backend, workload: Workload, level: LevelRun, measured: bool, total: int,
                       progress: Progress) -> None:
    remaining = list(range(total))

    async def worker() -> None:
        while remaining:
            remaining.pop()
            await _one(backend, workload.request, level, measured, progress)

    await asyncio.gather(*(worker() for _ in range(min(level.concurrency, total))))


async def _poisson(backend: Backend, workload: Workload, level: LevelRun, measured: bool, total: int,
                   progress: Progress, rng: random.Random) -> None:
    gate = asyncio.Semaphore(level.concurrency)

    async def limited() -> None:
        async with gate:
            await _one(backend, workload.request, level, measured, progress)

    tasks = []
    for _ in range(total):
        await asyncio.sleep(rng.expovariate(workload.rate_per_s))
        tasks.append(asyncio.create_task(limited()))
    await asyncio.gather(*tasks)


async def _read_gauges(backend: Backend, level: LevelRun) -> None:
    """Read the server's view while the level streams, until cancelled. A reading that failed (a server busy past
    the read's timeout, say) is skipped, not the end: the next may come when the queue is longest."""
    await asyncio.sleep(GAUGE_FIRST_S)
    while (view := await backend.server_view()) is not None:
        if view.source:
            level.server_during.append(view)
        await asyncio.sleep(GAUGE_EVERY_S)


async def run_workload(backend: Backend, workload: Workload, levels: list[LevelRun],
                       progress: Progress = lambda c, n: None) -> list[LevelRun]:
    """Run every concurrency level in turn, appending each to `levels` as it starts."""
    rng = random.Random(workload.seed)
    for concurrency in workload.concurrency:
        level = LevelRun(concurrency=concurrency, arrival=workload.arrival)
        levels.append(level)
        if workload.warmup:
            await _closed_loop(backend, workload, level, False, workload.warmup, progress)
        level.server_before = await backend.server_view()
        sampler = BackgroundSampler(workload.sample_interval_s).start()
        level.own_pids = [os.getpid(), sampler.pid or 0]
        level.started_ns = time.perf_counter_ns()
        before = level.server_before
        gauges = asyncio.create_task(_read_gauges(backend, level)) if workload.read_gauges and before and \
            (before.waiting is not None or before.kv_cache_ratio is not None) else None
        try:
            if workload.arrival == "poisson":
                await _poisson(backend, workload, level, True, workload.runs, progress, rng)
            else:
                await _closed_loop(backend, workload, level, True, workload.runs, progress)
        finally:
            level.ended_ns = time.perf_counter_ns()
            level.system = sampler.stop()
            if gauges is not None:
                gauges.cancel()
                await asyncio.gather(gauges, return_exceptions=True)
        if gauges is not None and not gauges.cancelled() and gauges.exception() is not None:
            raise gauges.exception()  # a fault of ours: reading a server's view never raises on what it says
        level.server_after = await backend.server_view()
        # Counting asks the server too: done after the level, never competing with its streams.
        level.token_counts = [await backend.count_tokens(t.text) if t.pieces else None for t in level.traces]
    return levels
