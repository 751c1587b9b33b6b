"""Find local LLM servers: probe the usual loopback ports at once, briefly.

Ollama listens on 11434; llama.cpp's server on 8080, vLLM on 8000, LM Studio on
1234 (all OpenAI-compatible). Every probe has a short timeout and all run
concurrently, so discovery costs about one timeout when nothing answers.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import aiohttp

from wfdoctor.model import Sample
from wfdoctor.sense.backends.base import BackendStatus
from wfdoctor.sense.backends.http import TRANSPORT_ERRORS, HttpStatusError, error_text, make_session
from wfdoctor.sense.backends.ollama import probe_ollama
from wfdoctor.sense.backends.openai import probe_openai

Probe = Callable[[aiohttp.ClientSession, str], Awaitable[BackendStatus]]

DEFAULT_CANDIDATES: list[tuple[str, str]] = [
    ("http://127.0.0.1:11434", "ollama"),
    ("http://127.0.0.1:8080", "openai"),
    ("http://127.0.0.1:8000", "openai"),
    ("http://127.0.0.1:1234", "openai"),
]
PROBES: dict[str, Probe] = {"ollama": probe_ollama, "openai": probe_openai}


async def _probe_url(client: aiohttp.ClientSession, url: str, kinds: list[str]) -> BackendStatus:
    """Try each protocol in turn; the first that answers names the server."""
    errors = []
    for kind in kinds:
        try:
            return await PROBES[kind](client, url)
        except (*TRANSPORT_ERRORS, HttpStatusError, ValueError, KeyError, TypeError) as exc:
            errors.append(f"{kind}: {error_text(exc)}")
    return BackendStatus(url=url, kind=kinds[0] if len(kinds) == 1 else "unknown", answered=False,
                         error="; ".join(errors))


async def discover(urls: list[str] | None = None, timeout_s: float = 1.0) -> list[BackendStatus]:
    """Probe `urls` (any protocol) or, when none are given, the default ports."""
    if urls:
        targets = [(url.rstrip("/"), ["ollama", "openai"]) for url in urls]
    else:
        targets = [(url, [kind]) for url, kind in DEFAULT_CANDIDATES]
    async with make_session(timeout_s, len(targets), connect_timeout_s=0.5) as client:
        return list(await asyncio.gather(*(_probe_url(client, url, kinds) for url, kinds in targets)))


def backend_samples(statuses: list[BackendStatus]) -> list[Sample]:
    """Up/down, probe latency and model sizes as Samples."""
    out: list[Sample] = []
    for status in statuses:
        labels = {"url": status.url, "kind": status.kind}
        out.append(Sample("wf_llm_server_up", 1.0 if status.answered else 0.0, "bool", "http probe", labels))
        if status.latency_s is not None:
            out.append(Sample("wf_llm_server_probe_latency_seconds", status.latency_s, "s", "http probe", labels))
        for model in status.models:
            model_labels = labels | {"model": model.name}
            if model.size_bytes is not None and model.loaded:
                out.append(Sample("wf_llm_model_loaded_bytes", model.size_bytes, "bytes", f"{status.kind} /api/ps",
                                  model_labels))
            if model.vram_bytes is not None:
                out.append(Sample("wf_llm_model_vram_bytes", model.vram_bytes, "bytes", f"{status.kind} /api/ps",
                                  model_labels))
    return out
