"""wfdoctor's streaming clients vs servebench's, side by side in one run.

1. Client overhead: CPU time per streamed token (reading and parsing) against
   the fake server emitting as fast as it can (no sleeps), at 1, 8 and 64
   streams, rounds interleaved. Target: the lean client <= 0.5x servebench at
   every level. Beside them, the lean client's reads alone (framing stepped
   over, the body kept, its lines never parsed): the floor of this read path
   (the kernel's receive path, the event loop, llhttp), not a client one could
   use; lean / floor is what parsing the lines costs on top.
2. Accuracy under load: TTFT error against a known schedule (first token
   150 ms after the request arrives, then 20 ms per token), the schedule
   server in another process, at 1, 32 and 128 streams. Target: the lean
   client's p99 error under 5 ms at 128. The server records when it read
   each request and wrote its first token (perf_counter: one monotonic clock
   for both processes on Linux), so the error is split into the way out
   (request sent -> read by the server's thread) and the way back (first
   token written -> stamped by the client).
3. Whole process: CPU of `wfdoctor tokens` against `servebench run` for the
   same requests (128 requests x 50 tokens at 32 streams, 2 warm-ups each),
   each a fresh process, children included (wfdoctor's sampler process).

GuideLLM is not compared: it needs PyTorch, transformers and a tokenizer from
the Hugging Face hub, which this offline machine cannot fetch.

Usage: .venv/bin/python benchmarks/bench_token_client.py [--quick]
(needs `pip install '.[bench]'` for servebench)
"""

from __future__ import annotations

import argparse
import asyncio
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Coroutine
from pathlib import Path
from typing import Any, TypeVar

import aiohttp

from wfdoctor.measure.loop import run_measured
from wfdoctor.sense.backends.aiohttp_stream import AiohttpStreams
from wfdoctor.sense.backends.base import GenerationRequest, StreamTrace
from wfdoctor.sense.backends.http import make_session
from wfdoctor.sense.backends.lean import LeanStreams
from wfdoctor.sense.backends.openai import _payload as openai_payload
from wfdoctor.sense.backends.openai import stream_openai
from wfdoctor.testing.fake_llm import MODEL, FakeConfig, FakeLLMServer

try:
    from servebench.client import RequestSpec, send_request
    from servebench.prompts import Prompt
except ImportError:  # pragma: no cover - optional comparison
    RequestSpec = None

SERVEBENCH = "servebench 1.1.3"
FLOOR = "lean reads only"
T = TypeVar("T")
# One request's (TTFT seconds, tokens received), given an aiohttp session (servebench's), the lean client, the
# URL, the tokens to ask for and the prompt (unique per request: the server's record of it is found by it).
Client = Callable[[aiohttp.ClientSession, LeanStreams, str, int, str], Awaitable[tuple[float, int]]]


STAMPS: dict[str, tuple[int, int]] = {}  # wfdoctor's clients: prompt -> (sent, first token) in perf_counter ns


def _measured(trace: StreamTrace, prompt: str) -> tuple[float, int]:
    STAMPS[prompt] = (trace.sent_ns, trace.token_ns[0])
    return (trace.token_ns[0] - trace.sent_ns) / 1e9, len(trace.pieces)


async def lean_client(session: aiohttp.ClientSession, lean: LeanStreams, url: str, tokens: int,
                      prompt: str) -> tuple[float, int]:
    return _measured(await stream_openai(lean, url, GenerationRequest(prompt, max_tokens=tokens), MODEL), prompt)


async def lean_reads_only(session: aiohttp.ClientSession, lean: LeanStreams, url: str, tokens: int,
                          prompt: str) -> tuple[float, int]:
    """The lean client's reads and stamps without the fold: counts the tokens it asked for, parses nothing."""
    path, body = openai_payload(GenerationRequest(prompt, max_tokens=tokens), MODEL)
    reads = await lean.read_stream(f"{url}{path}", body, None)
    if reads.error or reads.first_byte_ns is None:
        raise RuntimeError(f"reads-only stream failed: {reads.error}")
    return (reads.first_byte_ns - reads.sent_ns) / 1e9, tokens


async def aiohttp_client(session: aiohttp.ClientSession, lean: LeanStreams, url: str, tokens: int,
                         prompt: str) -> tuple[float, int]:
    trace = await stream_openai(AiohttpStreams(session), url, GenerationRequest(prompt, max_tokens=tokens), MODEL)
    return _measured(trace, prompt)


