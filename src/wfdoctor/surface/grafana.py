"""The shipped Grafana dashboard, generated from one table of panels over registered metrics.

A fleet that scrapes each machine's `/metrics` imports `data/exports/grafana-dashboard.json`
and sees what `wfdoctor monitor` watches, with no glue. The dashboard is generated (by
`scripts/gen_exports.py`) rather than hand-edited so that every query names a metric the
registry declares; a test fails when the shipped file and the generator disagree. The data
source is the import-time input `${DS_PROMETHEUS}`, as Grafana's exported dashboards do, and
an `instance` variable picks the machines.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

SHIPPED = Path(__file__).resolve().parent.parent / "data" / "exports" / "grafana-dashboard.json"
DATASOURCE = {"type": "prometheus", "uid": "${DS_PROMETHEUS}"}
ON = '{instance=~"$instance"}'
PANEL_WIDTH = 12          # Grafana's grid is 24 columns wide: two panels a row
PANEL_HEIGHT = 8


@dataclass(frozen=True)
class Panel:
    """One panel: a title, its queries as (PromQL, legend) and the Grafana unit of its axis."""

    title: str
    queries: tuple[tuple[str, str], ...]
    unit: str
    kind: str = "timeseries"


def _on(metric: str, extra: str = "") -> str:
    """`metric{instance=~"$instance",extra}`: every query follows the dashboard's machine picker."""
    return f"{metric}{ON[:-1]}{',' + extra if extra else ''}}}"


PANELS: tuple[Panel, ...] = (
    Panel("CPU busy", ((_on("wf_cpu_utilization_ratio"), "{{instance}}"),), "percentunit"),
    Panel("CPU busy per core", ((_on("wf_cpu_core_utilization_ratio"), "{{instance}} core {{core}}"),),
          "percentunit"),
    Panel("Memory used", ((_on("wf_memory_used_ratio"), "{{instance}}"),), "percentunit"),
    Panel("Swap", ((_on("wf_swap_used_bytes"), "{{instance}} used"),
                   (_on("wf_swap_bytes_per_second"), "{{instance}} {{direction}} /s")), "bytes"),
    Panel("GPU memory used", ((_on("wf_gpu_memory_used_ratio"), "{{instance}} GPU {{gpu}}"),), "percentunit"),
    Panel("GPU temperature", ((_on("wf_gpu_temperature_celsius"), "{{instance}} GPU {{gpu}}"),), "celsius"),
    Panel("Decode tokens/s", ((_on("wf_llm_decode_tokens_per_second"), "{{instance}} {{stat}}"),), "none"),
    Panel("Time to first token", ((_on("wf_llm_time_to_first_token_seconds"), "{{instance}} {{stat}}"),), "s"),
    Panel("Failed streams", ((_on("wf_llm_failed_streams_ratio"), "{{instance}}"),), "percentunit"),
    Panel("Council efficiency", ((_on("wf_council_efficiency_ratio"), "{{instance}} {{members}} members"),),
          "percentunit"),
    Panel("Council sync delay", ((_on("wf_council_sync_delay_seconds"), "{{instance}} {{members}} members"),),
          "s"),
    Panel("Memory growth", ((_on("wf_memory_growth_bytes_per_minute"), "{{instance}} {{name}} ({{pid}})"),
                            (_on("wf_memory_leak_bytes_per_minute"), "{{instance}} {{name}} leak")), "bytes"),
    Panel("UI frame time", ((_on("wf_ui_frame_time_seconds", 'stat="mean"'), "{{instance}} {{page}}"),), "s"),
    Panel("Alerts pending or firing", ((_on("wf_monitor_alerts"), "{{alertname}} {{alertstate}}"),), "none",
          "table"),
)


def _panel(index: int, panel: Panel) -> dict[str, object]:
    table = panel.kind == "table"
    return {
        "id": index + 1,
        "type": panel.kind,
        "title": panel.title,
        "datasource": DATASOURCE,
        "gridPos": {"x": (index % 2) * PANEL_WIDTH, "y": (index // 2) * PANEL_HEIGHT,
                    "w": PANEL_WIDTH, "h": PANEL_HEIGHT},
        "fieldConfig": {"defaults": {"unit": panel.unit}, "overrides": []},
        "options": {"showHeader": True} if table else {"legend": {"displayMode": "list", "placement": "bottom"}},
        "targets": [{"refId": chr(ord("A") + number), "datasource": DATASOURCE, "expr": expr,
                     "legendFormat": legend, "instant": table, "range": not table}
                    for number, (expr, legend) in enumerate(panel.queries)],
    }


def grafana_dashboard() -> dict[str, object]:
    """The dashboard document, ready for Grafana's import (asks for a Prometheus data source)."""
    return {
        "__inputs": [{"name": "DS_PROMETHEUS", "label": "Prometheus", "description": "", "type": "datasource",
                      "pluginId": "prometheus", "pluginName": "Prometheus"}],
        "__requires": [{"type": "datasource", "id": "prometheus", "name": "Prometheus", "version": "1.0.0"},
                       {"type": "panel", "id": "timeseries", "name": "Time series", "version": ""},
                       {"type": "panel", "id": "table", "name": "Table", "version": ""}],
        "uid": "wfdoctor-monitor",
        "title": "wfdoctor monitor",
        "description": "What wfdoctor monitor watches, from its /metrics (generated: scripts/gen_exports.py)",
        "tags": ["wfdoctor", "llm"],
        "editable": True,
        "schemaVersion": 39,
        "time": {"from": "now-6h", "to": "now"},
        "refresh": "30s",
        "templating": {"list": [{
            "name": "instance", "label": "Machine", "type": "query", "datasource": DATASOURCE,
            "query": {"query": "label_values(wf_monitor_info, instance)", "refId": "instances"},
            "definition": "label_values(wf_monitor_info, instance)", "refresh": 2,
            "includeAll": True, "multi": True, "allValue": ".*",
            "current": {"selected": True, "text": ["All"], "value": ["$__all"]}}]},
        "panels": [_panel(index, panel) for index, panel in enumerate(PANELS)],
    }



def render_dashboard() -> str:
    """The dashboard as the shipped file holds it (stable key order, one trailing newline)."""
    return json.dumps(grafana_dashboard(), indent=2, ensure_ascii=False) + "\n"
