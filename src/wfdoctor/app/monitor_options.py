"""`wfdoctor monitor`'s options: schedules, retention, the web side, bounds; checked when they are made."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from wfdoctor.app.tokens import LOOPBACK_HOSTS
from wfdoctor.config.monitor import listen_address
from wfdoctor.model import WfdoctorError
from wfdoctor.sense.backends.discovery import checked_url

MIN_INTERVAL_S = 0.1


@dataclass(frozen=True)
class MonitorOptions:
    interval_s: float = 1.0
    process_interval_s: float = 5.0                  # the process list (culprits, leaks): most of a reading's cost
    server_interval_s: float = 10.0
    canary_interval_s: float | None = 600.0          # None: no canary
    backend_urls: list[str] = field(default_factory=list)
    rules_paths: list[Path] = field(default_factory=list)   # alert rule files over the shipped ones
    facts_path: Path | None = None
    config_path: Path | None = None
    apply: bool = False
    raw_retention_s: float = 86400.0
    aggregate_retention_s: float = 30 * 86400.0
    lookback_s: float = 300.0
    headless: bool = False
    listen: str = "127.0.0.1:8471"
    token: str | None = None
    otlp_endpoint: str | None = None                 # OTLP/HTTP metrics URL (the `otlp` extra); None: no export
    otlp_interval_s: float = 60.0
    queue_capacity: int = 100_000                    # samples waiting to be written; more is Overloaded
    series_capacity: int = 10_000                    # series held at once; a push adding more is refused
    retention_every_s: float = 600.0
    summary_every_s: float = 60.0                    # a "tick" summary event at most this often

    def __post_init__(self) -> None:
        """Usage errors surface when the options are made, before the lock or the store is touched."""
        if not self.interval_s >= MIN_INTERVAL_S:
            raise WfdoctorError(f"interval must be at least {MIN_INTERVAL_S} s, not {self.interval_s}")
        others = (self.server_interval_s, self.process_interval_s, self.otlp_interval_s, self.raw_retention_s, self.aggregate_retention_s, self.lookback_s,
                  self.retention_every_s, self.summary_every_s)
        if any(not value > 0 for value in others) or (self.canary_interval_s is not None
                                                      and not self.canary_interval_s > 0):
            raise WfdoctorError("intervals, retention and lookback must be above 0")
        if self.queue_capacity < 1:
            raise WfdoctorError("the write queue must hold at least 1 sample")
        for url in self.backend_urls:  # one that cannot be read would fail every probe, not the start
            checked_url(url)
        host, _ = listen_address(self.listen)
        if host not in LOOPBACK_HOSTS and not self.token:
            raise WfdoctorError(f"listening on {host} (not loopback) needs --token: anyone who reaches the port "
                                f"could push samples and read the machine's state")
