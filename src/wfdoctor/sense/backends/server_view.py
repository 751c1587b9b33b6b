"""What a server says about its own work and load: the server's view, beside what the client measured.

llama.cpp's server (started with `--metrics`, `--slots`) and vLLM publish Prometheus counters of the
prompt and generated tokens they processed and the seconds they spent on each, and gauges of the
requests running and waiting; Ollama's `/api/ps` lists the loaded models and their VRAM. A token
run reads a snapshot before and after each level, so the counters' differences are exactly the
level's work as the server counted it, and a few more while it streams (`measure/tokens.py`), for
the gauges' peaks.

Reading never raises: a server without the endpoint (404, 501, not llama.cpp or vLLM, llama-cpp-python,
which has none) gives an empty view whose `note` says why, "nothing to report" rather than a failure.
The Prometheus text is parsed by prometheus_client's own parser (the format has enough corners:
escaping, `_total` suffixes, histograms' `_sum` and `_count`).
"""

from __future__ import annotations

import json
import math
from dataclasses import replace

import aiohttp
from prometheus_client.parser import text_string_to_metric_families

from wfdoctor.sense.backends.base import ServerView
from wfdoctor.sense.backends.http import TRANSPORT_ERRORS, bounded_body

LLAMACPP = "llama.cpp /metrics"
LLAMACPP_SLOTS = "llama.cpp /metrics and /slots"
VLLM = "vLLM /metrics"
OLLAMA = "Ollama /api/ps"
MAX_BYTES = 1 << 20   # a metrics page or slot list is a few kB (vLLM's histograms a few tens); more is not a server's
READ_TIMEOUT_S = 5.0  # a page served from memory: a server this slow to say is as good as silent
NO_METRICS = "llama-cpp-python"  # serves no /metrics; asking it anything may queue behind its model lock


# Shares and maxima: several engines' (or models') series are not added up, the highest is kept.
HIGHEST = frozenset({"vllm:kv_cache_usage_perc", "vllm:gpu_cache_usage_perc", "llamacpp:kv_cache_usage_ratio",
                     "llamacpp:n_busy_slots_per_decode", "llamacpp:n_tokens_max"})


def prometheus_values(text: str) -> dict[str, float]:
    """Every series of a Prometheus text page, summed over its labels (one server, all its models; the
    `HIGHEST` series keep their highest value instead).

    Keys are family names without `_total`; a histogram adds `NAME_sum` and `NAME_count`. Raises
    ValueError on a page that is not Prometheus text.
    """
    values: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        base = family.name.removesuffix("_total")
        for sample in family.samples:
            if sample.name.endswith(("_bucket", "_created", "_gsum", "_gcount")):
                continue
            suffix = next((s for s in ("_sum", "_count") if family.type == "histogram" and sample.name.endswith(s)), "")
            key = base + suffix
            value = float(sample.value)
            if not math.isfinite(value) or value < 0:   # no counter, gauge or share of ours is negative or endless
                continue
            values[key] = max(values.get(key, value), value) if key in HIGHEST else values.get(key, 0.0) + value
    return values


def llamacpp_view(values: dict[str, float], slots: list[dict[str, object]] | None) -> ServerView:
    """llama.cpp's `/metrics` (and `/slots`, where served) as a view.

    `llamacpp:n_busy_slots_per_decode` is the busy slots summed over every decode call divided by
    the calls: times the call counter, it becomes a counter whose differences give the mean busy
    slots over any window. `llamacpp:kv_cache_usage_ratio` is read where the version still serves it.
    """
    steps = values.get("llamacpp:n_decode")
    per_step = values.get("llamacpp:n_busy_slots_per_decode")
    busy = sum(1 for s in slots if s.get("is_processing") is True) if slots is not None else None
    contexts = {n for s in slots or [] if isinstance(n := s.get("n_ctx"), int) and not isinstance(n, bool) and n > 0}
    context = contexts.pop() if len(contexts) == 1 else None
    return ServerView(
        source=LLAMACPP if slots is None else LLAMACPP_SLOTS, prompt_tokens=values.get("llamacpp:prompt_tokens"),
        generated_tokens=values.get("llamacpp:tokens_predicted"), prefill_s=values.get("llamacpp:prompt_seconds"),
        decode_s=values.get("llamacpp:tokens_predicted_seconds"), decode_steps=steps,
        busy_slot_steps=per_step * steps if per_step is not None and steps is not None else None,
        longest_sequence=values.get("llamacpp:n_tokens_max"), running=values.get("llamacpp:requests_processing"),
        waiting=values.get("llamacpp:requests_deferred"), kv_cache_ratio=values.get("llamacpp:kv_cache_usage_ratio"),
        slots_busy=busy, slots_total=len(slots) if slots is not None else None,
        slot_context=context if isinstance(context, int) and context > 0 else None)


