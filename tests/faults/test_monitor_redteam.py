"""The monitor side as a hostile or careless user meets it: hostile text in the store, broken rule and
config files, abuse of the HTTP door. Each case asserts the exit code or HTTP status, a one-line error,
no traceback, and a time bound where a hang is possible."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

from wfdoctor.model import Alert, AlertState
from wfdoctor.store.monitoring import MonitorStore

HOSTILE = "\x1b]0;pwned\x07\x1b[2J[/x]"  # a title change, a screen clear, and a Rich closing tag
CLI_BOUND_S = 60.0


def wfdoctor(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "wfdoctor", *args], capture_output=True, text=True,
                          timeout=CLI_BOUND_S)


def test_alerts_list_shows_a_hostile_summary_and_silence_comment_as_text(tmp_path: Path) -> None:
    db = tmp_path / "w.db"
    with MonitorStore.open(db) as store:
        store.add_alert_events(None, [Alert("UiFrozen", {"alertname": "UiFrozen", "page": HOSTILE},
                                            {"summary": f"frames slow on {HOSTILE}"}, AlertState.FIRING,
                                            1.0, time.time())], time.time())
    made = wfdoctor("alerts", "silence", 'alertname="UiFrozen"', "--for", "1h", "--comment", HOSTILE,
                    "--db", str(db))
    shown = wfdoctor("alerts", "list", "--all", "--db", str(db))
    for result in (made, shown):
        assert result.returncode == 0 and "Traceback" not in result.stderr, result.stderr
        assert "\x1b" not in result.stdout and "\x07" not in result.stdout, result.stdout
    assert "\\x1b]0;pwned\\x07" in shown.stdout  # escaped, visible, not dropped


def test_the_live_view_draws_hostile_model_names_summaries_and_errors_as_text() -> None:
    from io import StringIO

    from rich.console import Console

    from wfdoctor.app.reports.monitor import MonitorEvent, MonitorSnapshot
    from wfdoctor.model import ActionRecord, Sample
    from wfdoctor.surface.views.monitor import panel

    url = "http://127.0.0.1:11434"
    samples = [Sample("wf_llm_server_up", 1.0, "1", "probe", {"url": url}, time.time()),
               Sample("wf_llm_model_loaded_bytes", 1e9, "B", "probe", {"url": url, "model": HOSTILE}, time.time())]
    alert = Alert(HOSTILE, {"alertname": HOSTILE}, {"summary": HOSTILE}, AlertState.FIRING, 1.0, time.time())
    action = ActionRecord(HOSTILE, HOSTILE, "L1", False, "", {}, {}, error=HOSTILE)
    out = StringIO()
    Console(file=out, force_terminal=True, width=200).print(
        panel(MonitorSnapshot(samples, [alert], [action]), [MonitorEvent("error", time.time(), HOSTILE)]))
    assert "\x07" not in out.getvalue() and "[/x]" in out.getvalue()


def monitor_once(db: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """A short headless monitor with no server and no canary; `--listen` on any free loopback port."""
    duration = () if "--duration" in args else ("--duration", "1")
    return wfdoctor("monitor", "--headless", "--listen", "127.0.0.1:0", "--canary", "off", *duration,
                    "--backend", "http://127.0.0.1:9", "--db", str(db), *args)


def one_line_error(result: subprocess.CompletedProcess[str], *named: str) -> None:
    assert result.returncode == 2, result.stderr[-2000:]
    assert "Traceback" not in result.stderr, result.stderr[-2000:]
    lines = [line for line in result.stderr.splitlines() if line.startswith("wfdoctor: error:")]
    assert len(lines) == 1 and all(word in lines[0] for word in named), result.stderr[-2000:]


def test_a_duration_written_as_a_yaml_list_or_mapping_is_one_line_naming_the_field(tmp_path: Path) -> None:
    for key, value in (("interval", "[1]"), ("canary", "{a: 1}")):
        config = tmp_path / f"{key}.yaml"
        config.write_text(f"monitor:\n  {key}: {value}\n")
        one_line_error(monitor_once(tmp_path / "w.db", "--config", str(config)), f"{config}:2", f"monitor.{key}")


ALWAYS_FIRING = """groups:
  - name: redteam
    rules:
      - alert: AlwaysFiring
        expr: wf_cpu_utilization_ratio >= 0
        labels: {severity: warning}
        annotations: {summary: always}
