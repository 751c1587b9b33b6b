"""The `routing:` section reads like alertmanager.yml; matchers match as Alertmanager's do; errors point at the field."""

from __future__ import annotations

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from wfdoctor.config.durations import parse_duration
from wfdoctor.config.matchers import Matcher, MatcherSyntaxError, MatchType, matches_all, parse_matcher, parse_matchers
from wfdoctor.config.routing import default_routing, parse_routing, resolve_route
from wfdoctor.model import WfdoctorError


@pytest.mark.parametrize(("text", "labels", "expected"), [
    ('severity="critical"', {"severity": "critical"}, True),
    ('severity="critical"', {"severity": "warning"}, False),
    ('severity!="critical"', {}, True),
    ('severity=~"crit|warn"', {"severity": "warn"}, True),
    ('severity=~"crit"', {"severity": "critical"}, False),  # anchored, as Prometheus anchors
    ('severity!~"crit.*"', {"severity": "critical"}, False),
    ('team=~".*"', {}, True),  # a missing label is the empty string
    ('team=""', {}, True),
    ("team=ops", {"team": "ops"}, True),  # unquoted, as amtool allows
])
def test_a_matcher_matches_as_alertmanager_matches(text: str, labels: dict[str, str], expected: bool) -> None:
    assert parse_matcher(text).matches(labels) is expected


def test_a_braced_list_parses_to_matchers_that_must_all_hold() -> None:
    matchers = parse_matchers('{alertname=~"High.*", severity!="info",instance="a\\"b"}')
    assert [(m.name, m.op, m.value) for m in matchers] == [
        ("alertname", MatchType.REGEX, "High.*"), ("severity", MatchType.NOT_EQUAL, "info"),
        ("instance", MatchType.EQUAL, 'a"b')]
    assert matches_all(matchers, {"alertname": "HighCpu", "severity": "critical", "instance": 'a"b'})
    assert not matches_all(matchers, {"alertname": "HighCpu", "severity": "info", "instance": 'a"b'})


@pytest.mark.parametrize(("text", "says"), [
    ('severity=="x"', "expected ','"), ('{a="x"', "unbalanced braces"), ('a=~"("', "invalid regular expression"),
    ('a="x" b="y"', "expected ','"), ("", "no matcher"), ('1a="x"', 'expected name="value"'),
    ('a="\\q"', "invalid escape")])
def test_a_bad_matcher_is_one_line_saying_what(text: str, says: str) -> None:
    with pytest.raises(MatcherSyntaxError, match=says) as raised:
        parse_matchers(text)
    assert "\n" not in str(raised.value)


@given(st.from_regex(r"[a-z_][a-z0-9_]{0,8}", fullmatch=True), st.sampled_from(list(MatchType)),
       st.text(alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\\()[]{}*+?|^$."),
               max_size=12))
def test_a_matcher_written_back_parses_to_itself(name: str, op: MatchType, value: str) -> None:
    original = Matcher.make(name, op, value)
    assert parse_matcher(str(original)) == original


@pytest.mark.parametrize(("text", "seconds"), [("30s", 30), ("5m", 300), ("1h30m", 5400), ("500ms", 0.5), (45, 45)])
def test_durations_are_prometheus_durations(text: str | int, seconds: float) -> None:
    assert parse_duration(text) == seconds


ROUTING = """
route:
  receiver: log
  group_by: [alertname, instance]
  group_wait: 10s
  routes:
    - matchers: ['severity="critical"']
      receiver: pager
      repeat_interval: 1h
      continue: true
      routes:
        - matchers: ['instance=~"gpu.*"']
receivers:
  - name: log
    log_configs: [{}]
  - name: pager
    webhook_configs: [{url: "http://127.0.0.1:9/hook", timeout: 5s, max_alerts: 10}]
    alertmanager_configs: [{url: "http://127.0.0.1:9093"}]
    file_configs: [{path: /tmp/alerts.jsonl}]
    desktop_configs: [{}]
"""


def test_routes_inherit_what_they_do_not_set_as_in_alertmanager() -> None:
    root = resolve_route(parse_routing(yaml.safe_load(ROUTING), "monitor.yaml").route)
    [pager] = root.routes
    [gpu] = pager.routes
    assert (root.group_wait_s, root.group_interval_s, root.repeat_interval_s) == (10, 300, 4 * 3600)
    assert (pager.receiver, pager.group_by, pager.repeat_interval_s, pager.continue_) == (
        "pager", ("alertname", "instance"), 3600, True)
    assert (gpu.receiver, gpu.repeat_interval_s, gpu.group_wait_s) == ("pager", 3600, 10)
    assert gpu.key == '{}/{severity="critical"}/{instance=~"gpu.*"}'


def test_the_defaults_are_a_log_receiver_ten_notifications_a_minute_and_bounded_retries() -> None:
    config = default_routing()
    assert [r.name for r in config.receivers] == ["log"] and config.receivers[0].log_configs
    assert config.rate_limit_per_minute == 10
    assert config.retries > 0 and config.delivery_timeout > 0


@pytest.mark.parametrize(("edit", "says"), [
    ("route: {receiver: nobody}", "routing.route.receiver: no receiver is named 'nobody'"),
    ("route: {receiver: log, routes: [{receiver: zz}]}", "routing.route.routes.0.receiver: no receiver is named"),
    ("route: {group_by: [a]}", "routing.route.receiver: the root route needs a receiver"),
    ("route: {receiver: log, group_wait: 5x}", "routing.route.group_wait: '5x' is not a duration"),
    ("route: {receiver: log, matchers: ['a=~\"(\"']}", "routing.route.matchers: a=~\"(\": invalid regular"),
    ("route: {receiver: log, colour: red}", "routing.route.colour: Extra inputs are not permitted"),
    ("rate_limit_per_minute: 0", "routing.rate_limit_per_minute: Input should be greater than or equal to 1"),
    ("receivers: [{name: log}, {name: log}]", "routing.receivers.1.name: receiver 'log' is defined twice"),
    ("receivers: [{name: log, webhook_configs: [{url: 'ftp://x'}]}]", "routing.receivers.0.webhook_configs.0.url"),
])
def test_a_bad_routing_section_is_one_line_naming_file_and_field(edit: str, says: str) -> None:
    section = {"route": {"receiver": "log"}, "receivers": [{"name": "log", "log_configs": [{}]}],
               **yaml.safe_load(edit)}
    with pytest.raises(WfdoctorError) as raised:
        parse_routing(section, "monitor.yaml")
    message = str(raised.value)
    assert message.startswith("monitor.yaml: ") and says in message and "\n" not in message
