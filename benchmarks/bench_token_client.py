"""wfdoctor's streaming client vs servebench's, side by side in one run.

1. Client overhead: CPU time per streamed token against the fake server
   emitting as fast as it can (no sleeps), at 1 and 8 streams. Target:
   wfdoctor <= 0.5x the better competitor, and >= 20,000 chunks/s on one core.
2. Accuracy under load: TTFT error against a known schedule (first token
   150 ms after the request arrives, then 20 ms per token) at 1, 32 and 128
   streams. Target: wfdoctor's p99 error under 2 ms at 128.

GuideLLM is not compared: it needs PyTorch, transformers and a tokenizer from
the Hugging Face hub, which this offline machine cannot fetch.

Usage: .venv/bin/python benchmarks/bench_token_client.py [--quick]
(needs `pip install '.[bench]'` for servebench)
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from collections.abc import Awaitable, Callable

import aiohttp

from wfdoctor.sense.backends.base import GenerationRequest
from wfdoctor.sense.backends.http import make_session
from wfdoctor.sense.backends.openai import stream_openai
from wfdoctor.testing.fake_llm import MODEL, FakeConfig, FakeLLMServer

try:
    from servebench.client import RequestSpec, send_request
    from servebench.prompts import Prompt
except ImportError:  # pragma: no cover - optional comparison
    RequestSpec = None

# One request's (TTFT seconds, tokens received) for a client.
Client = Callable[[aiohttp.ClientSession, str, int], Awaitable[tuple[float, int]]]


async def wfdoctor_client(session: aiohttp.ClientSession, url: str, tokens: int) -> tuple[float, int]:
    trace = await stream_openai(session, url, GenerationRequest("hi", max_tokens=tokens), MODEL)
    return (trace.token_ns[0] - trace.sent_ns) / 1e9, len(trace.pieces)


async def servebench_client(session: aiohttp.ClientSession, url: str, tokens: int) -> tuple[float, int]:
    spec = RequestSpec(url=f"{url}/v1", model=MODEL, output_len=tokens)
    result = await send_request(session, spec, Prompt("hi"))
    return (result.chunk_times[0] if result.chunk_times else float("nan")), len(result.chunk_times)


CLIENTS: dict[str, Client] = {"wfdoctor": wfdoctor_client}
if RequestSpec is not None:
    CLIENTS["servebench 1.1.3"] = servebench_client


async def run_level(client: Client, url: str, streams: int, requests: int,
                    tokens: int) -> tuple[list[float], int, float]:
    """Closed loop with `streams` workers on one warmed session; (TTFTs, tokens, CPU seconds).

    CPU time counts the measured requests only, not the session set-up and warm-up.
    """
    ttfts: list[float] = []
    received = 0
    async with make_session(60, streams) as session:
        await asyncio.gather(*(client(session, url, 4) for _ in range(streams)))  # warm connections
        remaining = list(range(requests))

        async def worker() -> None:
            nonlocal received
            while remaining:
                remaining.pop()
                ttft, count = await client(session, url, tokens)
                ttfts.append(ttft)
                received += count

        started = time.process_time()
        await asyncio.gather(*(worker() for _ in range(streams)))
        cpu = time.process_time() - started
    return ttfts, received, cpu


def overhead(rounds: int, tokens: int) -> None:
    print("1. Client CPU per streamed token, fake server at full speed "
          f"({tokens} tokens per request, median of {rounds} interleaved rounds)")
    with FakeLLMServer(FakeConfig(ttft_s=0.0, itl_s=0.0, tokens=tokens)) as server:
        for streams in (1, 8):
            costs: dict[str, list[float]] = {name: [] for name in CLIENTS}
            for _ in range(rounds):
                for name, client in CLIENTS.items():
                    _, received, cpu = asyncio.run(run_level(client, server.base_url, streams, streams * 4, tokens))
                    costs[name].append(cpu / received)
            medians = {name: statistics.median(values) for name, values in costs.items()}
            for name, per_token in medians.items():
                print(f"   {streams:>3} streams  {name:<18} {per_token * 1e6:7.2f} us/token "
                      f"= {1 / per_token:9,.0f} chunks per CPU-second")
            others = [v for k, v in medians.items() if k != "wfdoctor"]
            if others:
                print(f"   {streams:>3} streams  ratio wfdoctor / best other: {medians['wfdoctor'] / min(others):.2f}x "
                      f"(target <= 0.5x)")


def accuracy(levels: list[int]) -> None:
    print("2. TTFT error vs the schedule (150 ms after the request arrives), ms")
    schedule = FakeConfig(ttft_s=0.150, itl_s=0.020, tokens=20)
    for streams in levels:
        for name, client in CLIENTS.items():
            with FakeLLMServer(schedule) as server:
                ttfts, _, _ = asyncio.run(run_level(client, server.base_url, streams, streams * 2, 20))
            errors = sorted((t - 0.150) * 1000 for t in ttfts)
            p99 = errors[min(len(errors) - 1, int(round(0.99 * (len(errors) - 1))))]
            print(f"   {streams:>3} streams  {name:<18} p50 {statistics.median(errors):6.2f}  p99 {p99:6.2f}  "
                  f"max {errors[-1]:6.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="fewer rounds and levels")
    args = parser.parse_args()
    if RequestSpec is None:
        print("servebench is not installed (pip install '.[bench]'): wfdoctor alone is measured")
    overhead(rounds=3 if args.quick else 7, tokens=2000)
    accuracy([1, 32] if args.quick else [1, 32, 128])


if __name__ == "__main__":
    main()