"""


def test_a_receiver_that_cannot_write_or_never_answers_is_an_error_event_and_stalls_nothing(tmp_path: Path) -> None:
    import socket

    hung = socket.socket()  # accepts connections (the kernel's backlog) and never answers
    hung.bind(("127.0.0.1", 0))
    hung.listen(16)
    blocked = tmp_path / "a-file"
    blocked.write_text("")
    rules = tmp_path / "rules.yaml"
    rules.write_text(ALWAYS_FIRING)
    config = tmp_path / "monitor.yaml"
    config.write_text(f"""routing:
  delivery_timeout: 2s
  route: {{receiver: broken, group_wait: 0s}}
  receivers:
    - name: broken
      file_configs: [{{path: {blocked}/alerts.jsonl}}]
      alertmanager_configs: [{{url: "http://127.0.0.1:{hung.getsockname()[1]}"}}]
""")
    started = time.monotonic()
    with hung:
        result = monitor_once(tmp_path / "w.db", "--rules", str(rules), "--config", str(config), "--interval", "0.2",
                              "--duration", "5")
    assert time.monotonic() - started < CLI_BOUND_S
    assert result.returncode == 0 and "Traceback" not in result.stderr, result.stderr[-2000:]
    errors = [line for line in result.stderr.splitlines() if '"event": "error"' in line and "receiver broken" in line]
    assert any("(file " in line and "AlwaysFiring not delivered" in line for line in errors), result.stderr[-3000:]
    assert any("(alertmanager " in line and "no answer within" in line for line in errors), result.stderr[-3000:]


def test_a_silence_ending_past_any_showable_date_is_refused_and_alerts_list_still_works(tmp_path: Path) -> None:
    db = tmp_path / "w.db"
    for length in ("100000000y", "9999999999999999999999y"):
        result = wfdoctor("alerts", "silence", 'alertname="X"', "--for", length, "--db", str(db))
        one_line_error(result, "silence", "2200")
    listed = wfdoctor("alerts", "list", "--json", "--db", str(db))
    assert listed.returncode == 0 and "Traceback" not in listed.stderr, listed.stderr[-2000:]


def test_a_label_regex_that_can_backtrack_for_minutes_is_refused_where_it_is_written(tmp_path: Path) -> None:
    """Python's `re` takes minutes for (a+)+b against thirty pushed `a`s, inside the sampling loop."""
    rules = tmp_path / "rules.yaml"
    rules.write_text(ALWAYS_FIRING.replace("wf_cpu_utilization_ratio >= 0",
                                           'wf_ui_frame_time_seconds{page=~"(a+)+b"} > 0'))
    one_line_error(monitor_once(tmp_path / "w.db", "--rules", str(rules)), f"{rules}:5", "(a+)+b", "repetition")
    silenced = wfdoctor("alerts", "silence", 'page=~"(x*)*y"', "--for", "1h", "--db", str(tmp_path / "w.db"))
    one_line_error(silenced, "(x*)*y", "repetition")


