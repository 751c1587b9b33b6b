"""What llama.cpp's server says about its own load, where it says it: `/metrics` (started with `--metrics`)
and `/slots` (with `--slots`). Both are cheap reads that take no model lock, so the monitor can ask every
server interval: requests being generated, requests waiting (deferred: every slot busy), busy slots.

A server without these endpoints (not llama.cpp, or started without the flags) answers 404 or 501;
that is no failure, just nothing to report.
"""

from __future__ import annotations

import json

import aiohttp

from wfdoctor.model import Sample
from wfdoctor.sense.backends.http import TRANSPORT_ERRORS

SOURCE = "llama.cpp"
MAX_BYTES = 1 << 20   # a metrics page or slot list is a few kB; more is not llama.cpp's
GAUGES = {"llamacpp:requests_processing": "wf_llm_server_requests_processing",
          "llamacpp:requests_deferred": "wf_llm_server_requests_deferred"}


async def _text(client: aiohttp.ClientSession, url: str) -> str | None:
    try:
        async with client.get(url) as response:
            if response.status != 200:
                return None
            return (await response.content.read(MAX_BYTES)).decode("utf-8", "replace")
    except TRANSPORT_ERRORS:
        return None


def parse_metrics(text: str, labels: dict[str, str]) -> list[Sample]:
    """The request gauges of a llama.cpp `/metrics` page (Prometheus text format, no labels on these)."""
    out = []
    for line in text.splitlines():
        name, _, value = line.partition(" ")
        if name in GAUGES:
            try:
                out.append(Sample(GAUGES[name], float(value.split()[0]), "requests", f"{SOURCE} /metrics", labels))
            except (ValueError, IndexError):
                continue
    return out


def parse_slots(text: str, labels: dict[str, str]) -> list[Sample]:
    """Busy and total slots from `/slots` (a JSON list of slots with `is_processing`)."""
    try:
        slots = json.loads(text)
    except ValueError:
        return []
    if not isinstance(slots, list) or not all(isinstance(s, dict) for s in slots):
        return []
    busy = sum(1 for s in slots if s.get("is_processing") is True)
    return [Sample("wf_llm_server_slots_busy", float(busy), "slots", f"{SOURCE} /slots", labels),
            Sample("wf_llm_server_slots_total", float(len(slots)), "slots", f"{SOURCE} /slots", labels)]


async def llamacpp_state(client: aiohttp.ClientSession, url: str, kind: str) -> list[Sample]:
    """Load samples of the server at `url` (empty where it has no such endpoints)."""
    labels = {"url": url, "kind": kind}
    metrics = await _text(client, f"{url}/metrics")
    slots = await _text(client, f"{url}/slots")
    return (parse_metrics(metrics, labels) if metrics else []) + (parse_slots(slots, labels) if slots else [])
