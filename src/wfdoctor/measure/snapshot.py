"""A system snapshot over a short window: CPU, memory, disks, processes, GPUs.

Rates need two readings; the window between them is spent waiting (or doing
other probing, such as server discovery, passed in as `during`), never busy.
"""

from __future__ import annotations

import asyncio
import os
import platform
import socket
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import psutil

from wfdoctor.model import Sample
from wfdoctor.sense.gpu_nvml import GpuReport, probe_gpus
from wfdoctor.sense.system import SystemProbe

T = TypeVar("T")


@dataclass
class Snapshot:
    samples: list[Sample]
    gpu: GpuReport
    window_s: float
    environment: dict[str, Any] = field(default_factory=dict)


def environment_fingerprint() -> dict[str, Any]:
    """What machine and software a run measured, for comparing runs later."""
    from wfdoctor._version import __version__

    return {
        "hostname": socket.gethostname(),
        "os": f"{platform.system()} {platform.release()}",
        "machine": platform.machine(),
        "cpu_model": _cpu_model(),
        "python": sys.version.split()[0],
        "wfdoctor": __version__,
        "psutil": psutil.__version__,
    }


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as handle:
            for line in handle:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


async def take_snapshot(window_s: float, paths: dict[str, Path], top: int = 5,
                        during: Callable[[], Awaitable[T]] | None = None) -> tuple[Snapshot, T | None]:
    """Read, wait `window_s` (running `during` meanwhile), read again, then read GPUs."""
    probe = SystemProbe(paths={name: path for name, path in paths.items() if path.exists()}, top=top)
    started = time.monotonic()
    probe.read()
    task = asyncio.ensure_future(during()) if during else None
    await asyncio.sleep(window_s)
    samples = probe.read(slow=True)
    extra = await task if task else None
    elapsed = time.monotonic() - started
    names = {int(s.labels["pid"]): s.labels["name"] for s in samples if "pid" in s.labels}
    gpu = probe_gpus(names)
    return Snapshot(samples + gpu.samples, gpu, elapsed, environment_fingerprint()), extra


def default_paths(db_path: Path, model_dirs: list[Path]) -> dict[str, Path]:
    """The directories whose disks matter: wfdoctor's data and the model stores."""
    paths = {"data": db_path.parent}
    for index, directory in enumerate(model_dirs):
        paths[f"models{index or ''}"] = directory
    ollama_models = Path(os.environ.get("OLLAMA_MODELS", Path.home() / ".ollama" / "models"))
    paths.setdefault("ollama_models", ollama_models)
    return paths