async def servebench_client(session: aiohttp.ClientSession, lean: LeanStreams, url: str, tokens: int,
                            prompt: str) -> tuple[float, int]:
    spec = RequestSpec(url=f"{url}/v1", model=MODEL, output_len=tokens)
    result = await send_request(session, spec, Prompt(prompt))
    return (result.chunk_times[0] if result.chunk_times else float("nan")), len(result.chunk_times)


CLIENTS: dict[str, Client] = {"wfdoctor lean": lean_client, "wfdoctor aiohttp": aiohttp_client}
if RequestSpec is not None:
    CLIENTS[SERVEBENCH] = servebench_client


def run_on(name: str) -> Callable[[Coroutine[Any, Any, T]], T]:
    """wfdoctor's clients run on its measurement loop (`measure/loop.py`), as `tokens` runs them; servebench on
    asyncio's own, as `servebench run` does."""
    return asyncio.run if name == SERVEBENCH else run_measured


async def run_level(client: Client, url: str, streams: int, requests: int, tokens: int,
                    stamps: dict[str, tuple[int, int]] | None = None) -> tuple[dict[str, float], int, float]:
    """Closed loop with `streams` workers on warmed connections; (TTFT by prompt, tokens, CPU seconds).

    CPU time counts the measured requests only, not the set-up and warm-up. `stamps` gets wfdoctor's
    clients' send and first-token times by prompt (servebench keeps no such stamps).
    """
    STAMPS.clear()
    ttfts: dict[str, float] = {}
    received = 0
    lean = LeanStreams(60)
    async with make_session(60, streams) as session:
        await asyncio.gather(*(client(session, lean, url, 4, "warm") for _ in range(streams)))  # warm connections
        remaining = list(range(requests))

        async def worker() -> None:
            nonlocal received
            while remaining:
                prompt = f"hi {remaining.pop()}"
                ttft, count = await client(session, lean, url, tokens, prompt)
                ttfts[prompt] = ttft
                received += count

        started = time.process_time()
        await asyncio.gather(*(worker() for _ in range(streams)))
        cpu = time.process_time() - started
    await lean.aclose()
    if stamps is not None:
        stamps.update((prompt, stamp) for prompt, stamp in STAMPS.items() if prompt in ttfts)
    return ttfts, received, cpu


def overhead(rounds: int, tokens: int, levels: list[int]) -> None:
    print("1. Client CPU per streamed token, fake server at full speed "
          f"({tokens} tokens per request, median of {rounds} interleaved rounds; ratio range over the rounds)")
    with FakeLLMServer(FakeConfig(ttft_s=0.0, itl_s=0.0, tokens=tokens)) as server:
        clients = CLIENTS | {FLOOR: lean_reads_only}
        for streams in levels:
            costs: dict[str, list[float]] = {name: [] for name in clients}
            for _ in range(rounds):
                for name, client in clients.items():
                    _, received, cpu = run_on(name)(run_level(client, server.base_url, streams,
                                                              max(streams * 2, 4), tokens))
                    costs[name].append(cpu / received)
            for name, values in costs.items():
                per_token = statistics.median(values)
                print(f"   {streams:>3} streams  {name:<18} {per_token * 1e6:7.2f} us/token "
                      f"= {1 / per_token:9,.0f} chunks per CPU-second")
            floor = statistics.median(costs["wfdoctor lean"]) / statistics.median(costs[FLOOR])
            print(f"   {streams:>3} streams  wfdoctor lean / {FLOOR}: {floor:.2f}x (what parsing the lines adds)")
            if SERVEBENCH in costs:
                for name in ("wfdoctor lean", "wfdoctor aiohttp", FLOOR):
                    ratios = sorted(a / b for a, b in zip(costs[name], costs[SERVEBENCH]))
                    print(f"   {streams:>3} streams  {name} / servebench: median "
                          f"{statistics.median(ratios):.2f}x, rounds {ratios[0]:.2f}-{ratios[-1]:.2f}x "
                          + ("(the floor: no parsing)" if name == FLOOR else "(target <= 0.5x)"))


def _percentiles(values: list[float]) -> str:
    ordered = sorted(values)
    p99 = ordered[min(len(ordered) - 1, int(round(0.99 * (len(ordered) - 1))))]
    return f"p50 {statistics.median(ordered):6.2f}  p99 {p99:6.2f}  max {ordered[-1]:6.2f}"