def test_a_flood_of_new_label_values_is_refused_past_the_series_capacity(tmp_path: Path) -> None:
    """Every series is judged every tick; 120,000 pushed page names cut a 0.2 s sampling to a tick a second."""
    import pytest

    from wfdoctor.app.monitor import Monitor, MonitorOptions
    from wfdoctor.model import Sample, WfdoctorError

    monitor = Monitor(MonitorOptions(series_capacity=3, listen="127.0.0.1:0"), tmp_path / "w.db")

    def frames(*pages: str) -> list[Sample]:
        return [Sample("wf_ui_frame_time_seconds", 0.01, "s", "test", {"page": p}, time.time()) for p in pages]

    monitor.accept(frames("a", "b", "c"))
    monitor.accept(frames("a", "b", "c"))  # the same series again: nothing new is held
    with pytest.raises(WfdoctorError, match="would make the monitor hold 4 series, over its 3"):
        monitor.accept(frames("d"))


def test_a_pushed_sample_with_more_or_longer_labels_than_prometheus_would_keep_is_a_400_reason() -> None:
    import json

    import pytest

    from wfdoctor.config.metrics import load_metrics
    from wfdoctor.model import WfdoctorError
    from wfdoctor.surface.web import parse_samples

    body = json.dumps([{"metric": "wf_ui_frame_time_seconds", "value": 0.01, "unit": "s",
                        "labels": {f"l{i}": "v" for i in range(30_000)}}]).encode()
    with pytest.raises(WfdoctorError, match=r"body\[0\]\.labels: .*at most 30"):
        parse_samples(body, load_metrics(), time.time())
    long_value = json.dumps([{"metric": "wf_ui_frame_time_seconds", "value": 0.01, "unit": "s",
                              "labels": {"page": "a" * 900_000}}]).encode()
    with pytest.raises(WfdoctorError, match=r"body\[0\]\.labels\.page: .*at most 1024"):
        parse_samples(long_value, load_metrics(), time.time())


def test_alerts_of_a_stopped_monitor_are_not_listed_as_firing_now(tmp_path: Path) -> None:
    """The monitor that raised them judges nothing any more, and the next one never resolves them."""
    db = tmp_path / "w.db"
    rules = tmp_path / "rules.yaml"
    rules.write_text(ALWAYS_FIRING)
    ran = monitor_once(db, "--rules", str(rules))
    assert ran.returncode == 0 and '"message": "AlwaysFiring firing"' in ran.stderr, ran.stderr[-2000:]
    now = wfdoctor("alerts", "list", "--json", "--db", str(db))
    assert now.returncode == 0 and "Traceback" not in now.stderr, now.stderr[-2000:]
    assert "AlwaysFiring" not in now.stdout
    assert "AlwaysFiring" in wfdoctor("alerts", "list", "--all", "--db", str(db)).stdout  # the history keeps it


def test_an_otlp_endpoint_that_is_not_an_http_url_is_refused_before_the_monitor_starts(tmp_path: Path) -> None:
    for endpoint in ("ftp://collector:4318", "collector:4318", "http://"):
        result = monitor_once(tmp_path / "w.db", "--otlp", endpoint)
        assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr[-2000:]
        assert "Invalid value for '--otlp'" in result.stderr and "is not an http://" in result.stderr, result.stderr
        assert not (tmp_path / "w.db").exists()  # refused before anything was recorded


def test_headless_notifications_and_export_failures_are_json_events_like_every_other_line(tmp_path: Path) -> None:
    import json

    import pytest

    pytest.importorskip("opentelemetry.exporter.otlp.proto.http", reason="the otlp extra is not installed")
    rules = tmp_path / "rules.yaml"
    rules.write_text(ALWAYS_FIRING)
    result = monitor_once(tmp_path / "w.db", "--rules", str(rules), "--interval", "0.2",
                          "--otlp", "http://127.0.0.1:9/v1/metrics")  # nothing listens: the export fails
    assert result.returncode == 0 and "Traceback" not in result.stderr, result.stderr[-2000:]
    *events, last = result.stderr.splitlines()
    assert last.startswith("wfdoctor: monitor stopped:")
    parsed = [json.loads(line) for line in events]  # a bare text line here breaks a log shipper
    assert any(e["event"] == "notify" and "alert firing: AlwaysFiring" in e["message"] for e in parsed)
    assert any(e["event"] == "error" and e["message"].startswith("opentelemetry") for e in parsed)


