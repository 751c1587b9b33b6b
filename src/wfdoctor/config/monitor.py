"""The user's monitor config file (`--config`, default ~/.config/wfdoctor/monitor.yaml; optional).

One YAML file with three sections: `monitor:` (intervals, retention, canary, listen address,
backends, rule files), `routing:` and `recovery:`. The monitor section is validated here
(unknown keys are errors, with file:line); `routing:` and `recovery:` are kept as raw data with
the line they start at, for `parse_routing` and `parse_recovery_settings`, which own their shape.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

from pydantic import ValidationError, field_validator

from wfdoctor.config.durations import format_duration, parse_duration
from wfdoctor.config.promql import MAX_RANGE_S
from wfdoctor.config.yamlfile import Strict, describe_validation_error, line_of, read_yaml
from wfdoctor.model import WfdoctorError



def duration_seconds(text: str | float | int) -> float:
    """A Prometheus duration (`30s`, `10m`, `1h30m`, `500ms`) or a plain number of seconds (`0.1`), in seconds."""
    try:
        seconds = float(text) if not isinstance(text, bool) else float("nan")
    except (ValueError, TypeError):  # TypeError: a YAML list or mapping, which parse_duration names
        seconds = parse_duration(text)
    if not seconds > 0 or seconds == float("inf"):
        raise ValueError(f"'{text}': a duration must be finite and above 0 (e.g. 30s, 10m, 1h, 500ms)")
    return seconds


def canary_seconds(text: str | float | int) -> float | None:
    """The canary interval: a duration, or `off` (None)."""
    return None if str(text).strip().lower() in ("off", "false", "none", "0") else duration_seconds(text)


def listen_address(listen: str) -> tuple[str, int]:
    """`HOST:PORT` (IPv6 hosts in brackets: `[::1]:8471`) -> (host, port)."""
    host, sep, port = listen.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 <= int(port) < 65536:
        raise WfdoctorError(f"listen address '{listen}': expected HOST:PORT, e.g. 127.0.0.1:8471 (port 0: any "
                            "free port)")
    return host.strip("[]"), int(port)


def http_url(text: str) -> str:
    """`text` when it is an http(s) URL with a host; ValueError naming what is wrong otherwise."""
    scheme, sep, rest = text.partition("://")
    if scheme.lower() not in ("http", "https") or not sep or not rest.split("/", 1)[0]:
        raise ValueError(f"'{text}' is not an http:// or https:// URL with a host")
    return text


class MonitorSettings(Strict):
    """The `monitor:` section; every field optional (the command's defaults and options fill the rest)."""

    interval: Optional[float] = None
    server_interval: Optional[float] = None
    process_interval: Optional[float] = None
    canary: Optional[str] = None           # a duration or "off"
    raw_retention: Optional[float] = None
    aggregate_retention: Optional[float] = None
    lookback: Optional[float] = None
    listen: Optional[str] = None
    backends: tuple[str, ...] = ()
    rules: tuple[Path, ...] = ()

    @field_validator("interval", "server_interval", "process_interval", "raw_retention", "aggregate_retention",
                     "lookback", mode="before")
    @classmethod
    def _duration(cls, value: Any) -> Any:
        return None if value is None else duration_seconds(value)

    @field_validator("lookback")
    @classmethod
    def _lookback(cls, value: Optional[float]) -> Optional[float]:
        if value is not None and value > MAX_RANGE_S:  # every series' points for the lookback stay in memory
            raise ValueError(f"a lookback of {format_duration(value)} is over "
                             f"{format_duration(MAX_RANGE_S)}: the monitor holds that much of every series in memory")
        return value

    @field_validator("canary", mode="before")
    @classmethod
    def _canary(cls, value: Any) -> Any:
        if value is None:
            return None
        canary_seconds(value)  # refuses what is neither a duration nor off
        return str(value)


class MonitorFile(Strict):
    monitor: MonitorSettings = MonitorSettings()
    routing: Optional[Any] = None
    recovery: Optional[Any] = None


@dataclass(frozen=True)
class MonitorConfig:
    """The file's content: the validated monitor section, and the raw routing and recovery sections with
    `file:line` of where each starts (for their parsers' error messages)."""

    path: Path | None
    monitor: MonitorSettings
    routing: object | None
    routing_where: str
    recovery: object | None
    recovery_where: str


def default_config_path() -> Path:
    config_home = Path(os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config")
    return config_home / "wfdoctor" / "monitor.yaml"


def load_monitor_config(path: Path | None) -> MonitorConfig:
    """Read `path` (named: must exist), else the default file where present, else an empty config."""
    if path is None:
        default = default_config_path()
        if not default.is_file():
            return MonitorConfig(None, MonitorSettings(), None, "", None, "")
        path = default
    data, node = read_yaml(path)
    if data is None:
        data = {}
    try:
        parsed = MonitorFile.model_validate(data)
    except ValidationError as exc:
        raise WfdoctorError(describe_validation_error(path, node, exc)) from None
    rules = tuple(p if p.is_absolute() else path.parent / p for p in parsed.monitor.rules)
    settings = parsed.monitor.model_copy(update={"rules": rules})
    return MonitorConfig(path, settings, parsed.routing, f"{path}:{line_of(node, ('routing',))}", parsed.recovery,
                         f"{path}:{line_of(node, ('recovery',))}")
