"""`/metrics` content: what a Prometheus scrape of the monitor reads."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from tests.prometheus_tools import StubView
from wfdoctor.config.metrics import load_metrics
from wfdoctor.model import Alert, AlertState, Sample
from wfdoctor.surface.exposition import label_name, monitor_registry


def scrape(view: StubView) -> dict[str, list[tuple[dict[str, str], float]]]:
    """The exposition as prometheus-client's own parser reads it: name -> [(labels, value)]."""
    text = generate_latest(monitor_registry(view)).decode("utf-8")
    return {family.name: [(sample.labels, sample.value) for sample in family.samples]
            for family in text_string_to_metric_families(text)}


def cpu(value: float, ts: float = 100.0, **labels: str) -> Sample:
    return Sample("wf_cpu_utilization_ratio", value, "ratio", "test", labels, ts)


def firing(name: str, state: AlertState = AlertState.FIRING, **labels: str) -> Alert:
    return Alert(name, {"alertname": name, "severity": "warning", **labels}, {"summary": "s"}, state, 0.97, 1.0)


def test_latest_samples_are_gauges_named_and_explained_by_the_registry() -> None:
    view = StubView(samples=[cpu(0.25, window_s="1"),
                             Sample("wf_gpu_temperature_celsius", 71.0, "°C", "nvml", {"gpu": "0", "name": "H100"})])
    text = generate_latest(monitor_registry(view)).decode()
    assert 'wf_cpu_utilization_ratio{window_s="1"} 0.25' in text
    assert "# TYPE wf_gpu_temperature_celsius gauge" in text
    assert f"# HELP wf_cpu_utilization_ratio {load_metrics().specs['wf_cpu_utilization_ratio'].help}" in text
    assert scrape(view)["wf_gpu_temperature_celsius"] == [({"gpu": "0", "name": "H100"}, 71.0)]


def test_every_exposed_name_is_registered_and_an_unregistered_sample_is_left_out() -> None:
    view = StubView(samples=[cpu(0.5), Sample("pytest_benchmark_mean", 1.0, "s", "import"),
                             Sample("wf_not_a_metric", 1.0, "x", "typo")], alerts=[firing("HighMemory")])
    exposed = scrape(view)
    assert set(exposed) <= set(load_metrics().specs)
    assert "wf_not_a_metric" not in exposed and "pytest_benchmark_mean" not in exposed


def test_alerts_are_exposed_like_prometheus_alerts_series() -> None:
    view = StubView(alerts=[firing("HighMemory", instance_role="llm"),
                            firing("SlowTokens", AlertState.PENDING)])
    assert sorted(scrape(view)["wf_monitor_alerts"], key=lambda item: item[0]["alertname"]) == [
        ({"alertname": "HighMemory", "alertstate": "firing", "severity": "warning", "instance_role": "llm"}, 1.0),
        ({"alertname": "SlowTokens", "alertstate": "pending", "severity": "warning"}, 1.0)]


def test_the_info_series_names_the_version() -> None:
    [(labels, value)] = scrape(StubView())["wf_monitor_info"]
    assert labels["version"] and value == 1.0


def test_one_series_per_label_set_the_newest_wins() -> None:
    """Prometheus refuses a whole scrape with a duplicate series: labels that sanitise alike collapse."""
    view = StubView(samples=[cpu(0.9, ts=200.0, **{"window-s": "1"}), cpu(0.1, ts=100.0, window_s="1")])
    assert scrape(view)["wf_cpu_utilization_ratio"] == [({"window_s": "1"}, 0.9)]


def test_label_names_are_made_valid_and_reserved_names_ordinary() -> None:
    assert label_name("window_s") == "window_s"
    assert label_name("gpu.name") == "gpu_name"
    assert label_name("__name__") == "name__"
    assert label_name("0core") == "label_0core"
    assert label_name("") == "label_"


@settings(max_examples=60, deadline=None)
@given(st.text(max_size=40))
def test_untrusted_label_values_round_trip_through_the_text_format(model: str) -> None:
    """A model name with quotes, backslashes, newlines or any unicode is shown as text, never breaks a scrape."""
    view = StubView(samples=[Sample("wf_llm_model_loaded_bytes", 5e9, "bytes", "ollama",
                                    {"url": "http://x", "kind": "ollama", "model": model})])
    [(labels, value)] = scrape(view)["wf_llm_model_loaded_bytes"]
    assert labels["model"] == model and value == 5e9


def test_hostile_label_value_is_escaped_on_one_line() -> None:
    view = StubView(samples=[cpu(0.5, window_s='1"} evil 1\nwf_fake 2')])
    text = generate_latest(monitor_registry(view)).decode()
    assert "\nwf_fake 2" not in text
    assert 'window_s="1\\"} evil 1\\nwf_fake 2"' in text
