"""Untrusted text shown as text: control characters made visible, Rich markup not interpreted.

Model, process and server names, server versions and error texts, prompts and answers,
file names and imported series names come from programs and files wfdoctor does not
control. Printed raw, `\\x1b[2J` clears the user's screen (any escape sequence reaches the
terminal: colours, cursor moves, OSC 8 hyperlinks, title changes), and `[link=...]` or
`[bold]` in a name would be read by Rich as markup. Rich's Text drops only a few control
codes (bell, backspace, CR), not ESC.

The escape form: every control character (Unicode category Cc: C0, DEL, C1) and every
bidirectional override or isolate (which reorder what is shown, as in "Trojan Source") is
written as Python writes it in a string literal: `\\x1b`, `\\x7f`, `\\u202e`. A reader sees
where the byte was and which one it was; the text stays one line. Where a caller asks
for it (answers and prompts), tab and newline are kept. JSON output keeps the raw strings:
JSON escaping is already safe.
"""

from __future__ import annotations

import html
import re

from rich.markup import escape

BIDI_CONTROLS = "\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069"
_ONE_LINE = re.compile(f"[\\x00-\\x1f\\x7f-\\x9f{BIDI_CONTROLS}]")
_LINES = re.compile(f"[\\x00-\\x08\\x0b-\\x1f\\x7f-\\x9f{BIDI_CONTROLS}]")  # keeps tab and newline


def _visible(match: re.Match[str]) -> str:
    """The character as a Python string literal writes it: \\x1b, \\n, \\u202e."""
    return ascii(match.group())[1:-1]


def plain(text: object, keep_newlines: bool = False) -> str:
    """`text` with its control characters escaped, for Text(...) and markup=False output."""
    return (_LINES if keep_newlines else _ONE_LINE).sub(_visible, str(text))


def shown(text: object, keep_newlines: bool = False) -> str:
    """`text` with control characters and Rich markup escaped, for markup strings and table cells."""
    return escape(plain(text, keep_newlines))


_MARKDOWN_PUNCTUATION = re.compile(r"([\\`*_\[\]|~])")


def markdown_text(text: object) -> str:
    """`text` as literal text in GitHub-flavoured Markdown (a table cell, a list item) a user pastes into an issue:
    control characters made visible, HTML as entities (`<script>` shows, never runs), and the punctuation that
    makes code, emphasis, links or table columns (`` \\ ` * _ [ ] | ~ ``) backslash-escaped. One line."""
    return _MARKDOWN_PUNCTUATION.sub(r"\\\1", html.escape(plain(text), quote=False))
