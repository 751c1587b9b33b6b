"""Prometheus durations (`30s`, `5m`, `1h30m`, `500ms`) as seconds, and back.

Alert rules, PromQL range selectors and routing use the units a Prometheus user writes, so a
value copied from a rules file or an `alertmanager.yml` means the same thing here. One parser
for all of them: units largest first, as Prometheus requires.
"""

from __future__ import annotations

import re

UNITS = {"y": 31536000.0, "w": 604800.0, "d": 86400.0, "h": 3600.0, "m": 60.0, "s": 1.0, "ms": 0.001}
DURATION = re.compile(r"^(?:(\d+)y)?(?:(\d+)w)?(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?(?:(\d+)ms)?$")


def parse_duration(value: object) -> float:
    """Seconds from a Prometheus duration string, or from a plain number of seconds; ValueError otherwise."""
    if isinstance(value, bool):
        raise ValueError(f"{value!r} is not a duration (write e.g. 30s, 5m, 1h)")
    if isinstance(value, int | float):
        if value < 0:
            raise ValueError(f"{value} is negative; a duration is 0 or more")
        return float(value)
    text = value.strip() if isinstance(value, str) else ""
    match = DURATION.match(text)
    if not text or match is None:
        raise ValueError(f"{value!r} is not a duration (write e.g. 30s, 5m, 1h)")
    return sum(int(part) * UNITS[unit] for part, unit in zip(match.groups(), UNITS) if part)


def format_duration(seconds: float) -> str:
    """Seconds as the shortest Prometheus duration that states them exactly (`300.0` -> `5m`)."""
    for unit, size in UNITS.items():
        count = seconds / size
        if count >= 1 and abs(count - round(count)) < 1e-9:
            return f"{round(count)}{unit}"
    return "0s"
