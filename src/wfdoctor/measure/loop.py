"""The event loop measurements run on: asyncio's, with wake-ups gathered during a flood of reads.

Every time the loop sleeps and a read wakes it, the kernel charges the client
for the switch: tens of µs of system time a wake-up on a small VM, more than
reading and parsing a token costs (benchmarks/bench_token_client.py). When
tokens flood in (wake-ups with reads less than FLOOD_GAP_S apart, thousands
of tokens a second across the streams), the loop waits GATHER_S before it
polls again, and reads everything that came meanwhile in one wake-up.

The price is bounded and only paid in a flood: a read is stamped at most
GATHER_S late (token times are read times). A loop with work to do, or one
that has been idle, polls at once, so the first token after a prefill is
never held back. Timers are never delayed past their time.
"""

from __future__ import annotations

import asyncio
import selectors
import time
from collections.abc import Coroutine
from typing import Any, TypeVar

T = TypeVar("T")

FLOOD_GAP_S = 0.0002   # wake-ups with reads closer than this: a flood
GATHER_S = 0.001       # how long a flood is gathered before the next poll


class GatheringSelector(selectors.DefaultSelector):  # type: ignore[misc,valid-type]
    """The platform's selector, which waits out GATHER_S after a wake-up that came in a flood."""

    def __init__(self) -> None:
        super().__init__()
        self._last_wake = 0.0
        self._flooding = False

    def select(self, timeout: float | None = None) -> list[tuple[selectors.SelectorKey, int]]:
        if self._flooding and (timeout is None or timeout > 0):
            wait = GATHER_S - (time.monotonic() - self._last_wake)
            if wait > 0:
                wait = wait if timeout is None else min(wait, timeout)
                time.sleep(wait)
                timeout = None if timeout is None else timeout - wait
        ready = super().select(timeout)
        now = time.monotonic()
        gap = FLOOD_GAP_S + (GATHER_S if self._flooding else 0.0)  # a gathered wake-up comes GATHER_S later
        self._flooding = bool(ready) and now - self._last_wake < gap
        self._last_wake = now
        return ready


def gathering_loop() -> asyncio.AbstractEventLoop:
    return asyncio.SelectorEventLoop(GatheringSelector())


def run_measured(coroutine: Coroutine[Any, Any, T]) -> T:
    """`asyncio.run(coroutine)` on the gathering loop (Ctrl-C handled as asyncio.run handles it)."""
    with asyncio.Runner(loop_factory=gathering_loop) as runner:
        return runner.run(coroutine)
