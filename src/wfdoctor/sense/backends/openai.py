"""OpenAI-compatible servers (llama.cpp, llama-cpp-python, LM Studio, vLLM): `/v1/models`."""

from __future__ import annotations

import time

import httpx

from wfdoctor.sense.backends.base import BackendStatus, ModelInfo

KIND = "openai"


async def probe_openai(client: httpx.AsyncClient, url: str) -> BackendStatus:
    """List the models an OpenAI-compatible server serves.

    The API has no notion of loaded vs installed; servers of this family serve
    what they list, so every listed model counts as loaded.
    """
    started = time.perf_counter()
    response = await client.get(f"{url}/v1/models")
    response.raise_for_status()
    latency = time.perf_counter() - started
    models = [ModelInfo(name=str(entry.get("id", "?")), loaded=True) for entry in response.json().get("data", [])]
    return BackendStatus(url=url, kind=KIND, answered=True, latency_s=latency, models=models)
