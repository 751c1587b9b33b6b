"""Find local LLM servers: probe every registered protocol's usual loopback URLs at once, briefly.

Which URLs those are is each protocol's own declaration (Ollama 11434; the
OpenAI API on llama.cpp's 8080, vLLM's 8000, LM Studio's 1234; plugins theirs).
Every probe has a short timeout and all URLs, and all protocols at a URL, are probed concurrently, so
discovery costs about one timeout when nothing answers.
"""

from __future__ import annotations

import asyncio
from dataclasses import replace
from urllib.parse import urlsplit

import aiohttp

from wfdoctor.model import Sample, WfdoctorError
from wfdoctor.sense.backends import registry
from wfdoctor.sense.backends.base import BackendStatus
from wfdoctor.sense.backends.http import TRANSPORT_ERRORS, HttpStatusError, error_text, make_session
from wfdoctor.sense.backends.registry import BackendProtocol

# What a probe raises when the URL does not speak its protocol (see `BackendProtocol`).
NOT_THIS_PROTOCOL = (*TRANSPORT_ERRORS, HttpStatusError, ValueError, KeyError, TypeError, WfdoctorError)


async def _try(protocol: BackendProtocol, client: aiohttp.ClientSession, url: str) -> BackendStatus | str:
    """The status `protocol` reads at `url` (its `kind` is the protocol's registered name,
    whatever the probe put there), or why that protocol does not speak it."""
    try:
        return replace(await protocol.probe(client, url), kind=protocol.name)
    except NOT_THIS_PROTOCOL as exc:
        return f"{protocol.name}: {error_text(exc)}"


async def _probe_url(client: aiohttp.ClientSession, url: str, candidates: list[BackendProtocol]) -> BackendStatus:
    """Try every protocol at once, so a server that hangs costs one timeout, not one per protocol;
    the first in registration order that answers names the server."""
    outcomes = await asyncio.gather(*(_try(protocol, client, url) for protocol in candidates))
    for outcome in outcomes:
        if isinstance(outcome, BackendStatus):
            return outcome
    return BackendStatus(url=url, kind=candidates[0].name if len(candidates) == 1 else "unknown", answered=False,
                         error="; ".join(str(o) for o in outcomes) or "no registered protocol speaks this URL")


def checked_url(url: str) -> str:
    """`url` without a trailing slash; for an http(s) URL whose host or port cannot be read (a port out of range
    or not a number, a broken IPv6 address, no host), a WfdoctorError naming it, before anything is probed."""
    url = url.rstrip("/")
    if registry.scheme_of(url) in ("http", "https") and "://" in url:
        try:
            parts = urlsplit(url)
            _ = parts.port  # urllib checks the port only when it is read
        except ValueError as exc:
            raise WfdoctorError(f"{url}: not a usable server URL ({exc})") from None
        if not parts.hostname:
            raise WfdoctorError(f"{url}: not a usable server URL (no host)")
    return url


def _targets(urls: list[str] | None) -> list[tuple[str, list[BackendProtocol]]]:
    """(URL, protocols to try there): each named URL (checked) with every protocol speaking
    its scheme, else every protocol's default URLs, in registration order."""
    if urls:
        return [(checked_url(url), registry.speaking(url)) for url in urls]
    defaults: dict[str, list[BackendProtocol]] = {}
    for protocol in registry.protocols():
        for url in protocol.default_urls:
            defaults.setdefault(url, []).append(protocol)
    return list(defaults.items())


async def discover(urls: list[str] | None = None, timeout_s: float = 1.0) -> list[BackendStatus]:
    """Probe `urls` (any registered protocol) or, when none are given, the default URLs."""
    targets = _targets(urls)
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
            source = f"{status.kind} {registry.named(status.kind).reports.model_sizes}"
            if model.size_bytes is not None and model.loaded:
                out.append(Sample("wf_llm_model_loaded_bytes", model.size_bytes, "bytes", source, model_labels))
            if model.vram_bytes is not None:
                out.append(Sample("wf_llm_model_vram_bytes", model.vram_bytes, "bytes", source, model_labels))
    return out
