"""The dashboard: `/`, `/static/*` (the page, uPlot, wf-perf-monitor.js) and its live feed."""

from __future__ import annotations

from aiohttp import web

from wfdoctor.app.monitor_view import MonitorView


def dashboard_routes(view: MonitorView) -> list[web.RouteDef]:
    """Routes of the dashboard page and the data it draws."""
    return []
