"""A real Alertmanager (Debian's prometheus-alertmanager) takes what the `alertmanager` receiver pushes.

Acceptance of issue 11: the alert it lists in `GET /api/v2/alerts` carries our
labels and annotations, and the resolved push ends it there.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from tests.monitoring_tools import RunningTool, alertmanager, get_json
from wfdoctor.act.routing import Router
from wfdoctor.config.routing import parse_routing
from wfdoctor.model import Alert, AlertState

pytestmark = pytest.mark.slow

INTERVAL_S = 0.2
LABELS = {"alertname": "WfHighMemory", "severity": "critical", "instance": "wfdoctor-test"}


def listed(tool: RunningTool) -> list[dict[str, object]]:
    alerts = get_json(f"{tool.url}/api/v2/alerts")
    assert isinstance(alerts, list)
    return [a for a in alerts if isinstance(a, dict) and a.get("labels", {}).get("instance") == "wfdoctor-test"]


async def push(router: Router, tool: RunningTool, alert: Alert) -> None:
    """Route one transition and wait until it was delivered (the group interval is short)."""
    router.submit([alert])
    await asyncio.sleep(INTERVAL_S)
    router.flush_due()
    await router.wait_idle()
    assert (router.deliveries[-1].outcome, router.deliveries[-1].error) == ("sent", ""), tool.log_tail()


def test_real_alertmanager_lists_the_pushed_alert_and_the_resolved_push_ends_it(tmp_path: Path) -> None:
    fired = time.time() - 30
    firing = Alert("WfHighMemory", LABELS, {"summary": "memory at 96 %"}, AlertState.FIRING, 0.96, fired - 10,
                   fired_at=fired)
    with alertmanager(tmp_path) as tool:
        async def scenario() -> None:
            config = {"route": {"receiver": "am", "group_wait": "0s", "group_interval": f"{INTERVAL_S * 1000:.0f}ms"},
                      "external_url": "http://127.0.0.1:8471",
                      "receivers": [{"name": "am", "alertmanager_configs": [{"url": tool.url, "timeout": "5s"}]}]}
            router = Router(parse_routing(config, "test.yaml"))
            await push(router, tool, firing)
            [shown] = listed(tool)
            assert shown["labels"] == LABELS
            assert shown["annotations"] == {"summary": "memory at 96 %"}
            assert shown["status"]["state"] == "active"  # type: ignore[index]
            assert shown["generatorURL"] == "http://127.0.0.1:8471/api/alerts"

            await push(router, tool, Alert("WfHighMemory", LABELS, firing.annotations, AlertState.RESOLVED, 0.5,
                                           fired - 10, fired_at=fired, resolved_at=time.time() - 1))
            assert listed(tool) == [], tool.log_tail()
            await router.aclose()

        asyncio.run(scenario())
