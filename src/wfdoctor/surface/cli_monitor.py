"""`wfdoctor monitor` (watch, alert, act, serve) and `wfdoctor alerts list|silence|unsilence`.

The monitor is a service: SIGTERM (systemd, `docker stop`, `kill`) and Ctrl-C are its normal way
to stop, so after the final flush it exits 0, not 143/130 as a one-shot command cut short does.
"""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Optional

import typer

import wfdoctor
from wfdoctor.surface.options import DbOption, FactsOption, JsonOption
from wfdoctor.surface.terminal import EXIT_HEALTHY, checked_options, interrupted_code, print_document, stderr, stdout
from wfdoctor.surface.views.safe import plain

if TYPE_CHECKING:
    from wfdoctor import Monitor, MonitorOptions, MonitorSummary

alerts_app = typer.Typer(help="Alerts raised by `wfdoctor monitor`, and silences that mute their notifications.",
                         no_args_is_help=True)


def duration(value: Optional[str]) -> Optional[str]:
    """An option callback: `30s`, `10m`, `1h`, `500ms` or seconds; checked here, converted by the caller."""
    from wfdoctor.config.monitor import canary_seconds

    if value is not None:
        try:
            canary_seconds(value)
        except ValueError as exc:
            raise typer.BadParameter(str(exc)) from None
    return value


def url(value: Optional[str]) -> Optional[str]:
    """An option callback: an http(s) URL, refused before the monitor starts (not on its first export)."""
    from wfdoctor.config.monitor import http_url

    try:
        return None if value is None else http_url(value)
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from None


def monitor(
    interval: Annotated[Optional[str], typer.Option("--interval", callback=duration, help="Machine probe (system, "
                                                    "GPU) interval, at least 0.1 s (default 1s).")] = None,
    process_interval: Annotated[Optional[str], typer.Option("--process-interval", callback=duration,
                                                            help="Process list interval (the top processes' "
                                                            "memory and CPU; default 5s).")] = None,
    server_interval: Annotated[Optional[str], typer.Option("--server-interval", callback=duration,
                                                           help="LLM server state interval (default 10s).")] = None,
    canary: Annotated[Optional[str], typer.Option("--canary", callback=duration, help="Token canary interval "
                                                  "(a short real request to each server), or off (default 10m).")]
    = None,
    backend: Annotated[Optional[list[str]], typer.Option("--backend", help="LLM server URL to watch (repeatable); "
                                                         "default: whatever answers on the usual ports.")] = None,
    rules: Annotated[Optional[list[Path]], typer.Option("--rules", help="Alert rule file (Prometheus rule-file "
                                                        "shape, repeatable); same alert name replaces.")] = None,
    config: Annotated[Optional[Path], typer.Option("--config", help="Monitor config file (default "
                                                   "~/.config/wfdoctor/monitor.yaml, where present).")] = None,
    apply: Annotated[bool, typer.Option("--apply", help="Let recovery act (default: every action is a logged "
                                        "dry run, except auto_apply steps of the config).")] = False,
    headless: Annotated[bool, typer.Option("--headless", help="No live view: one JSON object per event on "
                                           "stderr.")] = False,
    listen: Annotated[Optional[str], typer.Option("--listen", help="HOST:PORT of the dashboard (/), /metrics, "
                                                  "the API and the page door (POST /api/frames, GET /api/settings). "
                                                  "Default 127.0.0.1:8471; another host needs --token.")] = None,
    token: Annotated[Optional[str], typer.Option("--token", help="Bearer token the web side requires (pages "
                                                 "and the dashboard pass it as ?token=).")] = None,
    otlp: Annotated[Optional[str], typer.Option("--otlp", callback=url, help="Also export the latest samples to "
                                                "this OTLP/HTTP metrics URL, e.g. http://127.0.0.1:4318/v1/metrics "
                                                "(needs the otlp extra).")] = None,
    db: DbOption = None,
    facts: FactsOption = None,
    run_for: Annotated[Optional[float], typer.Option("--duration", min=0.1, help="Stop after this many seconds "
                                                     "(default: until SIGTERM or Ctrl-C).")] = None,
) -> None:
    """Watch the machine and the LLM servers continuously: alerts, routing, recovery, /metrics.

    Open the dashboard at http://127.0.0.1:8471/ (--listen). Pages report their frames with
    wf-perf-monitor.js (served at /static/wf-perf-monitor.js) to POST /api/frames and read
    GET /api/settings; `wfdoctor diagnose` then judges the UI row (docs/ui.md).
    """
    from wfdoctor.config.monitor import canary_seconds, duration_seconds, load_monitor_config
    from wfdoctor.surface.views.monitor import HeadlessLog, LiveView, library_logs_to

    file = load_monitor_config(config).monitor
    chosen = {  # the option, else the config file, else the default of MonitorOptions
        "interval_s": duration_seconds(interval) if interval else file.interval,
        "server_interval_s": duration_seconds(server_interval) if server_interval else file.server_interval,
        "process_interval_s": duration_seconds(process_interval) if process_interval else file.process_interval,
        "raw_retention_s": file.raw_retention, "aggregate_retention_s": file.aggregate_retention,
        "lookback_s": file.lookback, "listen": listen or file.listen,
    }
    canary_text = canary or file.canary
    options = checked_options(lambda: wfdoctor.MonitorOptions(
        **{key: value for key, value in chosen.items() if value is not None},
        **({"canary_interval_s": canary_seconds(canary_text)} if canary_text is not None else {}),
        backend_urls=list(backend or file.backends), rules_paths=list(rules or []), facts_path=facts,
        config_path=config, apply=apply, headless=headless, token=token, otlp_endpoint=otlp))
    path = wfdoctor.database(db)
    if headless:
        log = HeadlessLog()
        with library_logs_to(log):
            summary = run_until_stopped(wfdoctor.Monitor(options, path, observer=log), options, run_for)
    else:
        with LiveView(stdout) as live, library_logs_to(live):
            summary = run_until_stopped(wfdoctor.Monitor(options, path, observer=live), options, run_for)
    stderr.print(plain(f"wfdoctor: monitor stopped: {summary.samples_written} samples in run {summary.run_id} of "
                       f"{path} ({summary.errors} probe errors)"), highlight=False, markup=False, soft_wrap=True)
    raise typer.Exit(EXIT_HEALTHY)


