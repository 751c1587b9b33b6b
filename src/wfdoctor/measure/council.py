"""The council runner: several members answer one prompt at once.

Each member streams on its own backend (possibly the same server as another
member). A member that has not started answering within `timeout_s` is
cancelled and retried, up to `retries` times, then counted as failed; the
others carry on. With an agreement test and a quorum, the council stops the
outstanding members as soon as enough answers agree. Cancellation is clean:
every task is awaited and every connection released before returning.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from wfdoctor.measure.agreement import Agreement, quorum_group
from wfdoctor.measure.tokens import answer_error
from wfdoctor.sense.backends.base import BackendStatus, GenerationRequest, ServerView, StreamTrace
from wfdoctor.sense.backends.client import Backend


@dataclass(frozen=True)
class MemberSpec:
    """A council member: a server URL and a model (None: the server's first)."""

    name: str
    url: str
    model: str | None = None


@dataclass
class MemberRun:
    spec: MemberSpec
    attempts: list[StreamTrace] = field(default_factory=list)
    status: str = "pending"   # "ok", "failed" or "cancelled"
    error: str = ""

    @property
    def retries(self) -> int:
        return max(len(self.attempts) - 1, 0)

    @property
    def answer(self) -> StreamTrace | None:
        return self.attempts[-1] if self.status == "ok" else None


@dataclass
class CouncilRun:
    members: list[MemberRun]
    started_ns: int
    ended_ns: int = 0
    consensus_ns: int | None = None
    consensus: list[str] = field(default_factory=list)  # names of the members that agreed

    @property
    def wall_s(self) -> float:
        return (self.ended_ns - self.started_ns) / 1e9


Progress = Callable[[str, str], None]  # (member name, event)


@dataclass
class Unreachable:
    """A member's server that could not be probed within the member timeout.

    It stands in for the backend, so the member fails like one that never
    answers (with the probe's error) while the others still make a council:
    one dead member is a finding about the council, not a reason to measure nothing.
    """

    url: str
    error: str
    protocol: str = "unknown"
    implementation: str = "unknown"
    model: str = ""
    model_file: str | None = None
    server_pid: int | None = None

    @property
    def status(self) -> BackendStatus:
        return BackendStatus(url=self.url, kind=self.protocol, answered=False, error=self.error)

    async def stream(self, request: GenerationRequest, answered: asyncio.Event | None = None) -> StreamTrace:
        now = time.perf_counter_ns()
        return StreamTrace(sent_ns=now, done_ns=now, error=self.error)

    async def count_tokens(self, text: str) -> int | None:
        return None

    async def server_view(self) -> ServerView | None:
        return None

    async def aclose(self) -> None:
        return None


async def _attempt(backend: Backend, request: GenerationRequest, timeout_s: float) -> StreamTrace:
    """One try: cancelled when no body bytes arrive within `timeout_s`."""
    answered = asyncio.Event()
    started = time.perf_counter_ns()
    task = asyncio.create_task(backend.stream(request, answered))
    waiter = asyncio.create_task(answered.wait())
    done, _ = await asyncio.wait({task, waiter}, timeout=timeout_s, return_when=asyncio.FIRST_COMPLETED)
    waiter.cancel()
    await asyncio.gather(waiter, return_exceptions=True)
    if not done:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        return StreamTrace(sent_ns=started, done_ns=time.perf_counter_ns(),
                           error=f"no answer within {timeout_s:g} s (timeout)")
    return await task


async def _member(run: MemberRun, backend: Backend, request: GenerationRequest, timeout_s: float, retries: int,
                  progress: Progress) -> MemberRun:
    for attempt in range(retries + 1):
        progress(run.spec.name, "started" if attempt == 0 else f"retry {attempt}")
        trace = await _attempt(backend, request, timeout_s)
        run.attempts.append(trace)
        error = answer_error(trace)  # an empty answer is retried like a failed one
        if not error:
            run.status = "ok"
            progress(run.spec.name, "done")
            return run
        run.error = error
    run.status = "failed"
    progress(run.spec.name, "failed")
    return run


async def warm_up(backends: list[Backend], request: GenerationRequest, timeout_s: float) -> dict[str, str]:
    """One request per server (not per member), each bounded like a member's try; the failures by URL.

    A server that fails its warm-up is still measured: its members then fail on their own.
    """
    failed = {}
    for backend in {b.url: b for b in backends}.values():
        trace = await _attempt(backend, request, timeout_s)
        if trace.error:
            failed[backend.url] = trace.error
    return failed


async def run_council(members: list[MemberSpec], backends: list[Backend], request: GenerationRequest,
                      timeout_s: float = 5.0, retries: int = 3, agreement: Agreement | None = None,
                      quorum: int = 0, progress: Progress = lambda name, event: None) -> CouncilRun:
    """Run every member at once; stop early once `quorum` answers agree (if asked)."""
    runs = [MemberRun(spec) for spec in members]
    council = CouncilRun(runs, started_ns=time.perf_counter_ns())
    tasks = {asyncio.create_task(_member(run, backend, request, timeout_s, retries, progress)): run
             for run, backend in zip(runs, backends)}
    pending = set(tasks)
    try:
        while pending:
            done, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
            if agreement is None or quorum <= 0:
                continue
            answers = {run.spec.name: run.answer.text for run in runs if run.answer is not None}
            group = quorum_group(answers, agreement, quorum)
            if group:
                council.consensus_ns = time.perf_counter_ns()
                council.consensus = group
                break
    finally:
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)
        for task in pending:
            if tasks[task].status == "pending":
                tasks[task].status = "cancelled"
                progress(tasks[task].spec.name, "cancelled (consensus reached)")
        council.ended_ns = time.perf_counter_ns()
    return council


async def run_sequentially(members: list[MemberSpec], backends: list[Backend], request: GenerationRequest,
                           timeout_s: float, retries: int) -> CouncilRun:
    """The same members one after another: the measured baseline for the speed-up."""
    runs = [MemberRun(spec) for spec in members]
    council = CouncilRun(runs, started_ns=time.perf_counter_ns())
    for run, backend in zip(runs, backends):
        await _member(run, backend, request, timeout_s, retries, lambda name, event: None)
    council.ended_ns = time.perf_counter_ns()
    return council
