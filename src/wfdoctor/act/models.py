"""Model memory actions on Ollama: unload (keep_alive 0), preload, LRU eviction.

Dry run unless `apply` is set. Each action reads `/api/ps` before and after,
so the log shows what it changed, measured, not assumed.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from wfdoctor.model import ActionRecord, WfdoctorError
from wfdoctor.sense.backends import ollama
from wfdoctor.sense.backends.base import ModelInfo
from wfdoctor.sense.backends.discovery import discover
from wfdoctor.sense.backends.http import ANSWER_ERRORS, error_text, make_session

PRELOAD_KEEP_ALIVE = "30m"


@dataclass(frozen=True)
class LoadedState:
    """What Ollama's `/api/ps` says is loaded: the evidence before and after a model action."""

    loaded: list[ModelInfo]
    loaded_bytes: int
    vram_bytes: int


async def loaded_state(url: str) -> LoadedState:
    """What `/api/ps` says is loaded, as evidence for an action."""
    [status] = await discover([url], timeout_s=5.0)
    if not status.answered or status.kind != ollama.KIND:
        raise WfdoctorError(f"{url}: no Ollama server answered ({status.error or status.kind}); model actions "
                            "need Ollama's API")
    loaded = [m for m in status.models if m.loaded]
    return LoadedState(loaded=loaded, loaded_bytes=sum(m.size_bytes or 0 for m in loaded),
                       vram_bytes=sum(m.vram_bytes or 0 for m in loaded))


async def _load_or_unload(url: str, model: str, keep_alive: int | str, kind: str, reason: str,
                          apply: bool) -> ActionRecord:
    before = await loaded_state(url)
    error = ""
    if apply:
        try:
            async with make_session(60.0) as session:
                await ollama.set_keep_alive(session, url, model, keep_alive)
        except ANSWER_ERRORS as exc:
            error = error_text(exc)
    after = await loaded_state(url) if apply else before
    return ActionRecord(kind, f"{url}#{model}", "L1" if kind == "unload" else "L2", apply, reason,
                        dataclasses.asdict(before), dataclasses.asdict(after), error)


async def unload_model(url: str, model: str, apply: bool, reason: str = "asked for") -> ActionRecord:
    return await _load_or_unload(url, model, 0, "unload", reason, apply)


async def preload_model(url: str, model: str, apply: bool, reason: str = "asked for") -> ActionRecord:
    return await _load_or_unload(url, model, PRELOAD_KEEP_ALIVE, "preload", reason, apply)
