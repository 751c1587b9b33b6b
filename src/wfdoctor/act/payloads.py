"""The JSON documents receivers get, in Alertmanager's and Prometheus' own shapes.

A webhook receiver written for Alertmanager (version "4" payload) and a real
Alertmanager (`POST /api/v2/alerts`, the postable alerts Prometheus sends) must take
what wfdoctor sends without glue, so these builders follow those documents field by
field. Pure: alerts and a time in, JSON-ready data out.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TypedDict

from wfdoctor.model import Alert, AlertState

WEBHOOK_VERSION = "4"
ZERO_TIME = "0001-01-01T00:00:00Z"  # Go's zero time: how Alertmanager writes "no end yet"
ALERTS_PATH = "/api/v2/alerts"


class WebhookAlert(TypedDict):
    status: str
    labels: dict[str, str]
    annotations: dict[str, str]
    startsAt: str
    endsAt: str
    generatorURL: str
    fingerprint: str


class WebhookPayload(TypedDict):
    version: str
    groupKey: str
    truncatedAlerts: int
    status: str
    receiver: str
    groupLabels: dict[str, str]
    commonLabels: dict[str, str]
    commonAnnotations: dict[str, str]
    externalURL: str
    alerts: list[WebhookAlert]


class PostableAlert(TypedDict, total=False):
    labels: dict[str, str]
    annotations: dict[str, str]
    startsAt: str
    endsAt: str
    generatorURL: str


@dataclass(frozen=True)
class Notification:
    """One message about one alert group to one receiver: what every receiver is handed."""

    receiver: str
    group_key: str  # Alertmanager's: route key, ':', the group labels
    group_labels: dict[str, str]
    alerts: tuple[Alert, ...]
    ts: float
    external_url: str = ""

    @property
    def status(self) -> str:
        """`firing` while any alert of the group fires, as Alertmanager reports a group."""
        return "firing" if any(alert.state is AlertState.FIRING for alert in self.alerts) else "resolved"


def rfc3339(ts: float) -> str:
    """UTC, millisecond precision, `Z` suffix: the form Alertmanager and Prometheus write."""
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def group_key(route_key: str, group_labels: Mapping[str, str]) -> str:
    """Alertmanager's group key, e.g. `{}/{severity="critical"}:{alertname="HighMemory"}`."""
    labels = ", ".join(f'{name}="{value}"' for name, value in sorted(group_labels.items()))
    return f"{route_key}:{{{labels}}}"


def _status(alert: Alert) -> str:
    return "resolved" if alert.state is AlertState.RESOLVED else "firing"


def _starts_at(alert: Alert) -> float:
    return alert.fired_at if alert.fired_at is not None else alert.active_at


def _common(maps: Sequence[Mapping[str, str]]) -> dict[str, str]:
    """The pairs every map has with the same value."""
    if not maps:
        return {}
    return {key: value for key, value in maps[0].items() if all(other.get(key) == value for other in maps[1:])}


def generator_url(external_url: str) -> str:
    """Where a person sees the alert: the monitor's alert list, when its address is known."""
    return f"{external_url.rstrip('/')}/api/alerts" if external_url else ""


def webhook_alert(alert: Alert, external_url: str) -> WebhookAlert:
    ended = alert.resolved_at if alert.state is AlertState.RESOLVED else None
    return WebhookAlert(status=_status(alert), labels=dict(alert.labels), annotations=dict(alert.annotations),
                        startsAt=rfc3339(_starts_at(alert)), endsAt=ZERO_TIME if ended is None else rfc3339(ended),
                        generatorURL=generator_url(external_url), fingerprint=alert.fingerprint)


def webhook_payload(notification: Notification, max_alerts: int = 0) -> WebhookPayload:
    """Alertmanager's webhook body; `max_alerts` > 0 keeps that many and counts the rest in truncatedAlerts."""
    alerts = notification.alerts
    kept = alerts[:max_alerts] if max_alerts else alerts
    return WebhookPayload(
        version=WEBHOOK_VERSION, groupKey=notification.group_key, truncatedAlerts=len(alerts) - len(kept),
        status=notification.status, receiver=notification.receiver, groupLabels=dict(notification.group_labels),
        commonLabels=_common([alert.labels for alert in alerts]),
        commonAnnotations=_common([alert.annotations for alert in alerts]),
        externalURL=notification.external_url,
        alerts=[webhook_alert(alert, notification.external_url) for alert in kept])


def postable_alerts(alerts: Sequence[Alert], now: float, valid_for_s: float,
                    external_url: str = "") -> list[PostableAlert]:
    """The `POST /api/v2/alerts` body, as Prometheus sends it.

    A firing alert ends `valid_for_s` from now unless re-sent (Prometheus sends four
    resend intervals), so Alertmanager resolves it by itself if wfdoctor stops; a
    resolved alert ends when it resolved, which is how Alertmanager learns it is over.
    """
    body: list[PostableAlert] = []
    for alert in alerts:
        ends = alert.resolved_at if alert.state is AlertState.RESOLVED and alert.resolved_at else now + valid_for_s
        item = PostableAlert(labels=dict(alert.labels), annotations=dict(alert.annotations),
                             startsAt=rfc3339(_starts_at(alert)), endsAt=rfc3339(ends))
        if external_url:
            item["generatorURL"] = generator_url(external_url)
        body.append(item)
    return body
