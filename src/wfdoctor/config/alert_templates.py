"""The annotation template subset of Prometheus alert rules, rendered to the same text Prometheus renders.

Supported: `{{ $value }}`, `{{ $labels.name }}` and either piped through `humanize` or
`humanizePercentage`. The same rule file is exported to Prometheus, so a summary must
read alike in wfdoctor's alert and in Alertmanager: numbers print as Go prints a float64
(`%v`), humanize uses SI prefixes with four significant digits, a missing label prints
`<no value>`. Anything else inside `{{ }}` is refused when the rule file loads.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping

TEMPLATE = re.compile(r"\{\{(.*?)\}\}")
ACTION = re.compile(r"^\s*\$(?:value|labels\.([a-zA-Z_][a-zA-Z0-9_]*))\s*(?:\|\s*(humanize|humanizePercentage)\s*)?$")
BIG_PREFIXES = ("k", "M", "G", "T", "P", "E", "Z", "Y")
SMALL_PREFIXES = ("m", "u", "n", "p", "f", "a", "z", "y")
SI_STEP = 1000.0


def go_float(value: float) -> str:
    """A float64 as Go's `%v` prints it: `100`, `0.93`, `1e+21`, `NaN`, `+Inf`."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    if float(value).is_integer() and abs(value) < 1e21:
        return str(int(value))
    return repr(float(value))


def _go_g4(value: float) -> str:
    return f"{value:.4g}"


def humanize(value: float) -> str:
    """Prometheus' `humanize`: 1234567 -> 1.235M, 0.25 -> 250m."""
    if value == 0 or math.isnan(value) or math.isinf(value):
        return _go_g4(value)
    prefix = ""
    if abs(value) >= 1:
        for candidate in BIG_PREFIXES:
            if abs(value) < SI_STEP:
                break
            prefix, value = candidate, value / SI_STEP
    else:
        for candidate in SMALL_PREFIXES:
            if abs(value) >= 1:
                break
            prefix, value = candidate, value * SI_STEP
    return f"{_go_g4(value)}{prefix}"


def humanize_percentage(value: float) -> str:
    """Prometheus' `humanizePercentage`: 0.934 -> 93.4%."""
    return f"{_go_g4(value * 100)}%"


FILTERS: dict[str, Callable[[float], str]] = {"humanize": humanize, "humanizePercentage": humanize_percentage}


def check_template(text: str) -> str | None:
    """What is wrong with `text` as an annotation template; None when it renders."""
    for action in TEMPLATE.findall(text):
        if ACTION.match(action) is None:
            return (f"unsupported template '{{{{{action}}}}}' (use {{{{ $value }}}}, {{{{ $labels.NAME }}}}, "
                    "optionally | humanize or | humanizePercentage)")
    return None


def _number(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None


def render(text: str, labels: Mapping[str, str], value: float | None) -> str:
    """`text` with each action replaced; a filter over a label that is not a number leaves it as text."""
    def action(match: re.Match[str]) -> str:
        parsed = ACTION.match(match.group(1))
        if parsed is None:
            return match.group(0)
        label, pipe = parsed.groups()
        if label is not None:
            raw = labels.get(label)
            if raw is None:
                return "<no value>"
            number = _number(raw) if pipe else None
            return FILTERS[pipe](number) if pipe and number is not None else raw
        if value is None:
            return "<no value>"
        return FILTERS[pipe](value) if pipe else go_float(value)
    return TEMPLATE.sub(action, text)
