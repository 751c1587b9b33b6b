"""Label regular expressions (`=~`, `!~` in rules, routes and silences) that cannot hang the monitor.

Prometheus and Alertmanager match with RE2, which runs in linear time whatever the pattern.
Python's `re` backtracks: `(a+)+b` against thirty `a`s takes minutes, and the value it runs
against may be a label someone pushed to `POST /api/samples`. So a pattern that repeats a
part which itself repeats (the shape of every exponential case) is refused where it is written,
with the reason, instead of stalling the sampling loop the day a matching label arrives.
"""

from __future__ import annotations

import re
import re._parser as sre  # the stdlib's own parse tree of a pattern (no public equivalent)
from typing import Any

_REPEATS = {sre.MAX_REPEAT, sre.MIN_REPEAT, sre.POSSESSIVE_REPEAT}


def _repeats_a_repeat(items: Any, inside_repeat: bool) -> bool:
    """True when some repetition of more than one occurrence holds another inside it."""
    for op, arg in items:
        if op in _REPEATS:
            _, high, body = arg
            many = high is sre.MAXREPEAT or high > 1
            if (many and inside_repeat) or _repeats_a_repeat(body, inside_repeat or many):
                return True
        elif any(_repeats_a_repeat(inner, inside_repeat) for inner in _inner(op, arg)):
            return True
    return False


def _inner(op: Any, arg: Any) -> list[Any]:
    """The sub-patterns of a group, an alternation or a lookaround (none for anything else)."""
    if op is sre.SUBPATTERN:
        return [arg[-1]]
    if op is sre.BRANCH:
        return list(arg[1])
    return [arg[1]] if op in (sre.ASSERT, sre.ASSERT_NOT) else []


def compile_label_regex(pattern: str) -> re.Pattern[str]:
    """`pattern` compiled; ValueError (with the reason) when it does not compile or nests repetitions."""
    try:
        compiled = re.compile(f"(?:{pattern})")
    except re.error as exc:
        raise ValueError(exc.msg) from None
    if _repeats_a_repeat(sre.parse(f"(?:{pattern})"), False):
        raise ValueError("a repetition inside a repetition (like (a+)+) can take exponential time in Python's "
                         "regular expressions; write it without the nesting")
    return compiled
