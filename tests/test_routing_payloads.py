"""What receivers get is Alertmanager's webhook document (version 4) and Prometheus' postable alerts.

The schemas below are written from Alertmanager's documentation (webhook_config)
and its OpenAPI v2 spec (postableAlerts), so an existing Alertmanager webhook
receiver reads our document without glue.
"""

from __future__ import annotations

import re
from datetime import datetime

import jsonschema

from wfdoctor.act.payloads import (ZERO_TIME, Notification, group_key, postable_alerts, rfc3339,
                                   webhook_payload)
from wfdoctor.model import Alert, AlertState

LABEL_SET = {"type": "object", "additionalProperties": {"type": "string"}}
TIME = {"type": "string", "pattern": r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$"}
WEBHOOK_ALERT = {
    "type": "object", "additionalProperties": False,
    "required": ["status", "labels", "annotations", "startsAt", "endsAt", "generatorURL", "fingerprint"],
    "properties": {"status": {"enum": ["firing", "resolved"]}, "labels": LABEL_SET, "annotations": LABEL_SET,
                   "startsAt": TIME, "endsAt": TIME, "generatorURL": {"type": "string"},
                   "fingerprint": {"type": "string", "pattern": "^[0-9a-f]{16}$"}}}
WEBHOOK = {
    "type": "object", "additionalProperties": False,
    "required": ["version", "groupKey", "truncatedAlerts", "status", "receiver", "groupLabels", "commonLabels",
                 "commonAnnotations", "externalURL", "alerts"],
    "properties": {"version": {"const": "4"}, "groupKey": {"type": "string"},
                   "truncatedAlerts": {"type": "integer", "minimum": 0},
                   "status": {"enum": ["firing", "resolved"]}, "receiver": {"type": "string"},
                   "groupLabels": LABEL_SET, "commonLabels": LABEL_SET, "commonAnnotations": LABEL_SET,
                   "externalURL": {"type": "string"}, "alerts": {"type": "array", "items": WEBHOOK_ALERT}}}
POSTABLE_ALERTS = {
    "type": "array", "items": {
        "type": "object", "additionalProperties": False, "required": ["labels"],
        "properties": {"labels": LABEL_SET, "annotations": LABEL_SET, "startsAt": TIME, "endsAt": TIME,
                       "generatorURL": {"type": "string", "pattern": "^https?://"}}}}

NOW = 1_700_000_000.0


def alert(instance: str, state: AlertState = AlertState.FIRING, summary: str = "memory high") -> Alert:
    return Alert("HighMemory", {"alertname": "HighMemory", "severity": "critical", "instance": instance},
                 {"summary": summary, "runbook": "wfdoctor recover"}, state, 0.97, NOW - 60, fired_at=NOW - 30,
                 resolved_at=NOW if state is AlertState.RESOLVED else None)


def notification(*alerts: Alert, url: str = "http://127.0.0.1:8471") -> Notification:
    return Notification("pager", group_key('{}/{severity="critical"}', {"alertname": "HighMemory"}),
                        {"alertname": "HighMemory"}, alerts, NOW, url)


def test_the_webhook_document_has_exactly_alertmanagers_fields() -> None:
    document = webhook_payload(notification(alert("a"), alert("b", AlertState.RESOLVED)))
    jsonschema.validate(document, WEBHOOK)
    assert document["groupKey"] == '{}/{severity="critical"}:{alertname="HighMemory"}'
    assert document["externalURL"] == "http://127.0.0.1:8471"
    assert document["alerts"][0]["generatorURL"] == "http://127.0.0.1:8471/api/alerts"


def test_a_group_fires_while_any_alert_fires_and_a_firing_alert_has_go_s_zero_end() -> None:
    document = webhook_payload(notification(alert("a"), alert("b", AlertState.RESOLVED)))
    assert document["status"] == "firing"
    assert [(a["status"], a["endsAt"]) for a in document["alerts"]] == [("firing", ZERO_TIME),
                                                                         ("resolved", rfc3339(NOW))]
    assert webhook_payload(notification(alert("b", AlertState.RESOLVED)))["status"] == "resolved"


def test_common_labels_and_annotations_are_those_all_alerts_share() -> None:
    document = webhook_payload(notification(alert("a"), alert("b", summary="other")))
    assert document["commonLabels"] == {"alertname": "HighMemory", "severity": "critical"}
    assert document["commonAnnotations"] == {"runbook": "wfdoctor recover"}


def test_max_alerts_keeps_the_first_ones_and_counts_the_rest() -> None:
    document = webhook_payload(notification(alert("a"), alert("b"), alert("c")), max_alerts=2)
    assert (len(document["alerts"]), document["truncatedAlerts"]) == (2, 1)


def test_times_are_rfc3339_in_utc() -> None:
    assert rfc3339(0.5) == "1970-01-01T00:00:00.500Z"
    assert datetime.fromisoformat(rfc3339(NOW)).timestamp() == NOW


def test_postable_alerts_end_when_resolved_and_stay_valid_a_while_when_firing() -> None:
    body = postable_alerts([alert("a"), alert("b", AlertState.RESOLVED)], NOW, 240.0, "http://127.0.0.1:8471")
    jsonschema.validate(body, POSTABLE_ALERTS)
    firing, resolved = body
    assert (firing["startsAt"], firing["endsAt"]) == (rfc3339(NOW - 30), rfc3339(NOW + 240))
    assert resolved["endsAt"] == rfc3339(NOW)
    assert firing["labels"]["instance"] == "a"


def test_postable_alerts_leave_out_the_generator_url_when_the_monitor_has_no_address() -> None:
    [item] = postable_alerts([alert("a")], NOW, 240.0)
    jsonschema.validate([item], POSTABLE_ALERTS)
    assert "generatorURL" not in item


def test_group_keys_are_written_as_alertmanager_writes_them() -> None:
    assert group_key("{}", {}) == "{}:{}"
    assert re.fullmatch(r'\{\}:\{alertname="A", job="j"\}', group_key("{}", {"job": "j", "alertname": "A"}))
