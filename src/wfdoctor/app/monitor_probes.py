"""The monitor's probes: the system and GPUs each tick, the LLM servers' state, the token canary.

Each probe returns what it read *and* whether it could read it: a failure (NVML gone, a server
down, a canary refused) is a `wf_monitor_probe_ok 0` sample and a sentence, never an exception
that reaches the monitor's loop. The system/GPU read and the canary are blocking work; the
monitor runs them off its event loop (`in_daemon_thread`, `asyncio.to_thread`).
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TypeVar

import aiohttp

from wfdoctor.analyze.tokens import summary_samples
from wfdoctor.app.tokens import TokensOptions, run_tokens
from wfdoctor.model import Sample, WfdoctorError
from wfdoctor.sense.backends import registry
from wfdoctor.sense.backends.base import BackendStatus
from wfdoctor.sense.backends.discovery import backend_samples, discover
from wfdoctor.sense.backends.http import make_session
from wfdoctor.sense.backends.llamacpp_state import llamacpp_state
from wfdoctor.sense.backends.openai import KIND as OPENAI_KIND
from wfdoctor.sense.backends.openai import LLAMA_CPP_PYTHON, identify_server
from wfdoctor.sense.gpu_nvml import NvmlSession, parse_gpus
from wfdoctor.sense.system import SystemProbe
from wfdoctor.store.db import Store

T = TypeVar("T")
SERVER_PROBE_TIMEOUT_S = 1.0
CANARY_MAX_TOKENS = 16
CANARY_TIMEOUT_S = 30.0
CANARY_LABELS = {"check": "canary"}


@dataclass(frozen=True)
class ProbeResult:
    """Samples read, and for each probe that failed, why (probe name -> sentence)."""

    samples: list[Sample] = field(default_factory=list)
    failures: dict[str, str] = field(default_factory=dict)


def probe_ok(probe: str, ok: bool) -> Sample:
    return Sample("wf_monitor_probe_ok", 1.0 if ok else 0.0, "bool", "wfdoctor monitor", {"probe": probe})


class MachineProbe:
    """CPU, memory, swap, disk (of the database's folder), processes and NVIDIA GPUs, one reading per call.

    NVML is opened once: no GPU at start is a fact said once (no GPU samples follow); NVML failing
    later is a probe failure each tick until it answers again.
    """

    def __init__(self, db: Path, process_every: int = 1) -> None:
        self._system = SystemProbe(paths={"database": db.parent}, process_every=process_every)
        self._nvml = NvmlSession()
        self.gpu_status = self._nvml.status if not self._nvml.open() else ""
        self._has_gpu = not self.gpu_status

    def read(self) -> ProbeResult:
        """One reading. The rates' `window_s` label (the seconds since the last reading, a little different
        every tick) is dropped: it would make every tick a new series; the monitor's interval is in its run."""
        samples = [replace(s, labels={k: v for k, v in s.labels.items() if k != "window_s"})
                   for s in self._system.read()]
        samples.append(probe_ok("system", True))
        if not self._has_gpu:
            return ProbeResult(samples)
        try:
            gpu = parse_gpus(self._nvml.read())
        except Exception as exc:  # noqa: BLE001 (pynvml raises its own NVMLError family, and driver bugs more)
            return ProbeResult(samples + [probe_ok("gpu", False)], {"gpu": f"NVML read failed: {exc}"})
        return ProbeResult(samples + gpu + [probe_ok("gpu", True)])

    def close(self) -> None:
        self._nvml.close()