def run_until_stopped(monitor: Monitor, options: MonitorOptions, run_for: float | None) -> MonitorSummary:
    """Run until SIGTERM, Ctrl-C or `run_for` seconds; both signals stop it cleanly (flushed, run closed)."""
    async def main() -> MonitorSummary:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        if run_for is not None:
            loop.call_later(run_for, stop.set)
        running = asyncio.create_task(monitor.run(stop))
        started = asyncio.create_task(monitor.started.wait())
        await asyncio.wait({running, started}, return_when=asyncio.FIRST_COMPLETED)
        started.cancel()
        if running.done():  # refused (another monitor) or failed before it started
            return running.result()
        close_web = await serve_web(monitor, options)
        stopping = asyncio.create_task(stop.wait())
        try:
            # On a stop, the door closes first: nothing new is acknowledged while the monitor writes
            # out what it has (a client pushing on gets "connection refused", not an endless 429).
            await asyncio.wait({running, stopping}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            stopping.cancel()
            await close_web()
        return await running

    try:
        return asyncio.run(main())
    except KeyboardInterrupt:  # a signal before the loop took them over
        raise typer.Exit(interrupted_code()) from None


async def serve_web(monitor: Monitor, options: MonitorOptions) -> Callable[[], Awaitable[None]]:
    """Serve /metrics, POST /api/samples, GET /api/alerts, /api/actions and /healthz on `options.listen`
    (surface/web.py); returns how to close it. Called once the monitor holds its database, so a refused
    second monitor never takes the port."""
    from wfdoctor.config.monitor import listen_address
    from wfdoctor.surface.web import start_web

    host, port = listen_address(options.listen)
    server = await start_web(monitor, host, port, options.token)
    monitor.note(f"dashboard at {server.url}/ (metrics at {server.url}/metrics)", url=server.url)
    return server.close


@alerts_app.command("list")
def alerts_list(
    show_all: Annotated[bool, typer.Option("--all", help="The last state of every alert, resolved too, and "
                                           "ended silences.")] = False,
    history: Annotated[bool, typer.Option("--history", help="Every transition, newest first.")] = False,
    db: DbOption = None,
    as_json: JsonOption = False,
) -> None:
    """Alerts pending or firing (as the monitor last stored them) and the silences in force."""
    from wfdoctor.surface.views import monitor as view

    if show_all and history:
        raise typer.BadParameter("give --all or --history, not both")
    report = wfdoctor.list_alerts("history" if history else "all" if show_all else "current", db=db)
    if as_json:
        print_document(view.alerts_document(report))
    else:
        view.render_alerts(report, stdout)


@alerts_app.command("silence")
def alerts_silence(
    matchers: Annotated[list[str], typer.Argument(help='Label matchers, e.g. alertname="HighMemory" '
                                                  'severity="warning"; all must match.')],
    for_: Annotated[str, typer.Option("--for", callback=duration, help="How long (e.g. 30m, 2h).")] = "2h",
    comment: Annotated[str, typer.Option("--comment", help="Why (shown with the silence).")] = "",
    db: DbOption = None,
    as_json: JsonOption = False,
) -> None:
    """Mute notifications of matching alerts for a while (they are still evaluated and stored)."""
    from wfdoctor.config.monitor import duration_seconds
    from wfdoctor.surface.views import monitor as view

    silence = wfdoctor.silence_alerts(matchers, duration_seconds(for_), comment, db=db)
    if as_json:
        print(view.silence_doc(silence).model_dump_json(indent=2))
    else:
        stdout.print(view.silence_line(silence), highlight=False, markup=False, soft_wrap=True)


@alerts_app.command("unsilence")
def alerts_unsilence(
    silence_id: Annotated[int, typer.Argument(help="The silence's id (from `alerts list`).")],
    db: DbOption = None,
) -> None:
    """End a silence now."""
    wfdoctor.unsilence(silence_id, db=db)
    stdout.print(f"silence {silence_id} ended", highlight=False, markup=False)
