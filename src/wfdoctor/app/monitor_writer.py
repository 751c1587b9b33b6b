"""The monitor's write queue (samples wait here until the writer stores them in batches) and retention.

Bounded, so a flood of pushed samples is refused (`Overloaded`) instead of eating memory; every
sample it took is written before the monitor exits (the final flush drains it), which is what
"acknowledged" means to `accept`. A failed write (disk full, database locked by a long reader)
puts the batch back at the head, to be retried at the next flush.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Sequence

from wfdoctor.app.monitor_view import Overloaded
from wfdoctor.model import Sample
from wfdoctor.store.monitoring import MonitorStore

RETENTION_BATCH = 5000


class SampleQueue:
    """Thread-safe: the web server's handlers and the probes put, the writer takes."""

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self.accepted = 0
        self._items: list[Sample] = []
        self._lock = threading.Lock()
        self._closed = False

    def close(self) -> None:
        """Take nothing more: what is queued now is all the final flush must write."""
        with self._lock:
            self._closed = True

    def put(self, samples: Sequence[Sample]) -> None:
        """Take all of `samples` or none (Overloaded when they do not fit)."""
        with self._lock:
            if self._closed:
                raise Overloaded("the monitor is stopping; send to the next one")
            if len(self._items) + len(samples) > self.capacity:
                raise Overloaded(f"the monitor's write queue is full ({self.capacity} samples); retry later")
            self._items.extend(samples)
            self.accepted += len(samples)

    def take(self, limit: int) -> list[Sample]:
        """Up to `limit` of the oldest samples (removed from the queue)."""
        with self._lock:
            batch, self._items = self._items[:limit], self._items[limit:]
            return batch

    def give_back(self, batch: Sequence[Sample]) -> None:
        """A batch that could not be written goes back to the head (capacity is not checked: it was taken)."""
        with self._lock:
            self._items[:0] = batch

    def __len__(self) -> int:
        with self._lock:
            return len(self._items)


async def retention_pass(store: MonitorStore, now: float, raw_retention_s: float,
                         aggregate_retention_s: float) -> tuple[int, int]:
    """Fold raw monitor samples older than the raw retention into per-minute aggregates, a small
    transaction at a time (yielding to the loop between), then drop aggregates past their retention.
    Returns (samples folded, aggregates dropped)."""
    folded = 0
    while (done := store.fold_old_samples(now - raw_retention_s, RETENTION_BATCH)) > 0:
        folded += done
        await asyncio.sleep(0)
    return folded, store.drop_old_aggregates(now - aggregate_retention_s)