def vllm_view(values: dict[str, float]) -> ServerView:
    """vLLM's `/metrics` as a view (`kv_cache_usage_perc` since V1, `gpu_cache_usage_perc` before: both 0-1)."""
    kv = values.get("vllm:kv_cache_usage_perc", values.get("vllm:gpu_cache_usage_perc"))
    return ServerView(
        source=VLLM, prompt_tokens=values.get("vllm:prompt_tokens"),
        generated_tokens=values.get("vllm:generation_tokens"),
        prefill_s=values.get("vllm:request_prefill_time_seconds_sum"),
        decode_s=values.get("vllm:request_decode_time_seconds_sum"),
        queue_s=values.get("vllm:request_queue_time_seconds_sum"),
        finished=values.get("vllm:request_queue_time_seconds_count"), preemptions=values.get("vllm:num_preemptions"),
        running=values.get("vllm:num_requests_running"), waiting=values.get("vllm:num_requests_waiting"),
        kv_cache_ratio=kv)


def parse_slots(text: str) -> list[dict[str, object]] | None:
    """`/slots`: a JSON list of slot objects; anything else is None."""
    try:
        slots = json.loads(text)
    except ValueError:
        return None
    if not isinstance(slots, list) or not all(isinstance(s, dict) for s in slots):
        return None
    return slots


def parse_metrics_page(text: str, slots_text: str | None = None) -> ServerView:
    """A `/metrics` page as the view of whichever server wrote it (by its metric prefix)."""
    try:
        values = prometheus_values(text)
    except ValueError as exc:
        return ServerView(note=f"/metrics is not Prometheus text ({exc})")
    if any(name.startswith("llamacpp:") for name in values):
        return llamacpp_view(values, parse_slots(slots_text) if slots_text else None)
    if any(name.startswith("vllm:") for name in values):
        return vllm_view(values)
    return ServerView(note="/metrics has no llama.cpp or vLLM metrics")


TOO_LARGE = f"over {MAX_BYTES >> 20} MiB: not read (a server's page is a few kB)"
CLOSE = {"Connection": "close"}


async def fetch_text(client: aiohttp.ClientSession, url: str) -> str | None:
    """The body of a GET that answered 200; None for anything else."""
    return (await fetch_page(client, url))[0]


async def fetch_page(client: aiohttp.ClientSession, url: str) -> tuple[str | None, str]:
    """(the body of a GET that answered 200, "") or (None, why not: "" for no such page, TOO_LARGE).

    A page over MAX_BYTES is not read at all rather than cut: a counter's digits cut
    at the boundary would read as another number. The connection is not kept: pages
    are read while streams run (`measure/tokens.py`), and with `--client aiohttp` a
    stream could take a pooled connection the server has since closed, a retry.
    """
    timeout = aiohttp.ClientTimeout(total=min(client.timeout.total or READ_TIMEOUT_S, READ_TIMEOUT_S))
    try:
        async with client.get(url, timeout=timeout, headers=CLOSE) as response:
            if response.status != 200:
                return None, ""
            body = await bounded_body(response, MAX_BYTES)
    except TRANSPORT_ERRORS:
        return None, ""
    if body is None:
        return None, TOO_LARGE
    return body.decode("utf-8", "replace"), ""


async def read_metrics_view(client: aiohttp.ClientSession, url: str, implementation: str) -> ServerView:
    """The view of an OpenAI-compatible server from its `/metrics` (and llama.cpp's `/slots`)."""
    if implementation == NO_METRICS:
        return ServerView(note=f"{implementation} serves no /metrics")
    page, problem = await fetch_page(client, f"{url}/metrics")
    if page is None:
        return ServerView(note=f"{url}/metrics {problem}" if problem else
                          f"no /metrics at {url} (llama.cpp: start it with --metrics)")
    if "llamacpp:" not in page:
        return parse_metrics_page(page)
    slots, slots_problem = await fetch_page(client, f"{url}/slots")
    view = parse_metrics_page(page, slots)
    return replace(view, note=f"{url}/slots {slots_problem}") if slots_problem and not view.note else view
