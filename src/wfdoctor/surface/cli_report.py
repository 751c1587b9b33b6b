"""`wfdoctor report RUN|incident:N`: a stored run or incident as Markdown and one self-contained HTML file."""

from __future__ import annotations

import stat
from enum import Enum
from pathlib import Path
from typing import Annotated, Optional

import typer

import wfdoctor
from wfdoctor.config.textfile import write_text
from wfdoctor.surface.options import DbOption, JsonOption
from wfdoctor.surface.terminal import print_document, progress_on_stderr, stderr, stdout
from wfdoctor.surface.views.safe import plain

SUFFIXES = {"html": ".html", "md": ".md"}


class ReportFormat(str, Enum):
    html = "html"
    md = "md"
    both = "both"


def _say(message: str) -> None:
    stderr.print(plain(f"wfdoctor: {message}"), markup=False, highlight=False, soft_wrap=True)


def output_paths(out: Path, default_stem: str, fmt: ReportFormat) -> list[Path]:
    """PATH.html and/or PATH.md (a given .html or .md suffix is dropped); refused before anything is built when the
    folder is missing or a target exists and is not a regular file (a folder, a device, a pipe)."""
    stem = out if out.suffix not in SUFFIXES.values() else out.with_suffix("")
    stem = stem / default_stem if out.is_dir() else stem
    paths = [stem.with_name(stem.name + SUFFIXES[kind]) for kind in SUFFIXES if fmt.value in (kind, "both")]
    if not stem.parent.is_dir():
        raise wfdoctor.WfdoctorError(f"{out}: folder {stem.parent} does not exist")
    for path in paths:
        if path.exists() and not stat.S_ISREG(path.stat().st_mode):
            raise wfdoctor.WfdoctorError(f"{path} exists and is not a regular file: not overwritten")
    return paths


def report(
    target: Annotated[str, typer.Argument(help="A run id (see wfdoctor history) or incident:N.")],
    out: Annotated[Optional[Path], typer.Option("--out", help="Path of the report without suffix (PATH.html, PATH.md)"
                                                ", or a folder; default: wfdoctor-run-ID in the current folder.")]
    = None,
    fmt: Annotated[ReportFormat, typer.Option("--format", help="html (one self-contained file), md (Markdown with "
                                              "its plots as SVG files beside it), or both.")] = ReportFormat.both,
    db: DbOption = None,
    as_json: JsonOption = False,
) -> None:
    """Write a report of a stored run or incident: findings, versions and fingerprints, and plots."""
    from wfdoctor.surface.views import report as view

    path = wfdoctor.database(db)
    with progress_on_stderr(path) as progress:  # Ctrl-C or SIGTERM: one line and exit 130 or 143, as every command
        document = wfdoctor.build_report(target, db=path)
        paths = output_paths(out or Path(document.target.name), document.target.name, fmt)
        progress.note(f"drawing {sum(len(section.plots) for section in document.runs)} plots of {document.title}")
        written = _write(document, paths)
    for note in document.notes:
        _say(f"note: {note}")
    if as_json:
        print_document(view.document(document, written))
    else:
        for path in paths:
            stdout.print(plain(str(path)), markup=False, highlight=False, soft_wrap=True)


def _write(document: wfdoctor.ReportDocument, paths: list[Path]) -> list[Path]:
    """Render and write each file; the files written, in order (the Markdown's plots after it)."""
    from wfdoctor.surface import plots, report_html, report_markdown

    written: list[Path] = []
    for path in paths:
        if path.suffix == ".html":
            write_text(path, report_html.render(document, plots.svg), "report")
            written.append(path)
        else:
            written += report_markdown.write(document, path, plots.svg)
        _say(f"wrote {path}")
    return written