def _server_times(server: FakeLLMServer) -> dict[str, tuple[float, float]]:
    """Per request prompt: when the server read the request and when it wrote the first token (perf_counter s)."""
    return {entry["body"]["messages"][0]["content"]: (entry["arrived_s"], entry["first_token_written_s"])
            for entry in server.received() if "arrived_s" in entry}


def accuracy(levels: list[int]) -> None:
    print("2. TTFT error vs the schedule (first token 150 ms after the server read the request), ms. Split with the "
          "server's own times (one monotonic clock for both processes): request sent -> read by the server "
          "(the server's threads), first token written -> stamped by the client (the client's read side)")
    schedule = FakeConfig(ttft_s=0.150, itl_s=0.020, tokens=20)
    for streams in levels:
        for name, client in CLIENTS.items():
            with FakeLLMServer(schedule) as server:
                stamps: dict[str, tuple[int, int]] = {}
                ttfts, _, _ = run_on(name)(run_level(client, server.base_url, streams, streams * 2, 20, stamps))
                times = _server_times(server)
            errors = [(t - 0.150) * 1000 for t in ttfts.values()]
            line = f"   {streams:>3} streams  {name:<18} vs schedule {_percentiles(errors)}"
            if stamps:
                sent_to_read = [(times[p][0] - sent / 1e9) * 1000 for p, (sent, _) in stamps.items() if p in times]
                write_to_stamp = [(first / 1e9 - times[p][1]) * 1000 for p, (_, first) in stamps.items() if p in times]
                line += (f"\n   {'':>3}          {'':<18} sent->read {_percentiles(sent_to_read)}  |  "
                         f"written->stamped {_percentiles(write_to_stamp)}")
            print(line)


def _cpu_of(command: list[str]) -> float:
    """CPU seconds (user + system) of `command` and its children, run to its end."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def whole_process(rounds: int, requests: int = 128, tokens: int = 50, streams: int = 32) -> None:
    print(f"3. Whole-process CPU for {requests} requests x {tokens} tokens at {streams} streams, fresh processes "
          f"(median of {rounds} interleaved rounds)")
    if RequestSpec is None:
        print("   servebench is not installed: nothing to compare")
        return
    servebench = str(Path(sys.executable).with_name("servebench"))
    with FakeLLMServer(FakeConfig(ttft_s=0.005, itl_s=0.002, tokens=tokens)) as server, \
            tempfile.TemporaryDirectory() as scratch:
        env_db = os.path.join(scratch, "bench.db")
        os.environ["WFDOCTOR_DB"] = env_db
        commands = {
            "wfdoctor tokens": [sys.executable, "-m", "wfdoctor", "tokens", "--backend", server.base_url,
                                "--concurrency", str(streams), "--runs", str(requests), "--warmup", "2",
                                "--max-tokens", str(tokens), "--no-bandwidth", "--fail-on", "never", "--json"],
            "servebench run": [servebench, "run", "--url", f"{server.base_url}/v1", "--model", MODEL,
                               "--concurrency", str(streams), "--num-requests", str(requests), "--warmup", "2",
                               "--output-len", str(tokens), "--input-len", "16", "--seed", "1",
                               "--out", os.path.join(scratch, "run.json")],
        }
        cpu: dict[str, list[float]] = {name: [] for name in commands}
        for _ in range(rounds):
            for name, command in commands.items():
                cpu[name].append(_cpu_of(command))
    for name, values in cpu.items():
        print(f"   {name:<16} {statistics.median(values):6.2f} s CPU (rounds {min(values):.2f}-{max(values):.2f})")
    ratios = sorted(a / b for a, b in zip(cpu["wfdoctor tokens"], cpu["servebench run"]))
    print(f"   ratio wfdoctor / servebench: median {statistics.median(ratios):.2f}x, "
          f"rounds {ratios[0]:.2f}-{ratios[-1]:.2f}x")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="fewer rounds and levels")
    parser.add_argument("--only", choices=("overhead", "accuracy", "process"), help="one part only")
    args = parser.parse_args()
    if RequestSpec is None:
        print("servebench is not installed (pip install '.[bench]'): wfdoctor alone is measured")
    if args.only in (None, "overhead"):
        overhead(rounds=3 if args.quick else 7, tokens=2000, levels=[1, 8] if args.quick else [1, 8, 64])
    if args.only in (None, "accuracy"):
        accuracy([1, 32] if args.quick else [1, 32, 128])
    if args.only in (None, "process"):
        whole_process(rounds=1 if args.quick else 3)


if __name__ == "__main__":
    main()
