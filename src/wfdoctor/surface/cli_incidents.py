"""`wfdoctor incidents ...`: the knowledge base of documented troubleshooting sessions (list, show, search,
export, import). Exit codes: 0 done, 2 a bad input (unknown id, unreadable or refused file), one line."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

import wfdoctor
from wfdoctor.surface.options import DbOption, JsonOption, writable_file
from wfdoctor.surface.terminal import present, progress_on_stderr, stderr
from wfdoctor.surface.views.safe import plain

incidents_app = typer.Typer(help="The incident knowledge base: what went wrong before, and what fixed it.",
                            no_args_is_help=True)
LimitOption = Annotated[int, typer.Option("--limit", min=1, max=100_000, help="How many incidents, newest first.")]


def _note_unreadable(lines: list[str]) -> None:
    """Stored rows that cannot be read are named on stderr, never silently dropped."""
    for line in lines:
        stderr.print(plain(f"wfdoctor: note: skipped {line}"), markup=False, highlight=False, soft_wrap=True)


@incidents_app.command("list")
def incidents_list(limit: LimitOption = 50, db: DbOption = None, as_json: JsonOption = False) -> None:
    """Documented incidents, newest first: status, validation verdict, cause, summary."""
    from wfdoctor.surface.views import incidents as view

    path = wfdoctor.database(db)
    with progress_on_stderr(path):
        report = wfdoctor.list_incidents(limit, db=path)
    _note_unreadable(report.unreadable)
    present(as_json, lambda: view.list_document(report), lambda out: view.render_list(report, out))


@incidents_app.command("show")
def incidents_show(
    incident_id: Annotated[int, typer.Argument(metavar="ID", min=1, help="The incident's number (incidents list).")],
    db: DbOption = None,
    as_json: JsonOption = False,
) -> None:
    """One incident whole: cause, actions, validation, evidence, fingerprint, note."""
    from wfdoctor.surface.views import incidents as view

    path = wfdoctor.database(db)
    with progress_on_stderr(path):
        report = wfdoctor.show_incident(incident_id, db=path)
    present(as_json, lambda: view.show_document(report), lambda out: view.render_show(report, out))


@incidents_app.command("search")
def incidents_search(
    text: Annotated[str, typer.Argument(help="Looked for, in any case, in causes, summaries, symptoms, notes and "
                                        "action titles.")],
    limit: LimitOption = 50,
    db: DbOption = None,
    as_json: JsonOption = False,
) -> None:
    """Incidents that mention TEXT, newest first."""
    from wfdoctor.surface.views import incidents as view

    path = wfdoctor.database(db)
    with progress_on_stderr(path):
        report = wfdoctor.search_incidents(text, limit, db=path)
    _note_unreadable(report.unreadable)
    present(as_json, lambda: view.list_document(report), lambda out: view.render_list(report, out))


@incidents_app.command("export")
def incidents_export(
    out: Annotated[Optional[Path], typer.Option("--out", callback=writable_file,
                                                help="Write the export here (default: stdout).")] = None,
    ids: Annotated[Optional[list[int]], typer.Option("--id", min=1, help="Only this incident (repeatable); "
                                                     "default: all.")] = None,
    db: DbOption = None,
    as_json: JsonOption = False,
) -> None:
    """One JSON document of incidents for a team to share (`incidents import` reads it).

    Without --out the document itself is printed (it is JSON, with or without --json); with --out, --json
    prints what was written (incidents-exported)."""
    from wfdoctor.surface.views import incidents as view

    path = wfdoctor.database(db)
    with progress_on_stderr(path):
        report = wfdoctor.export_incidents(ids or [], out, db=path)
    _note_unreadable(report.unreadable)
    if out is None:
        print(report.document.model_dump_json(indent=2))
    else:
        present(as_json, lambda: view.exported_document(report), lambda console: view.render_exported(report, console))


@incidents_app.command("import")
def incidents_import(
    file: Annotated[Path, typer.Argument(help="An `incidents export` file (at most 50 MiB).")],
    db: DbOption = None,
    as_json: JsonOption = False,
) -> None:
    """Add a team's incidents (origin "imported: FILE"); ones already present are skipped, so twice adds nothing."""
    from wfdoctor.surface.views import incidents as view

    path = wfdoctor.database(db)
    with progress_on_stderr(path):
        report = wfdoctor.import_incidents(file, db=path)
    present(as_json, lambda: view.import_document(report), lambda out: view.render_import(report, out))
