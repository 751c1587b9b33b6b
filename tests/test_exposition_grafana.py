"""The shipped Grafana dashboard: generated, over registered metrics, importable with any Prometheus."""

from __future__ import annotations

import json
import re

from wfdoctor.config.metrics import load_metrics
from wfdoctor.surface.grafana import SHIPPED, grafana_dashboard, render_dashboard

METRIC = re.compile(r"\bwf_[a-z0-9_]+")


def test_the_shipped_dashboard_is_the_generated_one() -> None:
    assert SHIPPED.read_text(encoding="utf-8") == render_dashboard(), \
        "stale: run python scripts/gen_exports.py"


def test_every_metric_the_dashboard_names_is_registered() -> None:
    named = set(METRIC.findall(SHIPPED.read_text(encoding="utf-8")))
    assert named and named <= set(load_metrics().specs), named - set(load_metrics().specs)


def test_it_shows_what_the_monitor_watches() -> None:
    exprs = " ".join(target["expr"] for panel in grafana_dashboard()["panels"] for target in panel["targets"])
    for metric in ("wf_cpu_utilization_ratio", "wf_cpu_core_utilization_ratio", "wf_memory_used_ratio",
                   "wf_swap_used_bytes", "wf_gpu_memory_used_ratio", "wf_gpu_temperature_celsius",
                   "wf_llm_decode_tokens_per_second", "wf_llm_time_to_first_token_seconds",
                   "wf_llm_failed_streams_ratio", "wf_council_efficiency_ratio", "wf_council_sync_delay_seconds",
                   "wf_memory_growth_bytes_per_minute", "wf_ui_frame_time_seconds", "wf_monitor_alerts"):
        assert metric in exprs


def test_the_data_source_is_an_import_input_and_every_query_follows_the_machine_picker() -> None:
    dashboard = json.loads(SHIPPED.read_text(encoding="utf-8"))
    assert [item["name"] for item in dashboard["__inputs"]] == ["DS_PROMETHEUS"]
    for panel in dashboard["panels"]:
        assert panel["datasource"]["uid"] == "${DS_PROMETHEUS}"
        for target in panel["targets"]:
            assert target["datasource"]["uid"] == "${DS_PROMETHEUS}"
            assert 'instance=~"$instance"' in target["expr"]


def test_panels_do_not_overlap() -> None:
    cells = [(panel["gridPos"]["x"], panel["gridPos"]["y"]) for panel in grafana_dashboard()["panels"]]
    assert len(cells) == len(set(cells))
