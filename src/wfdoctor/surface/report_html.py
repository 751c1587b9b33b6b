"""A report as one self-contained HTML file: inline CSS, plots as SVG data URIs, nothing fetched.

Why data URIs in <img> rather than inline <svg>: each plot stays a separate document, so the ids
matplotlib gives clip paths and glyphs never collide between plots, and a test can check each image
decoded (naturalWidth). The Content-Security-Policy (`default-src 'none'`) makes the promise
checkable in the file itself: a browser refuses any request the page might try (fonts, scripts,
images from elsewhere). Every piece of text from outside (model, process and server names, notes,
settings) is HTML-escaped, its control characters written visibly (`\x1b`, as in the terminal views).
"""

from __future__ import annotations

import base64
import html
from collections.abc import Callable

from wfdoctor.app.reports.report import Plot, ReportDocument, RunSection
from wfdoctor.surface.report_rows import Table, facts_table, findings_table, incident_tables, run_heading, utc
from wfdoctor.surface.views.safe import plain

CSP = "default-src 'none'; img-src data:; style-src 'unsafe-inline'"
STYLE = """
body { font-family: sans-serif; max-width: 60rem; margin: 2rem auto; padding: 0 1rem; color: #2c3e50; }
table { border-collapse: collapse; margin: 0.5rem 0 1.5rem; font-size: 0.9rem; }
.wide { overflow-x: auto; }
th, td { border: 1px solid #ccd; padding: 0.25rem 0.5rem; text-align: left; vertical-align: top; }
th { background: #eef; }
.notes { background: #fdecea; border-left: 4px solid #c0392b; padding: 0.5rem 1rem; }
figure { margin: 1rem 0; } figure img { max-width: 100%; height: auto; border: 1px solid #eee; }
figcaption { font-size: 0.85rem; color: #555; }
"""


def escape(text: str) -> str:
    """Text from outside as HTML text: entities for markup, and ESC, BEL, NUL or a bidi override visible, not
    kept raw for a terminal that `cat`s the file (or a parser that drops them) to act on."""
    return html.escape(plain(text, keep_newlines=True))


def _table(table: Table) -> str:
    head = "".join(f"<th>{escape(cell)}</th>" for cell in table.header)
    body = "".join("<tr>" + "".join(f"<td>{escape(cell)}</td>" for cell in row) + "</tr>" for row in table.rows)
    if not table.rows:
        body = f'<tr><td colspan="{len(table.header)}">{escape(table.empty)}</td></tr>'
    # A table wider than the page scrolls in its own box: the page never hides columns off its right edge.
    return (f"<h3>{escape(table.title)}</h3>\n<div class=\"wide\"><table><thead><tr>{head}</tr></thead>"
            f"<tbody>{body}</tbody></table></div>\n")


def _figure(plot: Plot, svg: str) -> str:
    data = base64.b64encode(svg.encode("utf-8")).decode("ascii")
    caption = f"{plot.title} (source: {plot.source})"
    return (f'<figure><img src="data:image/svg+xml;base64,{data}" alt="{escape(plot.title)}">'
            f"<figcaption>{escape(caption)}</figcaption></figure>\n")


def _section(document: ReportDocument, section: RunSection, draw: Callable[[Plot], str]) -> str:
    parts = [f"<section><h2>{escape(run_heading(document, section))}</h2>\n",
             _table(findings_table(section.findings)), _table(facts_table(section)), "<h3>Plots</h3>\n"]
    parts += [_figure(plot, draw(plot)) for plot in section.plots]
    return "".join(parts) + "</section>\n"


def render(document: ReportDocument, draw: Callable[[Plot], str]) -> str:
    """The whole report as one HTML document; `draw` turns a plot into SVG (surface/plots.svg)."""
    parts = [f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
             f'<meta http-equiv="Content-Security-Policy" content="{CSP}">'
             f"<title>{escape(document.title)}</title><style>{STYLE}</style></head><body>\n",
             f"<h1>{escape(document.title)}</h1>\n",
             f"<p>Generated {escape(utc(document.generated_at))} by wfdoctor {escape(document.wfdoctor_version)} "
             "from its database; nothing was measured again.</p>\n"]
    if document.notes:
        items = "".join(f"<li>{escape(note)}</li>" for note in document.notes)
        parts.append(f'<div class="notes"><strong>What this report cannot show</strong><ul>{items}</ul></div>\n')
    if document.incident is not None:
        parts += [_table(table) for table in incident_tables(document.incident, document.incident_findings)]
    parts += [_section(document, section, draw) for section in document.runs]
    return "".join(parts) + "</body></html>\n"
