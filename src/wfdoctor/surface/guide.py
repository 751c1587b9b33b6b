"""The troubleshooting guide as Markdown: the page (`wfdoctor guide`, docs/troubleshooting-guide.md) and the
README's summary table.

Deterministic: the same data files give the same bytes (areas in file order, entries most urgent first,
then by id), so a test can regenerate the shipped page and compare. Every text comes from the data files,
and a user's rules file is not trusted: `md` escapes each cell, so a `|` cannot break a table nor `<script>`
reach a rendered page.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

from wfdoctor.app.reports.guide import CatalogueAction, Guide, GuideAction, GuideAlert, GuideEntry
from wfdoctor.config.durations import format_duration
from wfdoctor.surface.views.safe import plain

_MARKDOWN = re.compile(r"([\\`*_\[\]|])")


def md(text: str) -> str:
    """`text` as literal Markdown inline text: HTML escaped, Markdown punctuation and pipes escaped, one line
    (control characters shown as `\\x1b`, as everywhere untrusted text is shown)."""
    escaped = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return plain(" ".join(_MARKDOWN.sub(r"\\\1", escaped).split()))


def code(text: str) -> str:
    """`text` in a code span (ids, expressions: shown literally, HTML included) where that is safe, else escaped
    plain text: a backtick would end the span, a pipe the table cell."""
    safe = text and text == text.strip() and plain(text) == text and not {"`", "|"} & set(text)
    return f"`{text}`" if safe else md(text)


def table(header: Sequence[str], rows: Iterable[Sequence[str]]) -> list[str]:
    """A Markdown table; the cells must already be escaped (`md`/`code`)."""
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return lines + ["| " + " | ".join(row) + " |" for row in rows]


def _first_action(entry: GuideEntry) -> str:
    return f"{md(entry.actions[0].title)} ({entry.actions[0].level})" if entry.actions else "none"


def _settings(action: GuideAction | CatalogueAction) -> str:
    return "; ".join(f"{code(s.server)}: {md(s.setting)}" for s in action.settings) or "-"


def _entry(entry: GuideEntry) -> list[str]:
    title = f"rule {code(entry.id)}" if entry.kind == "rule" else f"cause computed in code, finding {code(entry.id)}"
    facts = [f"- Symptom: {md(entry.symptom)} (triage row {code(entry.row)})", f"- Cause: {md(entry.cause)}",
             f"- Priority: {entry.priority.value}"]
    if entry.measured_by:
        facts.append(f"- Measured by: {md(entry.measured_by)}")
    if entry.explains:
        facts.append(f"- {code(entry.code)} explains {', '.join(code(rule_id) for rule_id in entry.explains)} "
                     "(when one of them is more urgent, the cause is reported at its priority)")
    if entry.explained_by:
        facts.append(f"- Explained by: {', '.join(code(cause) for cause in entry.explained_by)}")
    facts.append(f"- Alert rules watching for it: {', '.join(code(a) for a in entry.alerts) or 'none'}")
    actions = table(["Action", "Level", "In the list for", "Setting per server"],
                    ([f"{md(a.title)} ({code(a.id)})", a.level, ", ".join(code(s) for s in a.servers), _settings(a)]
                     for a in entry.actions)) if entry.actions else ["No action: nothing to do."]
    return [f"### {code(entry.code)}: {title}", "", *facts, "", *actions, ""]


def _escalation(alert: GuideAlert) -> str:
    return ", ".join(f"{code(step.id)} ({step.level or 'unknown step'})" for step in alert.escalation) or "-"


def render_markdown(guide: Guide, note: str = "") -> str:
    """The whole guide: escalation levels, the triage matrix, each area's entries, the alert rules, the actions
    catalogue.

    `note` (Markdown, trusted) goes under the title: where the page came from.
    """
    lines = ["# Troubleshooting guide", "", *([note, ""] if note else []), "## Escalation levels", "",
             *table(["Level", "Who acts", "What it means"], ([lv.level, md(lv.who), md(lv.means)]
                                                            for lv in guide.levels)),
             "", "## Triage matrix", "",
             *table(["Symptom", "Likely cause", "Priority", "First step"],
                    ([md(r.symptom), md(r.likely_cause), r.priority.value, md(r.action)] for r in guide.rows)), ""]
    for area in guide.areas:
        lines += [f"## {md(area.title)}", "",
                  *table(["Code", "Symptom", "Cause", "Priority", "First action (level)"],
                         ([code(e.code), md(e.symptom), md(e.cause), e.priority.value, _first_action(e)]
                          for e in area.entries)), ""]
        for entry in area.entries:
            lines += _entry(entry)
    lines += ["## Alert rules", "",
              *table(["Alert", "Severity", "For", "Expression", "Escalation (level)"],
                     ([code(a.name), md(a.severity), format_duration(a.for_s), code(a.expr), _escalation(a)]
                      for a in guide.alerts)),
              "", "## Actions catalogue", "",
              *table(["Action", "Level", "What it changes", "Undo", "Setting per server", "Named by"],
                     ([f"{md(a.title)} ({code(a.id)})", a.level, md(a.changes), md(a.undo), _settings(a),
                       ", ".join(code(c) for c in a.used_by) or "-"] for a in guide.actions))]
    return "\n".join(lines) + "\n"


def render_summary(guide: Guide) -> str:
    """The README's short table: every symptom rule with its cause, priority, first action and the causes
    computed in code that explain it."""
    rules = [entry for area in guide.areas for entry in area.entries if entry.kind == "rule"]
    return "\n".join(table(["Symptom", "Cause", "Priority", "First action (level)", "Explained by"],
                           ([md(e.symptom), md(e.cause), e.priority.value, _first_action(e),
                             ", ".join(code(cause) for cause in e.explained_by) or "-"] for e in rules))) + "\n"
