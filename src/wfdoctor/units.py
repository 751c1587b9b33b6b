"""Human-readable numbers with their units, used by findings and reports alike."""

from __future__ import annotations

import math

from wfdoctor.model import Sample

BINARY_STEPS = ("B", "KiB", "MiB", "GiB", "TiB")


def format_bytes(value: float) -> str:
    step = 0
    while abs(value) >= 1024 and step < len(BINARY_STEPS) - 1:
        value /= 1024
        step += 1
    return f"{value:.0f} {BINARY_STEPS[step]}" if step == 0 else f"{value:.1f} {BINARY_STEPS[step]}"


SIZE_UNITS = {"": 1, "b": 1, "kb": 1e3, "mb": 1e6, "gb": 1e9, "tb": 1e12, "kib": 2**10, "mib": 2**20,
              "gib": 2**30, "tib": 2**40}


def parse_size(text: str) -> int:
    """'8GiB', '6.5 GB', '512MiB' or plain bytes -> bytes; ValueError when unreadable."""
    stripped = text.strip().lower().replace(" ", "")
    number = stripped.rstrip("kmgtib")
    unit = stripped[len(number):]
    try:
        size = float(number) * SIZE_UNITS[unit]
    except (KeyError, ValueError):
        raise ValueError(f"'{text}': expected a size such as 8GiB, 6.5GB or 512MiB") from None
    if not math.isfinite(size):
        raise ValueError(f"'{text}': not a finite size")
    return int(size)


def format_value(value: float, unit: str) -> str:
    """`value` in `unit`, shown the way a person reads it."""
    if unit == "ratio":
        return f"{value:.1%}"
    if unit == "bytes":
        return format_bytes(value)
    if unit == "bytes/s":
        return f"{format_bytes(value)}/s"
    if unit == "bytes/min":
        return f"{format_bytes(value)}/min"
    if unit == "factor":
        return f"{value:.2f}"
    if unit == "cores":
        return f"{value:.2f} cores"
    if unit == "Hz":
        return f"{value / 1e6:.0f} MHz"
    if unit in ("s", "seconds"):
        return f"{value * 1000:.0f} ms" if abs(value) < 1 else f"{value:.2f} s"
    if value == int(value):
        return f"{value:.0f} {unit}"
    return f"{value:.2f} {unit}"


# Labels that identify what a sample is about, most specific first.
SUBJECT_LABELS = ("path", "core", "gpu", "device", "pid", "sensor")


def subject(sample: Sample) -> str:
    """What a sample measures, e.g. `pid 412 python3`, `core 1`, `/data`."""
    labels = sample.labels
    if "pid" in labels:
        name = labels.get("process") or labels.get("name", "?")
        return f"{name} (pid {labels['pid']})"
    if "gpu" in labels:
        return f"GPU {labels['gpu']} ({labels.get('name', '?')})"
    if "page" in labels:  # a browser page's frames (wf-perf-monitor.js): which statistic, which script
        return " ".join(filter(None, [f"page {labels['page']}", labels.get("stat", ""), labels.get("script", "")]))
    if "concurrency" in labels:
        return " ".join(filter(None, [f"concurrency {labels['concurrency']}", labels.get("stat", "")]))
    for key in SUBJECT_LABELS:
        if key in labels:
            return labels[key]
    return ""
