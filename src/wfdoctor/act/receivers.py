"""Receivers: where a notification goes (log, JSON-lines file, webhook, Alertmanager, desktop).

Each integration does one send and raises when it fails; `deliver` wraps it in the
retries, back-off and deadline, and turns every outcome into a `Delivery` record, so
a dead or hanging receiver costs its own task a bounded time and never raises into
the monitor's loop.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import aiohttp
import orjson

from wfdoctor.act.payloads import ALERTS_PATH, Notification, postable_alerts, webhook_payload
from wfdoctor.config.routing import Receiver
from wfdoctor.model import Alert
from wfdoctor.sense.backends.http import TRANSPORT_ERRORS, HttpStatusError, error_text

LOG = logging.getLogger("wfdoctor.alerts")
NOTIFY_SEND = "notify-send"
ANSWER_PREVIEW_BYTES = 200  # of a refusing receiver's answer, in the error
URGENCY = {"critical": "critical", "warning": "normal"}  # notify-send's levels; anything else is "low"


class Skipped(Exception):
    """The integration cannot work on this machine (e.g. no notify-send): not a failure to retry."""


@dataclass(frozen=True)
class Delivery:
    """What became of one notification at one integration: the router's bounded history."""

    receiver: str
    integration: str  # log, file, webhook, alertmanager, desktop
    target: str       # the URL or path, empty for log and desktop
    group_key: str
    status: str       # the group's: firing or resolved
    alerts: tuple[Alert, ...]
    outcome: str      # sent, failed, skipped, dropped (over the rate limit)
    error: str
    attempts: int
    ts: float

    @property
    def ok(self) -> bool:
        return self.outcome == "sent"


@dataclass(frozen=True)
class RetryPolicy:
    retries: int
    backoff_s: float
    deadline_s: float  # all attempts and waits of one delivery


class Integration(Protocol):
    kind: str
    target: str
    timeout_s: float

    async def send(self, notification: Notification, http: aiohttp.ClientSession) -> None: ...


async def _post_json(http: aiohttp.ClientSession, url: str, body: object) -> None:
    async with http.post(url, data=orjson.dumps(body), headers={"Content-Type": "application/json"}) as response:
        if response.status >= 300:
            answer = await response.content.read(ANSWER_PREVIEW_BYTES)
            raise HttpStatusError(response.status, " ".join(answer.decode("utf-8", "replace").split()))


@dataclass(frozen=True)
class LogIntegration:
    kind: str = "log"
    target: str = ""
    timeout_s: float = 1.0

    async def send(self, notification: Notification, http: aiohttp.ClientSession) -> None:
        """One line a person reads, with the whole webhook document attached for structured handlers."""
        level = logging.WARNING if notification.status == "firing" else logging.INFO
        names = ", ".join(f"{alert.name}[{alert.fingerprint}]" for alert in notification.alerts)
        LOG.log(level, "alert %s: %s (receiver %s, group %s)", notification.status, names, notification.receiver,
                notification.group_key, extra={"notification": webhook_payload(notification)})


