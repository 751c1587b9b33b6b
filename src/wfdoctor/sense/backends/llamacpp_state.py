"""What llama.cpp's server says about its own load, as the monitor's samples: `/metrics` (started with
`--metrics`) and `/slots` (with `--slots`). Both are cheap reads that take no model lock, so the monitor can
ask every server interval: requests being generated, requests waiting (deferred: every slot busy), busy slots.

The pages are read and parsed by `server_view` (the token run reads the same view around each level);
a server without these endpoints (not llama.cpp, or started without the flags) is nothing to report.
"""

from __future__ import annotations

import aiohttp

from wfdoctor.model import Sample
from wfdoctor.sense.backends.base import ServerView
from wfdoctor.sense.backends.server_view import LLAMACPP, fetch_text, llamacpp_view, parse_metrics_page
from wfdoctor.sense.backends.server_view import parse_slots as parse_slots_page

SLOTS = "llama.cpp /slots"


def parse_metrics(text: str, labels: dict[str, str]) -> list[Sample]:
    """The request gauges of a llama.cpp `/metrics` page (nothing from another server's page)."""
    view = parse_metrics_page(text)
    if not view.source.startswith(LLAMACPP):
        return []
    gauges = (("wf_llm_server_requests_processing", view.running), ("wf_llm_server_requests_deferred", view.waiting))
    return [Sample(metric, value, "requests", LLAMACPP, labels) for metric, value in gauges if value is not None]


def slot_samples(view: ServerView, labels: dict[str, str]) -> list[Sample]:
    """Busy and total slots, where the view has `/slots`."""
    if view.slots_busy is None or view.slots_total is None:
        return []
    return [Sample("wf_llm_server_slots_busy", float(view.slots_busy), "slots", SLOTS, labels),
            Sample("wf_llm_server_slots_total", float(view.slots_total), "slots", SLOTS, labels)]


def parse_slots(text: str, labels: dict[str, str]) -> list[Sample]:
    """Busy and total slots from `/slots` (a JSON list of slots with `is_processing`)."""
    slots = parse_slots_page(text)
    return slot_samples(llamacpp_view({}, slots), labels) if slots is not None else []


async def llamacpp_state(client: aiohttp.ClientSession, url: str, kind: str) -> list[Sample]:
    """Load samples of the server at `url` (empty where it has no such endpoints)."""
    labels = {"url": url, "kind": kind}
    metrics = await fetch_text(client, f"{url}/metrics")
    slots = await fetch_text(client, f"{url}/slots")
    return (parse_metrics(metrics, labels) if metrics else []) + (parse_slots(slots, labels) if slots else [])
