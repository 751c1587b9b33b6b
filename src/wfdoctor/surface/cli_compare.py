"""`wfdoctor compare RUN_A RUN_B`: two stored runs side by side, a statistical verdict per metric.

Exit codes: 0 compared (also when something got worse, unless --fail-on-worse); 1 with --fail-on-worse
when any metric is worse (a CI gate); 2 a run that does not exist, runs of two kinds, a bad option or
an unusable database or facts file (one line on stderr); 130/143 interrupted, as every command.
"""

from __future__ import annotations

from typing import Annotated

import typer

import wfdoctor
from wfdoctor.surface.options import DbOption, FactsOption, JsonOption
from wfdoctor.surface.terminal import EXIT_FINDINGS, EXIT_HEALTHY, print_document, progress_on_stderr, stdout


def compare(
    run_a: Annotated[int, typer.Argument(metavar="RUN_A", help="The run before (an id from `wfdoctor history`).")],
    run_b: Annotated[int, typer.Argument(metavar="RUN_B", help="The run after, of the same kind (tokens, "
                                         "council, ...).")],
    fail_on_worse: Annotated[bool, typer.Option("--fail-on-worse", help="Exit 1 when any metric got worse "
                                                "(for CI).")] = False,
    as_markdown: Annotated[bool, typer.Option("--markdown", help="Print a GitHub-flavoured Markdown card to paste "
                                              "into an issue or pull request.")] = False,
    facts: FactsOption = None,
    db: DbOption = None,
    as_json: JsonOption = False,
) -> None:
    """Compare two stored runs of the same kind: per metric improved / unchanged / worse / inconclusive
    (Mann-Whitney, Cliff's delta, bootstrap interval of the median change). Exit 0 compared, 1 a metric worse
    with --fail-on-worse, 2 a missing run, runs of two kinds or a bad option."""
    from wfdoctor.surface.views import compare as view

    if as_json and as_markdown:
        raise typer.BadParameter("choose one of --json and --markdown")
    path = wfdoctor.database(db)
    with progress_on_stderr(path):
        report = wfdoctor.compare_runs(run_a, run_b, facts_path=facts, db=path)
    code = EXIT_FINDINGS if fail_on_worse and report.any_worse else EXIT_HEALTHY
    if as_json:
        print_document(view.document(report, code))
    elif as_markdown:
        print(view.markdown(report, wfdoctor.__version__), end="")
    else:
        view.render(report, stdout, code)
    raise typer.Exit(code)
