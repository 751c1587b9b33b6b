"""The page door: `POST /api/frames` (wf-perf-monitor.js's reports) and `GET /api/settings`."""

from __future__ import annotations

from aiohttp import web

from wfdoctor.app.monitor_view import MonitorView


def ingest_routes(view: MonitorView) -> list[web.RouteDef]:
    """Routes for pages that report their frames and read their settings."""
    return []
