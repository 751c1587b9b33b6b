"""Memory bandwidth: the physical limit of token decoding.

Each decoded token reads (about) every weight once, so tokens/s can never
exceed bandwidth / model bytes. CPU bandwidth is measured here with a short
streaming read (NumPy reductions over a buffer far larger than the caches, one
thread per core, since NumPy releases the GIL inside them). GPU bandwidth comes
from NVML's memory clock and bus width (double data rate).
"""

from __future__ import annotations

import os
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Bandwidth:
    bytes_per_second: float
    source: str
    detail: str


def cpu_read_bandwidth(buffer_mib: int = 512, repeats: int = 5, threads: int | None = None) -> Bandwidth:
    """Best-of-`repeats` aggregate read bandwidth with one reader per core."""
    import numpy as np  # here, not at the top: only this measurement needs it (a 70 ms import, analyze/quantiles.py)

    threads = threads or os.cpu_count() or 1
    per_thread = max(buffer_mib // threads, 16) * 1024 * 1024 // 8
    blocks = [np.ones(per_thread, dtype=np.float64) for _ in range(threads)]
    total_bytes = sum(block.nbytes for block in blocks)
    best = float("inf")
    with ThreadPoolExecutor(max_workers=threads) as pool:
        list(pool.map(np.sum, blocks))  # fault the pages in, warm the threads
        for _ in range(repeats):
            start = time.perf_counter_ns()
            list(pool.map(np.sum, blocks))
            best = min(best, (time.perf_counter_ns() - start) / 1e9)
    return Bandwidth(total_bytes / best, "streaming read (numpy.sum)",
                     f"{threads} threads over {total_bytes / 2**20:.0f} MiB, best of {repeats}")


def gpu_bandwidth(device: dict[str, Any]) -> Bandwidth | None:
    """Peak bandwidth of an NVIDIA GPU from its NVML reading (max memory clock x bus width x 2)."""
    clock = device.get("clock_memory_max_mhz")
    width = device.get("memory_bus_width_bits")
    if not clock or not width:
        return None
    return Bandwidth(clock * 1e6 * 2 * width / 8, "nvml (memory clock x bus width x 2)",
                     f"{device.get('name', 'GPU')}: {clock} MHz, {width}-bit bus")