@dataclass(frozen=True)
class FileIntegration:
    path: Path
    kind: str = "file"
    timeout_s: float = 5.0

    @property
    def target(self) -> str:
        return str(self.path)

    async def send(self, notification: Notification, http: aiohttp.ClientSession) -> None:
        line = json.dumps(webhook_payload(notification), ensure_ascii=False, sort_keys=True) + "\n"
        await asyncio.to_thread(self._append, line)

    def _append(self, line: str) -> None:
        """Opened without waiting: a FIFO nobody reads fails at once (ENXIO) instead of holding this thread
        in open() for good, which held the monitor's exit too (asyncio waits for its threads)."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NONBLOCK
        with os.fdopen(os.open(self.path, flags, 0o644), "a", encoding="utf-8") as handle:
            handle.write(line)


@dataclass(frozen=True)
class WebhookIntegration:
    target: str
    timeout_s: float
    max_alerts: int
    kind: str = "webhook"

    async def send(self, notification: Notification, http: aiohttp.ClientSession) -> None:
        await _post_json(http, self.target, webhook_payload(notification, self.max_alerts))


@dataclass(frozen=True)
class AlertmanagerIntegration:
    target: str
    timeout_s: float
    resend_interval_s: float
    kind: str = "alertmanager"

    async def send(self, notification: Notification, http: aiohttp.ClientSession) -> None:
        body = postable_alerts(notification.alerts, notification.ts, 4 * self.resend_interval_s,
                               notification.external_url)
        await _post_json(http, self.target.rstrip("/") + ALERTS_PATH, body)


@dataclass(frozen=True)
class DesktopIntegration:
    kind: str = "desktop"
    target: str = ""
    timeout_s: float = 5.0

    async def send(self, notification: Notification, http: aiohttp.ClientSession) -> None:
        """notify-send with the text as arguments (never a shell: alert text is untrusted)."""
        program = shutil.which(NOTIFY_SEND)
        if program is None:
            raise Skipped(f"{NOTIFY_SEND} is not installed")
        first = notification.alerts[0]
        title = f"wfdoctor: {first.name} {notification.status}"
        body = "\n".join(alert.annotations.get("summary", alert.name) for alert in notification.alerts)
        urgency = URGENCY.get(first.severity, "low") if notification.status == "firing" else "low"
        process = await asyncio.create_subprocess_exec(
            program, "--app-name=wfdoctor", f"--urgency={urgency}", "--", title, body,
            stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE)
        try:
            _, err = await process.communicate()
        except asyncio.CancelledError:
            process.kill()
            raise
        if process.returncode:
            raise RuntimeError(f"{NOTIFY_SEND} exited with {process.returncode}: "
                               f"{err.decode('utf-8', 'replace').strip()[:ANSWER_PREVIEW_BYTES]}")


def integrations(receiver: Receiver) -> list[Integration]:
    """The receiver's configured integrations, in the order they are written."""
    made: list[Integration] = [LogIntegration() for _ in receiver.log_configs]
    made += [FileIntegration(config.path.expanduser()) for config in receiver.file_configs]
    made += [WebhookIntegration(config.url, config.timeout, config.max_alerts) for config in receiver.webhook_configs]
    made += [AlertmanagerIntegration(config.url, config.timeout, config.resend_interval)
             for config in receiver.alertmanager_configs]
    made += [DesktopIntegration() for _ in receiver.desktop_configs]
    return made


def resend_interval(integrations_: Sequence[Integration]) -> float | None:
    """The shortest Alertmanager resend interval among them (None without one)."""
    intervals = [i.resend_interval_s for i in integrations_ if isinstance(i, AlertmanagerIntegration)]
    return min(intervals) if intervals else None


def record(integration: Integration, notification: Notification, outcome: str, error: str,
           attempts: int) -> Delivery:
    return Delivery(notification.receiver, integration.kind, integration.target, notification.group_key,
                    notification.status, notification.alerts, outcome, error, attempts, notification.ts)


async def deliver(integration: Integration, notification: Notification, http: aiohttp.ClientSession,
                  policy: RetryPolicy) -> Delivery:
    """Send with retries and exponential back-off, all within the policy's deadline; never raises."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + policy.deadline_s
    error, attempts = "deadline passed before the first attempt", 0
    for attempt in range(policy.retries + 1):
        remaining = deadline - loop.time()
        if remaining <= 0:
            break
        attempts += 1
        try:
            async with asyncio.timeout(min(integration.timeout_s, remaining)):
                await integration.send(notification, http)
            return record(integration, notification, "sent", "", attempts)
        except Skipped as exc:
            return record(integration, notification, "skipped", str(exc), attempts)
        except TimeoutError:
            error = f"no answer within {min(integration.timeout_s, remaining):.3g} s"
        except (*TRANSPORT_ERRORS, HttpStatusError, OSError, RuntimeError) as exc:
            error = error_text(exc)
        if attempt < policy.retries:
            await asyncio.sleep(max(0.0, min(policy.backoff_s * 2 ** attempt, deadline - loop.time())))
    return record(integration, notification, "failed", error, attempts)
