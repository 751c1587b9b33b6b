"""Ollama's native API: `/api/version`, `/api/tags` (installed), `/api/ps` (loaded)."""

from __future__ import annotations

import time

import httpx

from wfdoctor.sense.backends.base import BackendStatus, ModelInfo

KIND = "ollama"


async def probe_ollama(client: httpx.AsyncClient, url: str) -> BackendStatus:
    """Ask an Ollama server for its version, installed and loaded models."""
    started = time.perf_counter()
    response = await client.get(f"{url}/api/version")
    response.raise_for_status()
    latency = time.perf_counter() - started
    version = str(response.json().get("version", ""))
    loaded: dict[str, ModelInfo] = {}
    ps = await client.get(f"{url}/api/ps")
    if ps.status_code == 200:
        for entry in ps.json().get("models", []):
            loaded[entry["name"]] = ModelInfo(
                name=entry["name"], loaded=True, size_bytes=entry.get("size"),
                vram_bytes=entry.get("size_vram"), expires_at=entry.get("expires_at"),
            )
    models = list(loaded.values())
    tags = await client.get(f"{url}/api/tags")
    if tags.status_code == 200:
        for entry in tags.json().get("models", []):
            if entry["name"] not in loaded:
                models.append(ModelInfo(name=entry["name"], loaded=False, size_bytes=entry.get("size")))
    return BackendStatus(url=url, kind=KIND, answered=True, latency_s=latency, version=version, models=models)
