"""`wfdoctor monitor`: one asyncio process that watches, judges, stores and serves.

Schedules, all on one event loop: the machine probe (system + GPUs) every `interval_s`, run in a
thread so reading processes never blocks the loop, and ticks skipped (never queued) when a read
overruns; the servers' passive state every `server_interval_s`; the token canary every
`canary_interval_s`; the writer (a batch every second or every FLUSH_BATCH samples); retention.
Each machine tick hands the samples gathered since the last one to the `Watchers`
(rules -> routing -> recovery, see monitor_pipeline). One monitor per database (`MonitorLock`);
stopping (`stop` set: SIGINT, SIGTERM, --duration) ends the schedules, flushes every queued
sample, closes the run and releases the lock.
"""

from __future__ import annotations

import asyncio
import os
import threading
import time
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from functools import partial
from pathlib import Path

from wfdoctor.analyze.tiers import classify_tier
from wfdoctor.app.datafiles import load_data_files
from wfdoctor.app.frames import METRICS as FRAME_METRICS
from wfdoctor.app.frames import frame_samples
from wfdoctor.app.monitor_events import MonitorObserver, QuietObserver
from wfdoctor.app.monitor_charts import RUNS_EVERY_S, DashboardQueries, DashboardState
from wfdoctor.app.monitor_lock import MonitorLock
from wfdoctor.app.monitor_options import MonitorOptions
from wfdoctor.app.monitor_pipeline import NoWatchers, PipelineContext, PipelineFactory, Watchers, build_pipeline
from wfdoctor.app.monitor_probes import MachineProbe, ProbeResult, ServerWatch, canary, in_daemon_thread
from wfdoctor.app.monitor_view import Overloaded
from wfdoctor.app.monitor_writer import SampleQueue, retention_pass
from wfdoctor.app.otlp import OtlpExport, start_otlp
from wfdoctor.app.monitor_leaks import JUDGE_EVERY_S, LeakWatch
from wfdoctor.app.monitor_ui import UI_JUDGE_EVERY_S, Judge, UiWatch
from wfdoctor.app.ui import ui_judge as the_ui_judge
from wfdoctor.app.reports.dashboard import UiSettings
from wfdoctor.app.reports.monitor import Counts, MonitorEvent, MonitorSnapshot, MonitorSummary
from wfdoctor.config.metrics import load_metrics
from wfdoctor.config.monitor import load_monitor_config
from wfdoctor.model import (MAX_MAGNITUDE, PLAUSIBLE_TIMES, ActionRecord, Alert, Finding, FrameReport, Run, Sample,
                            WfdoctorError, plausible_point)
from wfdoctor.store.monitoring import MonitorStore

FLUSH_EVERY_S = 1.0
FLUSH_BATCH = 500
RECENT_ACTIONS = 50
SeriesKey = tuple[str, tuple[tuple[str, str], ...]]


def series_key(sample: Sample) -> SeriesKey:
    return sample.metric, tuple(sorted(sample.labels.items()))