def test_a_rule_range_longer_than_a_day_is_refused_where_it_is_written(tmp_path: Path) -> None:
    """The window keeps every point of the longest range in memory: [100y] grew without end, tick after tick."""
    for written in ("100y", "30d"):
        rules = tmp_path / f"{written}.yaml"
        rules.write_text(ALWAYS_FIRING.replace("wf_cpu_utilization_ratio >= 0",
                                               f"avg_over_time(wf_cpu_utilization_ratio[{written}]) > 0"))
        one_line_error(monitor_once(tmp_path / "w.db", "--rules", str(rules)), f"{rules}:5", f"[{written}]",
                       "at most 1d")


def test_a_lookback_longer_than_a_day_is_refused_naming_the_line(tmp_path: Path) -> None:
    config = tmp_path / "monitor.yaml"
    config.write_text("monitor:\n  lookback: 100y\n")
    one_line_error(monitor_once(tmp_path / "w.db", "--config", str(config)), f"{config}:2", "monitor.lookback", "1d")


def test_a_corrupt_stored_alert_is_one_line_naming_the_database_and_the_row(tmp_path: Path) -> None:
    import sqlite3

    db = tmp_path / "w.db"
    with MonitorStore.open(db) as store:
        store.add_alert_events(None, [Alert("X", {"alertname": "X"}, {}, AlertState.FIRING, 1.0, time.time())],
                               time.time())
    with sqlite3.connect(db) as raw:  # a hand edit, or a disk that tore the row
        raw.execute("UPDATE alert_events SET labels = '{not json'")
    one_line_error(wfdoctor("alerts", "list", "--all", "--db", str(db)), str(db), "alert_events row 1 is corrupt")


def test_silences_that_cannot_be_read_or_parsed_never_stop_the_router(tmp_path: Path) -> None:
    """The router asks per alert; one raise from here ended the delivery task for the monitor's life."""
    import sqlite3

    from wfdoctor.app.monitor_silences import REFRESH_S, SilenceCache
    from wfdoctor.model import WfdoctorError

    db = tmp_path / "w.db"
    with MonitorStore.open(db) as store:
        store.add_silence(['alertname="X"'], time.time(), time.time() + 3600, "", "")
    with sqlite3.connect(db) as raw:  # stored by an older wfdoctor, or by hand
        raw.execute("""UPDATE silences SET matchers = '["page=~\\"(x*)*y\\""]'""")
    alert = Alert("X", {"alertname": "X"}, {}, AlertState.FIRING, 1.0, time.time())
    now = [time.time()]
    problems: list[str] = []
    with MonitorStore.open(db) as store:
        cache = SilenceCache(store, lambda: now[0], problems.append)
        assert not cache.is_silenced(alert)
        now[0] += REFRESH_S
        assert not cache.is_silenced(alert)
    assert len(problems) == 1 and problems[0].startswith("silence 1 is left out")  # told once, not every refresh

    class Locked:
        def silences(self, now: float) -> list[object]:
            raise WfdoctorError(f"{db}: database is locked by another process (waited 5 s)")

    locked = SilenceCache(Locked(), time.time, problems.append)  # type: ignore[arg-type]
    assert not locked.is_silenced(alert)
    assert "database is locked" in problems[-1]


def test_a_pushed_sample_from_the_future_is_a_400_reason_not_the_alert_windows_new_now() -> None:
    import json

    import pytest

    from wfdoctor.config.metrics import load_metrics
    from wfdoctor.model import WfdoctorError
    from wfdoctor.surface.web import parse_samples

    now = time.time()
    body = json.dumps([{"metric": "wf_ui_frame_time_seconds", "value": 0.01, "unit": "s", "ts": now + 86400 * 365}])
    with pytest.raises(WfdoctorError, match=r"body\[0\]\.ts: .* ahead of the monitor's clock"):
        parse_samples(body.encode(), load_metrics(), now)
    slightly = json.dumps([{"metric": "wf_ui_frame_time_seconds", "value": 0.01, "unit": "s", "ts": now + 5}])
    assert parse_samples(slightly.encode(), load_metrics(), now)[0].ts == now + 5  # two clocks never agree exactly


