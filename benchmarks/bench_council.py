"""Council runner overhead: 16 members on the fake server with a known schedule.

Wall time against the schedule's ideal (the slowest member's TTFT + (tokens - 1)
x ITL, every member served at once), and the runner's CPU per member-token
against a single stream measured by the token client in the same run.
Targets: wall within 5 % of ideal; runner CPU per member-token <= the single
stream's.

Usage: .venv/bin/python benchmarks/bench_council.py
"""

from __future__ import annotations

import asyncio
import statistics
import time

from wfdoctor.measure.council import MemberSpec, run_council
from wfdoctor.sense.backends.base import GenerationRequest
from wfdoctor.sense.backends.client import connect
from wfdoctor.testing.fake_llm import FakeConfig, FakeLLMServer

MEMBERS = 16
TOKENS = 100
SCHEDULE = FakeConfig(ttft_s=0.100, itl_s=0.010, tokens=TOKENS)
IDEAL_S = SCHEDULE.ttft_s + (TOKENS - 1) * SCHEDULE.itl_s


async def council_once(url: str) -> tuple[float, float, int]:
    """(wall s, runner CPU s, member-tokens) for one council of MEMBERS."""
    members = [MemberSpec(f"m{i}", url) for i in range(MEMBERS)]
    backends = [await connect(url, None, 30.0, 2) for _ in members]
    try:
        request = GenerationRequest("hi", max_tokens=TOKENS)
        await asyncio.gather(*(b.stream(GenerationRequest("hi", max_tokens=2)) for b in backends))  # warm
        cpu = time.process_time()
        council = await run_council(members, backends, request, timeout_s=5.0, retries=0)
        cpu = time.process_time() - cpu
    finally:
        for backend in backends:
            await backend.aclose()
    tokens = sum(len(run.answer.pieces) for run in council.members if run.answer)
    return council.wall_s, cpu, tokens


async def single_once(url: str) -> tuple[float, int]:
    backend = await connect(url, None, 30.0, 1)
    try:
        await backend.stream(GenerationRequest("hi", max_tokens=2))
        cpu = time.process_time()
        trace = await backend.stream(GenerationRequest("hi", max_tokens=TOKENS))
        return time.process_time() - cpu, len(trace.pieces)
    finally:
        await backend.aclose()


def main() -> None:
    walls, council_cpu, single_cpu = [], [], []
    with FakeLLMServer(SCHEDULE) as server:
        for _ in range(5):
            wall, cpu, tokens = asyncio.run(council_once(server.base_url))
            walls.append(wall)
            council_cpu.append(cpu / tokens)
            cpu, tokens = asyncio.run(single_once(server.base_url))
            single_cpu.append(cpu / tokens)
    wall = statistics.median(walls)
    print(f"council of {MEMBERS}, schedule TTFT {SCHEDULE.ttft_s * 1000:.0f} ms + {TOKENS - 1} x "
          f"{SCHEDULE.itl_s * 1000:.0f} ms: ideal {IDEAL_S:.3f} s")
    print(f"wall (median of 5) {wall:.3f} s = {wall / IDEAL_S - 1:+.1%} vs ideal (target within 5 %)")
    council_us, single_us = statistics.median(council_cpu) * 1e6, statistics.median(single_cpu) * 1e6
    print(f"runner CPU per member-token {council_us:.1f} us vs single stream {single_us:.1f} us: "
          f"ratio {council_us / single_us:.2f} (target <= 1)")


if __name__ == "__main__":
    main()
