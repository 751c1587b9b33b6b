"""What `wfdoctor monitor` and `wfdoctor alerts` show.

The monitor: a Rich Live panel (machine, servers, active alerts, recent actions and events) in the
foreground, or one JSON object per event on stderr with `--headless` (for journald, a log shipper
or a test). `wfdoctor alerts list`: a table, or the `wfdoctor.alerts/v1` JSON document.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import TextIO

from pydantic import BaseModel
from rich.console import Console, Group, RenderableType
from rich.table import Table
from rich.text import Text

from wfdoctor.app.reports.monitor import AlertEvent, AlertsReport, MonitorEvent, MonitorSnapshot, Silence
from wfdoctor.model import Sample
from wfdoctor.surface.views.common import Document, iso, schema_field
from wfdoctor.surface.views.safe import plain, shown
from wfdoctor.units import format_value

SCHEMA_ID = "wfdoctor.alerts/v1"
RECENT_EVENTS = 8
# logger -> (event kind, lowest level shown): the `log` receiver (act/receivers.py), the OTLP exporter
LIBRARY_LOGGERS = {"wfdoctor.alerts": ("notify", logging.INFO), "opentelemetry": ("error", logging.WARNING)}
LIVE_REFRESH_S = 1.0
# The machine panel: (label, metric) of the numbers worth a glance, as the registry names them.
MACHINE_ROWS = (("CPU busy", "wf_cpu_utilization_ratio"), ("memory used", "wf_memory_used_ratio"),
                ("memory available", "wf_memory_available_bytes"), ("swap used", "wf_swap_used_bytes"),
                ("GPU busy", "wf_gpu_utilization_ratio"), ("GPU memory", "wf_gpu_memory_used_ratio"),
                ("GPU temperature", "wf_gpu_temperature_celsius"))


class HeadlessLog:
    """`--headless`: every event as one JSON object on a line of stderr (tick summaries come at a low rate)."""

    def __init__(self, stream: TextIO | None = None) -> None:
        self._stream = stream or sys.stderr

    def event(self, event: MonitorEvent) -> None:
        line = {"ts": iso(event.ts), "event": event.kind, "message": event.message, **event.fields}
        self._stream.write(json.dumps(line, default=str) + "\n")
        self._stream.flush()

    def tick(self, snapshot: Callable[[], MonitorSnapshot]) -> None:
        return None


class EventLog(logging.Handler):
    """Log records of the libraries the monitor runs as events of the monitor's own output.

    Without it Python's last-resort handler wrote them as bare text on stderr: the `log` receiver's
    firing notifications and OpenTelemetry's export failures broke the JSON lines of --headless and
    were drawn over the live view (group labels are pushed text, unescaped), and the resolved
    notifications (below WARNING) were dropped."""

    def __init__(self, observer: HeadlessLog | LiveView, kind: str, level: int) -> None:
        super().__init__(level)
        self._observer = observer
        self._kind = kind

    def emit(self, record: logging.LogRecord) -> None:
        self._observer.event(MonitorEvent(self._kind, record.created, f"{record.name}: {record.getMessage()}"
                                          if self._kind == "error" else record.getMessage()))


@contextmanager
def library_logs_to(observer: HeadlessLog | LiveView) -> Iterator[None]:
    """While the monitor runs, those loggers write through `observer`, and only there."""
    saved = []
    for name, (kind, level) in LIBRARY_LOGGERS.items():
        logger = logging.getLogger(name)
        handler = EventLog(observer, kind, level)
        saved.append((logger, handler, logger.propagate, logger.level))
        logger.addHandler(handler)
        logger.propagate, logger.level = False, level
    try:
        yield
    finally:
        for logger, handler, propagate, level in saved:
            logger.removeHandler(handler)
            logger.propagate, logger.level = propagate, level


class LiveView:
    """The foreground panel, redrawn at most once a second from the monitor's snapshot."""

    def __init__(self, console: Console) -> None:
        from rich.live import Live

        self._live = Live(console=console, auto_refresh=False, transient=False)
        self._events: deque[MonitorEvent] = deque(maxlen=RECENT_EVENTS)
        self._drawn_at = 0.0

    def __enter__(self) -> LiveView:
        self._live.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self._live.__exit__(None, None, None)

    def event(self, event: MonitorEvent) -> None:
        if event.kind != "tick":
            self._events.appendleft(event)

    def tick(self, snapshot: Callable[[], MonitorSnapshot]) -> None:
        now = time.monotonic()
        if now - self._drawn_at >= LIVE_REFRESH_S:
            self._drawn_at = now
            self._live.update(panel(snapshot(), list(self._events)), refresh=True)


