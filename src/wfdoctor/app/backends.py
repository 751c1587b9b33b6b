"""Which LLM server a command measures: the one named, else the first that answers, else the embedded engine.

Every command that needs a server comes here, so the embedded fallback, its
note and its failure message exist once. The embedded server lives until the
caller's ExitStack closes.
"""

from __future__ import annotations

import asyncio
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

from wfdoctor.app.progress import Progress
from wfdoctor.model import WfdoctorError
from wfdoctor.sense.backends.base import BackendStatus
from wfdoctor.sense.backends.discovery import checked_url, discover
from wfdoctor.sense.backends.embedded import EmbeddedServer, smollm2_model_path

EMBEDDED_NOTE = "no LLM server answered: the embedded SmolLM2 engine stood in as the backend"
QUEUED_MEMBERS = "with interrupts off, so that members queue instead of cutting each other off"
NO_SERVER = "no LLM server answered on the usual ports; name one with --backend URL"


@dataclass(frozen=True)
class ChosenBackend:
    url: str
    embedded: bool                 # the engine wfdoctor started (or runs in process)
    model_file: Path | None = None  # known when wfdoctor started the engine itself
    note: str = ""


def start_embedded(stack: ExitStack, progress: Progress, extra_args: list[str] | None = None,
                   why: str = "") -> EmbeddedServer:
    """Start the embedded SmolLM2 server, kept until `stack` closes; `why` explains `extra_args` to the user."""
    progress.note("no LLM server answered: starting the embedded SmolLM2 engine" + (f" ({why})" if why else ""))
    return stack.enter_context(EmbeddedServer(extra_args=extra_args))


def choose_backend(url: str | None, allow_embedded: bool, stack: ExitStack, progress: Progress,
                   extra_args: list[str] | None = None, why: str = "") -> ChosenBackend:
    """The server to measure: `url` if given, else discovery's first answer, else the embedded engine."""
    if url:
        return ChosenBackend(url=checked_url(url), embedded=url.startswith("embedded"))
    answering = [status for status in asyncio.run(discover()) if status.answered]
    if answering:
        return ChosenBackend(url=answering[0].url, embedded=False)
    if not allow_embedded:
        raise WfdoctorError(NO_SERVER)
    server = start_embedded(stack, progress, extra_args, why)
    return ChosenBackend(url=server.base_url, embedded=True, model_file=server.model_path, note=EMBEDDED_NOTE)


def embedded_status(stack: ExitStack, progress: Progress) -> BackendStatus:
    """Start the embedded engine and probe it like any server (diagnose's fallback)."""
    server = start_embedded(stack, progress)
    status = asyncio.run(discover([server.base_url]))[0]
    status.embedded = True
    status.detail = (f"embedded llama-cpp-python server with {server.model_path.name}, "
                     f"started in {server.startup_seconds:.1f} s")
    return status


def embedded_model_dirs() -> list[Path]:
    """Where the embedded model lives (its disk is worth watching); none when it is not installed."""
    try:
        return [smollm2_model_path().parent]
    except WfdoctorError:
        return []
