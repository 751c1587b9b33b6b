"""The `wfdoctor` command line: parse options, call the public API, hand the report to a view.

Every pipeline lives in `wfdoctor.app` and is reached through `import wfdoctor`
(the same functions Python users call); views live in `surface/views`.
User errors print one line on stderr, never a traceback (exit 2).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Optional

import typer

import wfdoctor
from wfdoctor.surface.cli_capacity import Outputs, capacity_command
from wfdoctor.surface.cli_guide import guide
from wfdoctor.surface.cli_compare import compare
from wfdoctor.surface.cli_incidents import incidents_app
from wfdoctor.surface.cli_memory import memory_app
from wfdoctor.surface.cli_monitor import alerts_app, monitor
from wfdoctor.surface.cli_recover import recover
from wfdoctor.surface.cli_troubleshoot import troubleshoot
from wfdoctor.surface.cli_regress import regress_app
from wfdoctor.surface.cli_report import report
from wfdoctor.surface.options import (AllVariantsOption, ClientOption, DbOption, FactsOption, FailOnOption, JsonOption, RulesOption,
                                      concurrency_list, finite, writable_file)
from wfdoctor.surface.terminal import (FailOn, checked_options, exit_code_for, finish, interrupted_code,
                                       print_document, progress_on_stderr, say_interrupted, stderr, stdout,
                                       stop_on_sigterm)
from wfdoctor.surface.views.safe import plain

app = typer.Typer(
    name="wfdoctor",
    help="The performance doctor for WIRTHFORGE and local LLM servers: measured evidence, a named cause, "
         "a priority and an action.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
app.add_typer(memory_app, name="memory")
app.add_typer(regress_app, name="regress")
app.add_typer(incidents_app, name="incidents")
app.command("recover")(recover)
app.command("troubleshoot")(troubleshoot)
app.command("guide")(guide)
app.command("compare")(compare)
app.command("report")(report)


def _version(value: bool) -> None:
    if value:
        stdout.print(f"wfdoctor {wfdoctor.__version__}")
        raise typer.Exit()


@app.callback()
def root(
    version: Annotated[bool, typer.Option("--version", callback=_version, is_eager=True,
                                          help="Show the version and exit.")] = False,
) -> None:
    """wfdoctor: why is it slow, why did it get slower, what do I change?"""


@app.command()
def diagnose(
    window: Annotated[float, typer.Option("--window", min=0.2, max=600, callback=finite,
                                          help="Sampling window in seconds.")] = 2.0,
    backend: Annotated[Optional[list[str]], typer.Option("--backend", help="LLM server URL to probe (repeatable); "
                                                         "default: Ollama on 11434, OpenAI-compatible on "
                                                         "8080/8000/1234.")] = None,
    embedded: Annotated[bool, typer.Option("--embedded/--no-embedded",
                                           help="Start the embedded SmolLM2 engine when no server answers.")] = True,
    fail_on: FailOnOption = FailOn.high,
    facts: FactsOption = None,
    rules: RulesOption = None,
    top: Annotated[int, typer.Option("--top", min=1, max=50, help="Processes listed by CPU and by memory.")] = 5,
    token_runs: Annotated[int, typer.Option("--token-runs", min=0, max=100, help="Requests in the short token "
                                            "check against the first server that answers (0 skips it).")] = 3,
    token_timeout: Annotated[float, typer.Option("--token-timeout", min=0.1, max=600, help="Seconds a token-check "
                                                 "request may go without data before it fails.")] = 10.0,
    db: DbOption = None,
    as_json: JsonOption = False,
    all_variants: AllVariantsOption = False,
) -> None:
    """Snapshot the system, find LLM servers, classify the tier and run the triage matrix."""
    from wfdoctor.surface.views import diagnose as view

    options = checked_options(lambda: wfdoctor.DiagnoseOptions(
        window_s=window, backend_urls=backend or [], embedded=embedded, facts_path=facts, rules_paths=rules or [],
        top=top, token_runs=token_runs, token_timeout_s=token_timeout))
    path = wfdoctor.database(db)
    with progress_on_stderr(path) as progress:
        report = wfdoctor.diagnose(options, db=path, progress=progress)
    code = exit_code_for([f.priority for f in report.findings], fail_on)
    finish(as_json, lambda: view.document(report, fail_on.value, code),
           lambda out: view.render(report, out, all_variants), report.run.id, path, code)


@app.command()
def tokens(
    backend: Annotated[Optional[str], typer.Option("--backend", help="LLM server URL; default: discovery, then "
                                                   "the embedded SmolLM2 engine.")] = None,
    model: Annotated[Optional[str], typer.Option("--model", help="Model name (default: the first loaded).")] = None,
    prompt: Annotated[Optional[str], typer.Option("--prompt", help="Prompt text.")] = None,
    prompt_file: Annotated[Optional[Path], typer.Option("--prompt-file", help="Read the prompt from a file.")]
    = None,
    prompt_tokens: Annotated[Optional[int], typer.Option("--prompt-tokens", min=1, max=131072,
                                                         help="Use a synthetic prompt of about N tokens.")] = None,
    max_tokens: Annotated[int, typer.Option("--max-tokens", min=2, max=32768, help="Output tokens per request.")]
    = 64,
    runs: Annotated[int, typer.Option("--runs", min=1, max=100000, help="Measured requests per concurrency "
                                      "level.")] = 10,
    warmup: Annotated[int, typer.Option("--warmup", min=0, max=1000, help="Unmeasured requests before each "
                                        "level.")] = 1,
    concurrency: Annotated[str, typer.Option("--concurrency", help="Concurrency levels to sweep, e.g. 1,2,4,8.")]
    = "1",
    arrival: Annotated[str, typer.Option("--arrival", help="closed (each stream sends its next request when the "
                                         "last ends) or poisson (open loop at --rate).")] = "closed",
    rate: Annotated[float, typer.Option("--rate", min=0.001, callback=finite, help="Poisson arrivals per "
                                        "second.")] = 1.0,
    api: Annotated[str, typer.Option("--api", help="chat or completion endpoint.")] = "chat",
    timeout: Annotated[float, typer.Option("--timeout", min=0.1, callback=finite, help="Seconds a request may "
                                           "take in all (warm-ups and token counts too) before it fails.")] = 60.0,
    model_file: Annotated[Optional[Path], typer.Option("--model-file", help="GGUF file of the model, for the "
                                                       "bandwidth roofline.")] = None,
    bandwidth: Annotated[bool, typer.Option("--bandwidth/--no-bandwidth", help="Measure memory bandwidth for the "
                                            "roofline (about 1 s).")] = True,
    embedded: Annotated[bool, typer.Option("--embedded/--no-embedded", help="Start the embedded SmolLM2 engine "
                                           "when no --backend is named and no server answers.")] = True,
    client: ClientOption = None,
    capacity: Annotated[bool, typer.Option("--capacity", help="Find the most concurrent streams served within the "
                                           "tier's TTFT and decode targets (doubling, then bisection; "
                                           "--concurrency, --arrival and --rate do not apply).")] = False,
    max_concurrency: Annotated[Optional[int], typer.Option("--max-concurrency", min=1, max=1024, help="With "
                                                           "--capacity: the most streams tried (facts: 64).")]
    = None,
    fail_on: FailOnOption = FailOn.high,
    csv_path: Annotated[Optional[Path], typer.Option("--csv", callback=writable_file,
                                                     help="Write one row per request to this file.")]
    = None,
    facts: FactsOption = None,
    rules: RulesOption = None,
    db: DbOption = None,
    as_json: JsonOption = False,
    all_variants: AllVariantsOption = False,
) -> None:
    """Measure token generation (TTFT, ITL, TPOT, throughput), find the bottleneck and the physical limit."""
    from wfdoctor.surface.views import tokens as view

    options = checked_options(lambda: wfdoctor.TokensOptions(
        backend_url=backend, model=model, prompt=prompt, prompt_file=prompt_file, prompt_tokens=prompt_tokens,
        max_tokens=max_tokens, runs=runs, warmup=warmup, concurrency=concurrency_list(concurrency), arrival=arrival,
        rate_per_s=rate, api=api, timeout_s=timeout, model_file=model_file, measure_bandwidth=bandwidth,
        embedded=embedded, facts_path=facts, rules_paths=rules or [], client=client))
    path = wfdoctor.database(db)
    if capacity:
        capacity_command(options, max_concurrency, csv_path, path, Outputs(fail_on, as_json, all_variants))
    if max_concurrency is not None:
        raise typer.BadParameter("--max-concurrency applies to --capacity")
    with progress_on_stderr(path) as progress:
        report = wfdoctor.measure_tokens(options, db=path, progress=progress)
    code = interrupted_code() if report.interrupted else exit_code_for([f.priority for f in report.findings], fail_on)
    if report.interrupted:
        say_interrupted(path, report.run.started_at)
    if csv_path is not None:
        view.write_csv(report, csv_path)
    finish(as_json, lambda: view.document(report, code), lambda out: view.render(report, out, all_variants),
           report.run.id, path, code)


@app.command()
def council(
    member: Annotated[Optional[list[str]], typer.Option("--member", help="URL[#MODEL] of a member (repeatable); "
                                                        "default: 3 members on the first server that answers.")]
    = None,
    members_file: Annotated[Optional[Path], typer.Option("--members-file", help="YAML list of {url, model, "
                                                         "name}.")] = None,
    prompt: Annotated[Optional[str], typer.Option("--prompt", help="Prompt every member answers.")] = None,
    max_tokens: Annotated[int, typer.Option("--max-tokens", min=2, max=32768)] = 48,
    timeout: Annotated[Optional[float], typer.Option("--timeout", min=0.05, callback=finite, help="Seconds a member may stay "
                                                     "silent before it fails, warm-up included (facts: 5).")] = None,
    retries: Annotated[Optional[int], typer.Option("--retries", min=0, max=20, help="Retries of a failed member "
                                                   "(facts: 3).")] = None,
    quorum: Annotated[int, typer.Option("--quorum", min=0, max=1000, help="Also run with early consensus: stop "
                                        "once K answers agree.")] = 0,
    agreement: Annotated[str, typer.Option("--agreement", help="exact or tokenset.")] = "exact",
    similarity: Annotated[float, typer.Option("--similarity", min=0.0, max=1.0, callback=finite,
                                              help="tokenset threshold.")] = 0.8,
    sweep: Annotated[bool, typer.Option("--sweep", help="Also run councils of 1, 2, 4, ... members (up to all, "
                                        "then bisection) and recommend a size.")] = False,
    client: ClientOption = None,
    fail_on: FailOnOption = FailOn.high,
    facts: FactsOption = None,
    rules: RulesOption = None,
    db: DbOption = None,
    as_json: JsonOption = False,
    all_variants: AllVariantsOption = False,
) -> None:
    """Run a council: stragglers, timeouts, serialisation vs parallelism (alpha), early consensus, right size."""
    from wfdoctor.surface.views import council as view

    options = checked_options(lambda: wfdoctor.CouncilOptions(
        members=list(member or []), members_file=members_file, prompt=prompt, max_tokens=max_tokens, timeout_s=timeout,
        retries=retries, quorum=quorum, agreement=agreement, similarity=similarity, sweep=sweep, facts_path=facts,
        rules_paths=rules or [], client=client))
    path = wfdoctor.database(db)
    with progress_on_stderr(path) as progress:
        report = wfdoctor.run_council(options, db=path, progress=progress)
    code = exit_code_for([f.priority for f in report.findings], fail_on)
    finish(as_json, lambda: view.document(report, code), lambda out: view.render(report, out, all_variants),
           report.run.id, path, code)


@app.command()
def history(
    limit: Annotated[int, typer.Option("--limit", min=1, max=1_000_000, help="How many runs, newest first.")] = 20,
    db: DbOption = None,
    as_json: JsonOption = False,
) -> None:
    """List stored runs: id, time, command, tier and findings by priority."""
    from wfdoctor.surface.views import history as view

    report = wfdoctor.history(limit, db=db)
    if as_json:
        print_document(view.document(report))
    else:
        view.render(report, stdout)


app.command()(monitor)
app.add_typer(alerts_app, name="alerts")


def main() -> None:
    """Entry point: user errors become one line on stderr and their exit code (2 unless they say otherwise);
    SIGTERM stops a command as Ctrl-C does."""
    stop_on_sigterm()
    try:
        app()
    except wfdoctor.WfdoctorError as exc:
        stderr.print(plain(f"wfdoctor: error: {exc}"), highlight=False, markup=False, soft_wrap=True)
        sys.exit(exc.exit_code)