class ServerWatch:
    """The LLM servers' passive state: the named URLs, else whatever discovery finds on the usual ports.

    A server found once stays watched, so its going down is a `wf_llm_server_up 0`, not silence.
    llama-cpp-python's server cuts a streaming answer short whenever another request takes its model
    lock, its `/v1/models` listing (discovery's probe) included: polled every few seconds, the watcher
    would cut the users' answers. Once a server is known to be llama-cpp-python (its `/openapi.json`,
    which takes no lock, says so), it is only checked through that document; its model list, fixed for
    the server's life, is kept from the first probe. llama.cpp's own server adds its load (requests
    processing and deferred, busy slots) where it serves `/metrics` and `/slots`.
    """

    def __init__(self, urls: Sequence[str]) -> None:
        self._named = [url.rstrip("/") for url in urls]
        self.statuses: dict[str, BackendStatus] = {}
        self._lockless: set[str] = set()   # llama-cpp-python servers: checked via /openapi.json only

    async def read(self) -> ProbeResult:
        candidates = self._named or [url for p in registry.protocols() for url in p.default_urls]
        probed = [url for url in dict.fromkeys(candidates) if url not in self._lockless]
        async with make_session(SERVER_PROBE_TIMEOUT_S, max(len(self._lockless), 1), connect_timeout_s=0.5) as client:
            gentle = [await self._check_lockless(client, url) for url in sorted(self._lockless)]
            found = await discover(probed, timeout_s=SERVER_PROBE_TIMEOUT_S) if probed else []
            for status in found:
                if status.answered and status.kind == OPENAI_KIND and status.url not in self.statuses:
                    if await identify_server(client, status.url) == LLAMA_CPP_PYTHON:
                        self._lockless.add(status.url)
            load = [sample for s in found if s.answered and s.kind == OPENAI_KIND and s.url not in self._lockless
                    for sample in await llamacpp_state(client, s.url, s.kind)]
        watched = gentle + [s for s in found if self._named or s.answered or s.url in self.statuses]
        self.statuses.update({s.url: s for s in watched})
        down = {s.url: s.error or "did not answer" for s in watched if not s.answered}
        return ProbeResult(backend_samples(watched) + load + [probe_ok("servers", not down)],
                           {f"server {url}": why for url, why in down.items()})

    async def _check_lockless(self, client: aiohttp.ClientSession, url: str) -> BackendStatus:
        """Still llama-cpp-python at `url`? Else it is probed in full again next time (a new server there)."""
        started = time.perf_counter()
        if await identify_server(client, url) == LLAMA_CPP_PYTHON:
            return replace(self.statuses[url], answered=True, latency_s=time.perf_counter() - started, error="")
        self._lockless.discard(url)
        return replace(self.statuses[url], answered=False, latency_s=None, error="/openapi.json did not answer")

    def canary_targets(self) -> list[tuple[str, str]]:
        """(URL, model) of each answering server with a model loaded: a canary never makes a server load
        one (an idle Ollama would otherwise load a model into the user's memory every canary interval)."""
        return [(url, loaded[0].name) for url, status in self.statuses.items()
                if status.answered and (loaded := [m for m in status.models if m.loaded])]


def canary(url: str, model: str, db: Path) -> ProbeResult:
    """One short real request to `model` (no warm-up, 16 tokens, no bandwidth test) through the `tokens`
    pipeline: stored as a `tokens` run, so the regression history gets a point every canary interval."""
    options = TokensOptions(backend_url=url, model=model, runs=1, warmup=0, max_tokens=CANARY_MAX_TOKENS,
                            timeout_s=CANARY_TIMEOUT_S, measure_bandwidth=False, embedded=False, canary=True)
    try:
        with Store.open(db) as store:
            report = run_tokens(options, store)
    except WfdoctorError as exc:
        return ProbeResult([probe_ok("canary", False)], {f"canary {url}": str(exc)})
    samples = [Sample(s.metric, s.value, s.unit, s.source, s.labels | CANARY_LABELS | {"url": url}, s.ts)
               for s in summary_samples(report.levels)]
    failed = {kind: count for level in report.levels for kind, count in level.errors.items()}
    ok = any(level.ok for level in report.levels)
    why = {f"canary {url}": f"request failed ({', '.join(failed) or 'no answer'}), run {report.run.id}"}
    return ProbeResult(samples + [probe_ok("canary", ok)], {} if ok else why)


async def in_daemon_thread(work: Callable[[], T], name: str) -> T:
    """`work()` in a daemon thread: unlike `asyncio.to_thread`, a canary stuck on a hung server never holds
    the monitor's exit (its `tokens` run is then closed as abandoned by the next opener of the store)."""
    loop = asyncio.get_running_loop()
    done: asyncio.Future[T] = loop.create_future()

    def settle(outcome: Callable[[], None]) -> None:
        if not done.done():
            outcome()

    def body() -> None:
        try:
            result = work()
        except BaseException as exc:  # noqa: BLE001 (handed to the awaiting task, which decides)
            error = exc
            call = lambda: settle(lambda: done.set_exception(error))  # noqa: E731
        else:
            call = lambda: settle(lambda: done.set_result(result))  # noqa: E731
        try:
            loop.call_soon_threadsafe(call)
        except RuntimeError:  # the loop has closed: the monitor is gone, nobody waits for this
            pass

    threading.Thread(target=body, name=name, daemon=True).start()
    return await done