def test_label_regexes_with_nested_repetition_are_refused_and_ordinary_ones_kept() -> None:
    import pytest

    from wfdoctor.config.regexes import compile_label_regex

    for ordinary in ("Ui.*", "Cpu(Busy|Saturated)", "(a|b)+", "[a-z0-9_]+", "(ab){1,3}", "foo|bar.*", "(a?)+"):
        compile_label_regex(ordinary)  # no error
    for exponential in ("(a+)+b", "(a*)*", "(?:x+y?)+", "((a+))*", "(a{1,5})+", "x(a|b+)*", "(?=a+)+"):
        with pytest.raises(ValueError, match="repetition inside a repetition"):
            compile_label_regex(exponential)


def test_a_settings_file_that_is_a_fifo_fails_the_step_instead_of_blocking_forever(tmp_path: Path) -> None:
    """Opening a FIFO waits for a writer, in a system call SIGTERM and Ctrl-C do not end."""
    import os
    import stat

    fifo = tmp_path / "settings.json"
    os.mkfifo(fifo)
    config = tmp_path / "monitor.yaml"
    config.write_text(f"recovery:\n  settings_file: {fifo}\n")
    started = time.monotonic()
    result = wfdoctor("recover", "--apply", "lower_ui_quality", "--config", str(config), "--db", str(tmp_path / "w.db"))
    assert time.monotonic() - started < CLI_BOUND_S
    assert result.returncode == 1 and "Traceback" not in result.stderr, result.stderr[-2000:]
    assert "not a regular file" in " ".join(result.stdout.split())
    assert stat.S_ISFIFO(fifo.stat().st_mode)  # left as it was


def test_a_rules_or_config_file_that_is_a_fifo_never_blocks_the_start(tmp_path: Path) -> None:
    import os

    fifo = tmp_path / "rules.yaml"
    os.mkfifo(fifo)
    started = time.monotonic()
    one_line_error(monitor_once(tmp_path / "w.db", "--rules", str(fifo)), str(fifo))
    config = monitor_once(tmp_path / "w.db", "--config", str(fifo))  # reads as an empty config
    assert config.returncode == 0 and "Traceback" not in config.stderr, config.stderr[-2000:]
    assert time.monotonic() - started < CLI_BOUND_S


def test_a_file_receiver_on_a_fifo_nobody_reads_fails_the_delivery_and_the_monitor_still_exits(tmp_path: Path) -> None:
    """Its thread waited in open() for a reader for good, and asyncio waits for its threads at exit."""
    import os

    fifo = tmp_path / "alerts.jsonl"
    os.mkfifo(fifo)
    rules = tmp_path / "rules.yaml"
    rules.write_text(ALWAYS_FIRING)
    config = tmp_path / "monitor.yaml"
    config.write_text(f"routing:\n  delivery_timeout: 2s\n  route: {{receiver: f, group_wait: 0s}}\n"
                      f"  receivers: [{{name: f, file_configs: [{{path: {fifo}}}]}}]\n")
    started = time.monotonic()
    result = monitor_once(tmp_path / "w.db", "--rules", str(rules), "--config", str(config), "--interval", "0.2",
                          "--duration", "5")
    assert time.monotonic() - started < CLI_BOUND_S
    assert result.returncode == 0 and "Traceback" not in result.stderr, result.stderr[-2000:]
    assert f"receiver f (file {fifo}): firing AlwaysFiring not delivered" in result.stderr, result.stderr[-3000:]
