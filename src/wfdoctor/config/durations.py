"""Prometheus durations (`30s`, `5m`, `1h30m`, `500ms`) as seconds.

Alert rules and routing use the units a Prometheus user writes, so a value copied
from a rules file or an `alertmanager.yml` means the same thing here.
"""

from __future__ import annotations

import re

_UNITS = {"y": 365 * 86400.0, "w": 7 * 86400.0, "d": 86400.0, "h": 3600.0, "m": 60.0, "s": 1.0, "ms": 0.001}
_PART = re.compile(r"(\d+)(ms|y|w|d|h|m|s)")
_WHOLE = re.compile(r"(?:\d+(?:ms|y|w|d|h|m|s))+")


def parse_duration(value: object) -> float:
    """Seconds from a Prometheus duration string, or from a plain number of seconds; ValueError otherwise."""
    if isinstance(value, bool):
        raise ValueError(f"{value!r} is not a duration (write e.g. 30s, 5m, 1h)")
    if isinstance(value, int | float):
        if value < 0:
            raise ValueError(f"{value} is negative; a duration is 0 or more")
        return float(value)
    if not isinstance(value, str) or not _WHOLE.fullmatch(value.strip()):
        raise ValueError(f"{value!r} is not a duration (write e.g. 30s, 5m, 1h)")
    return sum(int(count) * _UNITS[unit] for count, unit in _PART.findall(value.strip()))
