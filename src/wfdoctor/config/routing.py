"""The `routing:` section of the monitor config: where alerts go, grouped how, how often.

The shape is Alertmanager's (`route` tree with `receiver`, `group_by`, `group_wait`,
`group_interval`, `repeat_interval`, `matchers`, `routes`, `continue`; named
`receivers` with `*_configs`), so a user who knows `alertmanager.yml` can read and
write it, and a route copied from one behaves the same. Children inherit what they
do not set from their parent, as in Alertmanager; `resolve_route` does that once,
so the router never looks up a default.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

from pydantic import BeforeValidator, Field, PlainValidator, ValidationError

from wfdoctor.config.durations import parse_duration
from wfdoctor.config.matchers import Matcher, parse_matchers
from wfdoctor.config.yamlfile import Strict
from wfdoctor.model import WfdoctorError

# Alertmanager's defaults, so an omitted setting means what it means there.
DEFAULT_GROUP_WAIT_S = 30.0
DEFAULT_GROUP_INTERVAL_S = 300.0
DEFAULT_REPEAT_INTERVAL_S = 4 * 3600.0
GROUP_BY_ALL = "..."  # Alertmanager's "group by every label": one group per alert


def _matchers(value: object) -> tuple[Matcher, ...]:
    """A list of matcher strings (`- severity="critical"`) into matchers; errors name the bad one."""
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list | tuple) or not all(isinstance(item, str) for item in value):
        raise ValueError("matchers are a list of strings like 'severity=\"critical\"'")
    return tuple(matcher for item in value for matcher in parse_matchers(item))


Duration = Annotated[float, BeforeValidator(parse_duration)]
Matchers = Annotated[tuple[Matcher, ...], PlainValidator(_matchers)]


class LogConfig(Strict):
    """A structured log line per notification (the monitor's log; always works, so it is the default)."""


class FileConfig(Strict):
    """One JSON document (the webhook payload) per notification, appended to `path` as a line."""

    path: Path


class WebhookConfig(Strict):
    """POST of Alertmanager's webhook JSON, so receivers written for Alertmanager work unchanged."""

    url: str = Field(pattern=r"^https?://")
    timeout: Duration = 10.0
    max_alerts: int = Field(0, ge=0)  # 0: all alerts; else the rest are counted in truncatedAlerts


class AlertmanagerConfig(Strict):
    """Push to a real Alertmanager's `POST /api/v2/alerts`, as Prometheus does.

    Firing alerts are re-sent every `resend_interval` and are valid for four of them
    (Prometheus' rule), so Alertmanager neither forgets a firing alert nor keeps one
    wfdoctor stopped sending.
    """

    url: str = Field(pattern=r"^https?://")
    timeout: Duration = 10.0
    resend_interval: Duration = Field(60.0, gt=0)


class DesktopConfig(Strict):
    """A desktop notification through `notify-send`, where it is installed."""


class Receiver(Strict):
    name: str = Field(min_length=1)
    log_configs: tuple[LogConfig, ...] = ()
    file_configs: tuple[FileConfig, ...] = ()
    webhook_configs: tuple[WebhookConfig, ...] = ()
    alertmanager_configs: tuple[AlertmanagerConfig, ...] = ()
    desktop_configs: tuple[DesktopConfig, ...] = ()


class Route(Strict):
    """One node of the route tree as written; unset values are inherited from the parent."""

    receiver: str | None = None
    group_by: tuple[str, ...] | None = None
    group_wait: Duration | None = None
    group_interval: Duration | None = Field(None, gt=0)
    repeat_interval: Duration | None = Field(None, gt=0)
    matchers: Matchers = ()
    routes: tuple[Route, ...] = ()
    continue_: bool = Field(False, alias="continue")


class RoutingConfig(Strict):
    route: Route
    receivers: tuple[Receiver, ...] = Field(min_length=1)
    rate_limit_per_minute: int = Field(10, ge=1)  # notifications over all receivers; the rest are dropped
    retries: int = Field(3, ge=0)                 # further attempts after a failed one
    retry_backoff: Duration = Field(1.0, gt=0)    # the wait before the first retry; doubled for each next one
    delivery_timeout: Duration = Field(30.0, gt=0)  # bounds all attempts and waits of one delivery
    external_url: str = ""  # where people reach this monitor (the payloads' externalURL / generatorURL)

    def receiver(self, name: str) -> Receiver:
        return next(receiver for receiver in self.receivers if receiver.name == name)


@dataclass(frozen=True)
class RouteNode:
    """A route with everything inherited filled in: what the router walks."""

    key: str  # Alertmanager's route key, `{}` for the root, `{}/{severity="critical"}` below it
    receiver: str
    group_by: tuple[str, ...]
    group_wait_s: float
    group_interval_s: float
    repeat_interval_s: float
    matchers: tuple[Matcher, ...]
    continue_: bool
    routes: tuple[RouteNode, ...]


def resolve_route(route: Route, parent: RouteNode | None = None) -> RouteNode:
    """Fill in inherited values down the tree, as Alertmanager does when it loads its config."""
    key = "{}" if parent is None else f"{parent.key}/{{{','.join(str(m) for m in route.matchers)}}}"
    node = RouteNode(
        key=key,
        receiver=route.receiver or (parent.receiver if parent else ""),
        group_by=route.group_by if route.group_by is not None else (parent.group_by if parent else ()),
        group_wait_s=_inherit(route.group_wait, parent and parent.group_wait_s, DEFAULT_GROUP_WAIT_S),
        group_interval_s=_inherit(route.group_interval, parent and parent.group_interval_s,
                                  DEFAULT_GROUP_INTERVAL_S),
        repeat_interval_s=_inherit(route.repeat_interval, parent and parent.repeat_interval_s,
                                   DEFAULT_REPEAT_INTERVAL_S),
        matchers=route.matchers, continue_=route.continue_, routes=())
    children = tuple(resolve_route(child, node) for child in route.routes)
    return RouteNode(**{**node.__dict__, "routes": children})


def _inherit(own: float | None, parent: float | None, default: float) -> float:
    if own is not None:
        return own
    return parent if parent is not None else default


def _route_receivers(route: Route, path: str) -> Iterator[tuple[str, str]]:
    if route.receiver is not None:
        yield f"{path}.receiver", route.receiver
    for index, child in enumerate(route.routes):
        yield from _route_receivers(child, f"{path}.routes.{index}")


def _check_names(config: RoutingConfig) -> str | None:
    """The first broken name reference (as 'field: what'), or None."""
    names = [receiver.name for receiver in config.receivers]
    for index, name in enumerate(names):
        if name in names[:index]:
            return f"receivers.{index}.name: receiver {name!r} is defined twice"
    if config.route.receiver is None:
        return "route.receiver: the root route needs a receiver"
    for field, name in _route_receivers(config.route, "route"):
        if name not in names:
            return f"{field}: no receiver is named {name!r} (receivers: {', '.join(names)})"
    return None


def parse_routing(section: object, where: str) -> RoutingConfig:
    """Validate the `routing:` section; errors are one line, `where: routing.field: what`."""
    try:
        config = RoutingConfig.model_validate(section)
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(part) for part in ("routing", *first["loc"]))
        raise WfdoctorError(f"{where}: {field}: {_message(first)}") from None
    broken = _check_names(config)
    if broken:
        raise WfdoctorError(f"{where}: routing.{broken}")
    return config


def _message(error: Any) -> str:
    """pydantic's message, without its 'Value error, ' prefix for our own ValueErrors."""
    return str(error["msg"]).removeprefix("Value error, ")


def default_routing() -> RoutingConfig:
    """Alerts to the log, one group per alert name: what the monitor does without a config."""
    return RoutingConfig(route=Route(receiver="log", group_by=("alertname",)),
                         receivers=(Receiver(name="log", log_configs=(LogConfig(),)),))
