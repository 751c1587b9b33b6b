"""`wfdoctor troubleshoot`: identify -> classify -> apply -> validate -> document, or validate a stored incident."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

import wfdoctor
from wfdoctor.model import Priority, Verdict
from wfdoctor.surface.options import ApplyOption, DbOption, FactsOption, FailOnOption, JsonOption, RulesOption, \
    concurrency_list, finite
from wfdoctor.surface.terminal import EXIT_FINDINGS, EXIT_HEALTHY, FailOn, checked_options, exit_code_for, finish, \
    progress_on_stderr


def troubleshoot(
    backend: Annotated[Optional[str], typer.Option("--backend", help="LLM server URL; default: discovery, then "
                                                   "the embedded SmolLM2 engine.")] = None,
    model: Annotated[Optional[str], typer.Option("--model", help="Model to measure (default: the first "
                                                 "loaded).")] = None,
    embedded: Annotated[bool, typer.Option("--embedded/--no-embedded", help="Start the embedded SmolLM2 engine "
                                           "when no --backend is named and no server answers.")] = True,
    apply: ApplyOption = False,
    interactive: Annotated[bool, typer.Option("--interactive", help="Ask before each L1 action, and after each "
                                              "L2-L4 action whether you did it (then validate at once).")] = False,
    validate: Annotated[Optional[int], typer.Option("--validate", metavar="INCIDENT", min=1,
                                                    help="Measure a stored incident's runs again, compare, and "
                                                         "document the verdict (after you acted).")] = None,
    fixed_by: Annotated[Optional[list[str]], typer.Option("--fixed-by", metavar="ACTION", help="With --validate: "
                                                          "the action you did (repeatable; an action id).")] = None,
    note: Annotated[str, typer.Option("--note", help="A note kept with the incident.")] = "",
    requests: Annotated[int, typer.Option("--requests", min=1, max=1000, help="Measured requests per token run "
                                          "(each side of the validation).")] = 8,
    max_tokens: Annotated[int, typer.Option("--max-tokens", min=2, max=32768, help="Output tokens per "
                                            "request.")] = 32,
    concurrency: Annotated[str, typer.Option("--concurrency", help="Concurrency levels of the token run, e.g. "
                                             "1,2.")] = "1",
    timeout: Annotated[float, typer.Option("--timeout", min=0.1, max=600, callback=finite, help="Seconds a "
                                           "request of the token runs may wait for data (a hung server).")] = 60.0,
    window: Annotated[float, typer.Option("--window", min=0.2, max=600, callback=finite,
                                          help="Diagnose's sampling window in seconds.")] = 2.0,
    memory_watch: Annotated[float, typer.Option("--memory-watch", min=1, max=3600, callback=finite,
                                                help="Seconds of memory watch on memory pressure.")] = 20.0,
    council_member: Annotated[Optional[list[str]], typer.Option("--council-member", metavar="URL[#MODEL]",
                                                                help="A council member (repeatable): a council is "
                                                                     "configured, so it is measured too.")] = None,
    council_rounds: Annotated[int, typer.Option("--council-rounds", min=1, max=100, help="Councils per "
                                                "measurement (each side of the validation).")] = 5,
    config: Annotated[Optional[Path], typer.Option("--config", help="Monitor config whose `recovery:` section "
                                                   "applies (default ~/.config/wfdoctor/monitor.yaml).")] = None,
    fail_on: FailOnOption = FailOn.high,
    facts: FactsOption = None,
    rules: RulesOption = None,
    db: DbOption = None,
    as_json: JsonOption = False,
) -> None:
    """Troubleshoot end to end: identify, classify (with past incidents), apply, validate, document.

    Exit codes: 0 nothing found or the incident was resolved, 1 an unresolved cause at or above --fail-on, or a
    validation that measured worse; 2 bad input, 130 interrupted.
    """
    from wfdoctor.surface.views import troubleshoot as view

    if fixed_by and validate is None:
        raise typer.BadParameter("--fixed-by goes with --validate INCIDENT")
    ignored = [name for name, given in (("--backend", backend), ("--model", model), ("--council-member",
                                                                                   council_member)) if given]
    if validate is not None and ignored:   # validation measures what the incident measured, nothing else
        raise typer.BadParameter(f"{', '.join(ignored)} cannot go with --validate: it measures again the server, "
                                 "model and council the incident's runs measured")
    options = checked_options(lambda: wfdoctor.TroubleshootOptions(
        backend_url=backend, embedded=embedded, apply=apply, note=note, config_path=config,
        fixed_by=tuple(fixed_by or []), measure=wfdoctor.MeasureSettings(
            window_s=window, model=model, requests=requests, max_tokens=max_tokens,
            concurrency=tuple(concurrency_list(concurrency)), timeout_s=timeout, memory_watch_s=memory_watch,
            facts_path=facts,
            council_members=tuple(council_member or []), council_rounds=council_rounds,
            rules_paths=tuple(rules or []))))
    path = wfdoctor.database(db)
    with progress_on_stderr(path) as progress:
        asker = progress if interactive else None
        if validate is not None:
            report = wfdoctor.validate_incident(validate, options, db=path, progress=progress, asker=asker)
        else:
            report = wfdoctor.troubleshoot(options, db=path, progress=progress, asker=asker)
    incident = report.incident
    unresolved = [] if incident is None or incident.status == "resolved" else \
        [f.priority for f in report.findings if f.code == incident.cause] or [Priority.INFO]
    code = exit_code_for(unresolved, fail_on) if unresolved else EXIT_HEALTHY
    if incident is not None and incident.verdict is Verdict.WORSE:
        code = EXIT_FINDINGS  # measured worse after an action: never a healthy exit, whatever the cause's priority
    finish(as_json, lambda: view.document(report, code), lambda out: view.render(report, out),
           None if incident is None else incident.id, path, code, saved=_saved(incident))


def _saved(incident: wfdoctor.Incident | None) -> str:
    return "Nothing stored as an incident" if incident is None else f"Stored as incident {incident.id}"