class Monitor(DashboardQueries):
    """Implements `MonitorView`: the web server and the live view read it while `run` runs (the dashboard's
    questions in `DashboardQueries`)."""

    def __init__(self, options: MonitorOptions, db: Path, *, pipeline_factory: PipelineFactory = build_pipeline,
                 observer: MonitorObserver | None = None, ui_judge: Judge | None = None) -> None:
        self.options = options
        self.db = db
        self._factory = pipeline_factory
        self._observer = observer or QuietObserver()
        self._queue = SampleQueue(options.queue_capacity)
        self._wake = asyncio.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._guard = threading.Lock()  # `accept` may come from another thread
        self._latest: dict[SeriesKey, Sample] = {}
        self._pending: list[Sample] = []
        self._actions: deque[ActionRecord] = deque(maxlen=RECENT_ACTIONS)
        self._watchers: Watchers = NoWatchers()
        self._failing: dict[str, dict[str, str]] = {}  # probe -> what fails in it -> why
        self._last_summary = 0.0
        self._canary_running = False
        self.started = asyncio.Event()  # set once the lock is held and the run recorded (then serve the web side)
        self.servers = ServerWatch(options.backend_urls)
        self._counts = Counts()
        self._leaks: LeakWatch | None = None  # made with the facts, when the run starts
        self._ui_judge = ui_judge  # None: the UI verdict diagnose gives (app/ui.py)
        self._ui: UiWatch | None = None  # the pages' side (app/monitor_ui.py), made with the facts
        self._dash = DashboardState()  # charts, alert history, runs: fed by _hold, _machine_tick, "runs"

    # --- MonitorView ---
    def latest_samples(self) -> list[Sample]:
        with self._guard:
            return list(self._latest.values())

    def active_alerts(self) -> list[Alert]:
        return self._watchers.active()

    def recent_actions(self) -> list[ActionRecord]:
        return list(self._actions)

    def accept(self, samples: list[Sample]) -> None:
        load_metrics().check(samples)
        bad = next((s for s in samples if not plausible_point(s.value, s.ts)), None)
        if bad is not None:
            raise WfdoctorError(f"{bad.metric} = {bad.value} at time {bad.ts} is not a finite value within "
                                f"±{MAX_MAGNITUDE:g} at a time {PLAUSIBLE_TIMES}")
        with self._guard:  # every series is judged every tick: a flood of new label values would starve sampling
            held = len(self._latest) + len({series_key(s) for s in samples}.difference(self._latest))
        if held > self.options.series_capacity:
            raise WfdoctorError(f"these samples would make the monitor hold {held} series, over its "
                                f"{self.options.series_capacity}: a label whose value changes every push?")
        self._queue.put(samples)
        with self._guard:
            self._counts.accepted += len(samples)
        self._hold(samples)

    # --- the page door (app/monitor_ui.py) ---
    def accept_frames(self, report: FrameReport) -> None:
        ui = self._ui_watch()
        ui.admit(report.page, report.session)  # RateLimited past the page's budget, before any work
        samples = frame_samples(report)
        with self._guard:
            held = {key for key in self._latest if key[0] in FRAME_METRICS}
        ui.check_room(len(held), len({series_key(s) for s in samples} - held))
        self.accept(samples)
        self._take(ProbeResult(ui.hold(report)), "ui")

    def ui_settings(self) -> UiSettings:
        return self._ui_watch().settings()

    def current_findings(self) -> list[Finding]:
        return self._ui.findings() if self._ui is not None else []

    def _ui_watch(self) -> UiWatch:
        if self._ui is None:
            raise WfdoctorError("the monitor is starting: no frame reports or settings yet")
        return self._ui

    def snapshot(self) -> MonitorSnapshot:
        return MonitorSnapshot(self.latest_samples(), self.active_alerts(), self.recent_actions())

    # --- running ---
    async def run(self, stop: asyncio.Event) -> MonitorSummary:
        """Watch until `stop` is set; refused (WfdoctorError) when another monitor holds the database."""
        lock = MonitorLock(self.db)
        lock.acquire()
        try:
            with MonitorStore.open(self.db) as store:
                return await self._run(store, stop)
        finally:
            lock.release()

    async def _run(self, store: MonitorStore, stop: asyncio.Event) -> MonitorSummary:
        self._loop = asyncio.get_running_loop()
        options = self.options
        config = load_monitor_config(options.config_path)
        data = load_data_files(options.facts_path, [])
        facts = data.facts
        every = max(1, round(options.process_interval_s / options.interval_s))
        machine = await asyncio.to_thread(MachineProbe, self.db, every)
        try:
            first = await asyncio.to_thread(machine.read)
            run = Run(command="monitor", started_at=time.time(), tier=classify_tier(first.samples, facts).tier,
                      settings={"interval_s": options.interval_s, "server_interval_s": options.server_interval_s,
                                "canary_interval_s": options.canary_interval_s, "backends": options.backend_urls,
                                "apply": options.apply, "listen": options.listen})
            with store.recording(run) as run_id:  # closed "failed" if anything below raises
                self._watchers = self._factory(PipelineContext(
                    store=store, run_id=run_id, facts=facts, tier=run.tier, config=config,
                    rules_paths=[*config.monitor.rules, *options.rules_paths], lookback_s=options.lookback_s,
                    apply=options.apply, backend_urls=options.backend_urls))
                self._emit("start", f"monitoring {self.db} as run {run_id} (tier {run.tier})", run=run_id,
                           tier=run.tier, interval_s=options.interval_s, pid=os.getpid())
                for text in filter(None, (self._watchers.note, machine.gpu_status)):
                    self._emit("note", text)
                self._leaks = LeakWatch(facts)
                self._ui = UiWatch(facts, self._ui_judge or the_ui_judge(facts, data.rulebook.remedies))
                self.started.set()
                export = await asyncio.to_thread(self._start_otlp)
                try:
                    await self._watch(machine, store, run_id, stop)
                finally:
                    if export is not None:  # bounded: the exporter gives up after its timeout
                        await asyncio.to_thread(export.close)
        finally:
            await asyncio.to_thread(machine.close)
        summary = self._summary(run_id)
        self._emit("stop", f"stopped: {summary.samples_written} samples written in run {run_id}",
                   run=run_id, samples=summary.samples_written, accepted=summary.accepted, errors=summary.errors)
        return summary

    def _start_otlp(self) -> OtlpExport | None:
        endpoint, every = self.options.otlp_endpoint, self.options.otlp_interval_s
        self._emit("note", f"exporting to {endpoint} over OTLP every {every:g} s") if endpoint else None
        return start_otlp(self, endpoint, every) if endpoint else None

    async def _watch(self, machine: MachineProbe, store: MonitorStore, run_id: int, stop: asyncio.Event) -> None:
        """The schedules, until `stop`; then every acknowledged sample is written."""
        options = self.options
        servers_known = asyncio.Event()
        tasks = [asyncio.create_task(job) for job in (
            self._every(options.interval_s, lambda: self._machine_tick(machine, store, run_id), "machine"),
            self._every(options.server_interval_s, lambda: self._server_tick(servers_known), "servers"),
            self._writer(store, run_id),
            self._every(options.retention_every_s, lambda: self._retention(store), "retention"),
            self._every(JUDGE_EVERY_S, self._judge_leaks, "leaks"),
            self._every(UI_JUDGE_EVERY_S, self._judge_ui, "ui"),
            self._every(RUNS_EVERY_S, lambda: self._dash.refresh_runs(store), "runs"),
        )]
        if options.canary_interval_s is not None:
            tasks.append(asyncio.create_task(self._canaries(options.canary_interval_s, servers_known)))
        delivery = asyncio.create_task(self._guarded(self._watchers.run(), "routing"))
        try:
            await stop.wait()
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            await self._guarded(self._watchers.aclose(), "routing")  # no new transitions: deliver what waits
            delivery.cancel()
            await asyncio.gather(delivery, return_exceptions=True)
            self._queue.close()  # from here `accept` refuses: nothing acknowledged can miss the last flush
            self._flush_all(store, run_id)

    def _summary(self, run_id: int) -> MonitorSummary:
        c = self._counts
        return MonitorSummary(run_id, c.ticks, c.written, c.accepted, c.dropped, c.overruns, c.errors, c.alerts,
                              self._watchers.note)

    async def _every(self, interval: float, step: Callable[[], Awaitable[None]], name: str) -> None:
        """`step` at a fixed phase; a step that overruns skips the ticks it covered (they are not queued)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time()
        while True:
            await self._guarded(step(), name)
            deadline += interval
            late = loop.time() - deadline
            if late > 0:
                missed = int(late // interval) + 1
                self._counts.overruns += missed
                deadline += missed * interval
            await asyncio.sleep(deadline - loop.time())

    async def _guarded(self, work: Awaitable[None], name: str) -> None:
        """A failing step is an error event, never the end of the monitor."""
        try:
            await work
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 (whatever a probe or a rule raises, the monitor keeps watching)
            self._counts.errors += 1
            self._emit("error", f"{name}: {exc}", step=name, error=type(exc).__name__)

    async def _machine_tick(self, machine: MachineProbe, store: MonitorStore, run_id: int) -> None:
        reading = await asyncio.to_thread(machine.read)
        self._take(reading, "machine")
        if self._leaks is not None:
            self._leaks.add(reading.samples)
        now = time.time()
        with self._guard:
            fresh, self._pending = self._pending, []
            self._latest = {key: s for key, s in self._latest.items() if s.ts >= now - self.options.lookback_s}
        outcome = await self._watchers.on_tick(fresh, now, reading.samples)
        if outcome.transitions:
            store.add_alert_events(run_id, outcome.transitions, now)
            self._dash.note_transitions(outcome.transitions)
            self._counts.alerts += len(outcome.transitions)
            for alert in outcome.transitions:
                self._emit("alert", f"{alert.name} {alert.state.value}", alert=alert.name, state=alert.state.value,
                           severity=alert.severity, value=alert.value, fingerprint=alert.fingerprint)
        for action in outcome.actions:
            self._actions.appendleft(action)
            self._ui.on_action(action) if self._ui is not None else None
            self._emit("action", f"{action.level} {action.kind} {action.target}: {action.outcome}",
                       kind=action.kind, target=action.target, level=action.level, applied=action.applied,
                       alert=action.alert, outcome=action.outcome, error=action.error or None)
        for failure in outcome.failures:
            self._counts.errors += 1
            self._emit("error", failure, step="routing")
        self._counts.ticks += 1
        self._dash.ticker.bump()
        self._observer.tick(self.snapshot)
        self._summarise(now)

    def _summarise(self, now: float) -> None:
        if now - self._last_summary < self.options.summary_every_s:
            return
        self._last_summary = now
        self._emit("tick", f"{self._counts.ticks} ticks, {self._counts.written} samples written",
                   ticks=self._counts.ticks, written=self._counts.written, queued=len(self._queue),
                   series=len(self._latest), active_alerts=len(self.active_alerts()),
                   overruns=self._counts.overruns)

    async def _judge_leaks(self) -> None:
        if self._leaks is not None:
            self._take(ProbeResult(await asyncio.to_thread(self._leaks.judge)), "leaks")

    async def _judge_ui(self) -> None:
        if self._ui is not None:
            await asyncio.to_thread(self._ui.judge)
            self._take(ProbeResult(self._ui.quality_samples()), "ui")

    async def _server_tick(self, servers_known: asyncio.Event) -> None:
        """Skipped while a canary runs: llama-cpp-python's server cuts a streaming answer short when any other
        request (its `/v1/models` listing included) arrives, so probing would cut our own canary."""
        if self._canary_running:
            return
        self._take(await self.servers.read(), "servers")
        servers_known.set()

    async def _canaries(self, interval: float, servers_known: asyncio.Event) -> None:
        await servers_known.wait()
        await self._every(interval, self._canary_tick, "canary")

    async def _canary_tick(self) -> None:
        self._canary_running = True
        try:
            for url, model in self.servers.canary_targets():
                reading = await in_daemon_thread(partial(canary, url, model, self.db), "wfdoctor-canary")
                self._take(reading, f"canary {url}")
        finally:
            self._canary_running = False

    def _take(self, reading: ProbeResult, probe: str) -> None:
        """A probe's reading: queued for the store, held for the next tick and the views; a failure
        that started (or ended) is said once, not every tick."""
        try:
            load_metrics().check(reading.samples)
            self._queue.put(reading.samples)
        except Overloaded:
            self._counts.dropped += len(reading.samples)
        except WfdoctorError as exc:  # a probe producing an unregistered metric: our bug, reported
            self._counts.errors += 1
            self._emit("error", f"{probe}: {exc}", step=probe)
            return
        self._hold(reading.samples)
        self._ui.add_machine(reading.samples) if self._ui is not None else None
        failing = self._failing.setdefault(probe, {})
        for name in [n for n in failing if n not in reading.failures]:
            del failing[name]
            self._emit("note", f"{name}: answering again", probe=name)
        for name, why in reading.failures.items():
            if name not in failing:
                self._counts.errors += 1
                self._emit("error", f"{name}: {why}", probe=name)
            failing[name] = why

    def _hold(self, samples: Sequence[Sample]) -> None:
        with self._guard:
            self._pending.extend(samples)
            self._latest.update({series_key(s): s for s in samples})
        self._dash.charts.add(samples)
        if len(self._queue) >= FLUSH_BATCH and self._loop is not None:
            self._loop.call_soon_threadsafe(self._wake.set)

    async def _writer(self, store: MonitorStore, run_id: int) -> None:
        """A batch every FLUSH_EVERY_S, sooner when FLUSH_BATCH samples wait."""
        while True:
            try:
                await asyncio.wait_for(self._wake.wait(), FLUSH_EVERY_S)
            except asyncio.TimeoutError:
                pass
            self._wake.clear()
            while len(self._queue) and self._write_batch(store, run_id):
                await asyncio.sleep(0)  # let the probes and the web server in between batches

    def _write_batch(self, store: MonitorStore, run_id: int) -> bool:
        batch = self._queue.take(FLUSH_BATCH)
        try:
            store.add_samples(run_id, batch)
        except WfdoctorError as exc:
            self._queue.give_back(batch)
            self._counts.errors += 1
            self._emit("error", f"writer: {exc}", step="writer")
            return False
        self._counts.written += len(batch)
        return True

    def _flush_all(self, store: MonitorStore, run_id: int) -> None:
        """The last flush: every acknowledged sample, or the error that stopped it."""
        while len(self._queue):
            if not self._write_batch(store, run_id):
                raise WfdoctorError(f"{self.db}: {len(self._queue)} samples could not be written at exit")

    async def _retention(self, store: MonitorStore) -> None:
        await retention_pass(store, time.time(), self.options.raw_retention_s, self.options.aggregate_retention_s)

    def note(self, message: str, /, **fields: str | float | int | bool | None) -> None:
        """Say something in the monitor's event stream (the surface says where it serves the dashboard)."""
        self._emit("note", message, **fields)

    def _emit(self, kind: str, message: str, /, **fields: str | float | int | bool | None) -> None:
        self._observer.event(MonitorEvent(kind, time.time(), message, dict(fields)))

