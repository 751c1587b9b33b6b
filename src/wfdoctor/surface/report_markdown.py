"""A report as Markdown, with each plot an SVG file in a folder beside it (`<name>-plots/NN.svg`).

Why separate files: Markdown has no standard way to embed an image, and a bug tracker or a git host
shows a relative image link beside the text; an inline data URI is dropped by most of them. The tables
are the same as the HTML's (surface/report_rows.py). Untrusted text is escaped: Markdown's special
characters get a backslash, `<` and `>` become entities (no raw HTML reaches a renderer), and a line
break cannot end a table row early.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

from wfdoctor.app.reports.report import Plot, ReportDocument
from wfdoctor.config.textfile import write_text
from wfdoctor.model import WfdoctorError
from wfdoctor.surface.report_rows import Table, facts_table, findings_table, incident_tables, run_heading, utc
from wfdoctor.surface.views.safe import plain

_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+!|~-])")


def md(text: str) -> str:
    """Untrusted text as literal Markdown: specials escaped, no HTML, one line, control characters visible (`\x1b`:
    `cat report.md` in a terminal must not run a stored text's escape sequences)."""
    text = plain(" ".join(text.split()))
    return _SPECIAL.sub(r"\\\1", text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _table(table: Table) -> list[str]:
    lines = [f"### {md(table.title)}", "", "| " + " | ".join(md(c) for c in table.header) + " |",
             "|" + "---|" * len(table.header)]
    rows = table.rows or [[table.empty] + [""] * (len(table.header) - 1)]
    return lines + ["| " + " | ".join(md(c) for c in row) + " |" for row in rows] + [""]


def plot_names(document: ReportDocument, folder: str) -> list[tuple[Plot, str]]:
    """Every plot of the report, in order, with its file's path relative to the Markdown file."""
    plots = [plot for section in document.runs for plot in section.plots]
    return [(plot, f"{folder}/{number:02d}.svg") for number, plot in enumerate(plots, start=1)]


def render(document: ReportDocument, folder: str) -> str:
    """The report's Markdown, its plots linked as `folder/NN.svg`."""
    names = iter(plot_names(document, folder))
    lines = [f"# {md(document.title)}", "",
             f"Generated {utc(document.generated_at)} by wfdoctor {md(document.wfdoctor_version)} from its database; "
             "nothing was measured again.", ""]
    if document.notes:
        lines += ["**What this report cannot show:**", ""] + [f"- {md(note)}" for note in document.notes] + [""]
    if document.incident is not None:
        for table in incident_tables(document.incident, document.incident_findings):
            lines += _table(table)
    for section in document.runs:
        lines += [f"## {md(run_heading(document, section))}", ""]
        lines += _table(findings_table(section.findings)) + _table(facts_table(section)) + ["### Plots", ""]
        for plot, name in (next(names) for _ in section.plots):
            lines += [f"![{md(plot.title)}]({name})", "", f"*{md(plot.title)}* (source: "
                      f"{md(plot.source)})", ""]
    return "\n".join(lines)


def write(document: ReportDocument, path: Path, draw: Callable[[Plot], str]) -> list[Path]:
    """Write `path` (the Markdown) and its plots in `<stem>-plots/`; the files written, Markdown first."""
    folder = path.with_name(f"{path.stem}-plots")
    try:
        folder.mkdir(exist_ok=True)
    except OSError as exc:   # a file of that name, a full disk: one line
        raise WfdoctorError(f"{folder}: cannot make the folder of the plots: {exc.strerror or exc}") from None
    written = [path]
    for plot, name in plot_names(document, folder.name):
        target = path.parent / name
        write_text(target, draw(plot), "plot")
        written.append(target)
    write_text(path, render(document, folder.name), "report")
    return written