def panel(view: MonitorSnapshot, events: list[MonitorEvent]) -> RenderableType:
    samples = view.samples
    machine = Table(title="Machine", show_header=False, box=None)
    for label, metric in MACHINE_ROWS:
        for sample in _of(samples, metric):
            where = f" gpu {sample.labels['gpu']}" if "gpu" in sample.labels else ""
            machine.add_row(label + where, format_value(sample.value, sample.unit))
    servers = Table(title="LLM servers", box=None)
    for column in ("server", "state", "models loaded"):
        servers.add_column(column)
    for up in _of(samples, "wf_llm_server_up"):
        url = up.labels.get("url", "?")
        models = [s.labels.get("model", "?") for s in _of(samples, "wf_llm_model_loaded_bytes")
                  if s.labels.get("url") == url]
        servers.add_row(shown(url), "up" if up.value else Text("DOWN", style="bold red"), shown(", ".join(models)))
    alerts = Table(title="Active alerts", box=None)
    for column in ("alert", "state", "severity", "value", "summary"):
        alerts.add_column(column)
    for alert in view.alerts:
        alerts.add_row(shown(alert.name), alert.state.value, alert.severity,
                       "" if alert.value is None else f"{alert.value:.4g}", shown(alert.annotations.get("summary", "")))
    actions = Table(title="Recent actions", box=None)
    for column in ("level", "action", "target", "applied", "outcome"):
        actions.add_column(column)
    for action in view.actions[:RECENT_EVENTS]:
        actions.add_row(action.level, shown(action.kind), shown(action.target), "yes" if action.applied else "dry run",
                        shown(action.outcome or action.error))
    lines = [Text(f"{event.kind}: {plain(event.message)}", style="red" if event.kind == "error" else "dim")
             for event in events]
    return Group(machine, servers, alerts, actions, *lines)


def _of(samples: Iterable[Sample], metric: str) -> list[Sample]:
    return sorted((s for s in samples if s.metric == metric), key=lambda s: sorted(s.labels.items()))


# --- wfdoctor alerts list ---
class AlertDoc(BaseModel):
    name: str
    state: str
    severity: str
    fingerprint: str
    labels: dict[str, str]
    annotations: dict[str, str]
    value: float | None
    active_at: str | None
    at: str | None
    run_id: int | None


class SilenceDoc(BaseModel):
    id: int
    matchers: list[str]
    created_at: str | None
    ends_at: str | None
    expired_at: str | None
    comment: str
    created_by: str


class AlertsDocument(Document):
    schema_id: str = schema_field(SCHEMA_ID)
    scope: str
    alerts: list[AlertDoc]
    silences: list[SilenceDoc]


def silence_doc(s: Silence) -> SilenceDoc:
    return SilenceDoc(id=s.id, matchers=list(s.matchers), created_at=iso(s.created_at), ends_at=iso(s.ends_at),
                      expired_at=iso(s.expired_at), comment=s.comment, created_by=s.created_by)


def _alert_doc(a: AlertEvent) -> AlertDoc:
    return AlertDoc(name=a.name, state=a.state, severity=a.severity, fingerprint=a.fingerprint, labels=a.labels,
                    annotations=a.annotations, value=a.value, active_at=iso(a.active_at), at=iso(a.ts),
                    run_id=a.run_id)


def alerts_document(report: AlertsReport) -> AlertsDocument:
    return AlertsDocument(scope=report.scope, alerts=[_alert_doc(a) for a in report.alerts],
                          silences=[silence_doc(s) for s in report.silences])


def render_alerts(report: AlertsReport, console: Console) -> None:
    what = {"current": "pending or firing", "all": "last state of every alert", "history": "every transition"}
    if not report.alerts:
        console.print(f"No alerts ({what[report.scope]}) in {report.database}.", highlight=False, markup=False)
    for a in report.alerts:
        console.print(plain(f"{iso(a.ts)}  {a.state:<8} {a.severity or '-':<8} {a.name}  "
                            f"{json.dumps(a.labels, sort_keys=True)}  {a.annotations.get('summary', '')}"),
                      highlight=False, markup=False, soft_wrap=True)
    for s in report.silences:
        console.print(silence_line(s), highlight=False, markup=False, soft_wrap=True)


def silence_line(s: Silence) -> str:
    """One line; the matchers and the comment are whoever made the silence's text, so escaped."""
    state = " (ended)" if s.expired_at is not None else ""
    return plain(f"silence {s.id}: {' '.join(s.matchers)} until {iso(s.ends_at)}{state}"
                 + (f"  ({s.comment})" if s.comment else ""))
