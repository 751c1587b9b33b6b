"""`wfdoctor regress ...`: import results, check the history for regressions (a CI gate), show a series."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

import wfdoctor
from wfdoctor.config.textfile import write_text
from wfdoctor.model import PLAUSIBLE_TIMES
from wfdoctor.surface.options import DbOption, JsonOption, finite, writable_file
from wfdoctor.surface.terminal import (EXIT_FINDINGS, EXIT_HEALTHY, checked_options, finish, print_document,
                                       progress_on_stderr, stderr, stdout)
from wfdoctor.surface.views.safe import plain

regress_app = typer.Typer(help="Regression detection over the stored history (and a CI gate).",
                          no_args_is_help=True)


def _note_invalid(report: wfdoctor.RegressReport) -> None:
    """Stored points no check can judge (an older import, a hand edit) are named on stderr, not hidden."""
    if report.invalid_points:
        stderr.print(f"wfdoctor: note: {report.invalid_points} stored points skipped: not a finite value at a time "
                     f"{PLAUSIBLE_TIMES} (an older wfdoctor's import, or edited by hand)", markup=False,
                     highlight=False, soft_wrap=True)


@regress_app.command("record")
def regress_record(
    file: Annotated[Path, typer.Argument(help="pytest-benchmark JSON, or CSV/JSON of timestamp,metric,value,"
                                         "revision.")],
    db: DbOption = None,
    as_json: JsonOption = False,
) -> None:
    """Import external results into the history."""
    from wfdoctor.surface.views import regress as view

    path = wfdoctor.database(db)
    with progress_on_stderr(path):  # Ctrl-C or SIGTERM: one line and exit 130 or 143, as every command
        report = wfdoctor.record_results(file, db=path)
    if as_json:
        print_document(view.record_document(report, EXIT_HEALTHY))
    else:
        stdout.print(plain(f"Recorded {report.points} points from {file} in {path}."), markup=False)


@regress_app.command("check")
def regress_check(
    metric: Annotated[Optional[list[str]], typer.Option("--metric", help="Only these metrics (repeatable).")]
    = None,
    min_effect: Annotated[float, typer.Option("--min-effect", min=0.0, callback=finite, help="Smallest change "
                                              "that counts (0.05 = 5 %).")] = 0.05,
    min_after: Annotated[int, typer.Option("--min-after", min=1, help="Points after a change before it counts "
                                           "at the end.")] = 3,
    markdown_path: Annotated[Optional[Path], typer.Option("--markdown", callback=writable_file,
                                                          help="Write a pull-request comment here.")] = None,
    mode: Annotated[str, typer.Option("--mode", help="changepoint (whole history) or window (the spec's: "
                                      "older vs the last --window-hours, >= 10 samples each, Mann-Whitney).")]
    = "changepoint",
    window_hours: Annotated[float, typer.Option("--window-hours", min=0.001, callback=finite, help="Recent window for "
                                                "--mode window.")] = 24.0,
    db: DbOption = None,
    as_json: JsonOption = False,
) -> None:
    """Exit 1 when a series ends in a regression (change points, direction-aware, BH over series)."""
    from wfdoctor.surface.views import regress as view

    settings = checked_options(lambda: wfdoctor.CheckSettings(min_effect=min_effect, min_after=min_after, mode=mode,
                                                              window_s=window_hours * 3600))
    path = wfdoctor.database(db)
    with progress_on_stderr(path):
        report = wfdoctor.check_regressions(metric, settings, db=path)
    _note_invalid(report)
    code = EXIT_FINDINGS if any(v.discovery for v in report.verdicts) else EXIT_HEALTHY
    if markdown_path is not None:
        write_text(markdown_path, view.markdown(report.verdicts), "Markdown summary")
    run_id = report.run.id if report.run else None
    finish(as_json, lambda: view.check_document(report, code), lambda out: view.render_check(report, out), run_id,
           path, code)


@regress_app.command("show")
def regress_show(
    metric: Annotated[str, typer.Argument(help="Metric name, e.g. wf_llm_decode_tokens_per_second.")],
    plot: Annotated[Optional[Path], typer.Option("--plot", callback=writable_file,
                                                   help="Write an SVG plot here.")] = None,
    db: DbOption = None,
    as_json: JsonOption = False,
) -> None:
    """Print a metric's series with its change points (and plot them)."""
    from wfdoctor.surface.views import regress as view

    path = wfdoctor.database(db)
    with progress_on_stderr(path):
        report = wfdoctor.show_series(metric, db=path)
    _note_invalid(report)
    if as_json:
        print_document(view.show_document(report))
    else:
        view.render_show(report, stdout)
    for number, verdict in enumerate(report.verdicts):
        if plot is not None:
            target = plot if len(report.verdicts) == 1 else plot.with_stem(f"{plot.stem}-{number}")
            write_text(target, view.svg_plot(verdict.series, verdict.changes), "plot")
            if not as_json:
                stdout.print(plain(f"plot: {target}"), markup=False)
