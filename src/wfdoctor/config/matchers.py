"""Label matchers as Prometheus and Alertmanager write them: `name="v"`, `!=`, `=~`, `!~`.

Routes, silences and alert rules select alerts by labels; one parser and one
matching rule keep them agreeing with each other and with Alertmanager, so a
matcher copied from an `alertmanager.yml` means the same thing here. Regular
expressions are fully anchored, as Prometheus anchors them, and a missing label
reads as the empty string (so `team=~".*"` matches an alert without `team`).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import Enum

from wfdoctor.config.regexes import compile_label_regex

_NAME = r"[A-Za-z_][A-Za-z0-9_]*"
_ITEM = re.compile(rf'\s*(?P<name>{_NAME})\s*(?P<op>=~|!~|!=|=)\s*'
                   r'(?:"(?P<quoted>(?:[^"\\]|\\.)*)"|(?P<bare>[^,{}"=!~\s]*))\s*')


class MatcherSyntaxError(ValueError):
    """A matcher that does not parse; the message is one line saying what and where in the text."""


class MatchType(str, Enum):
    EQUAL = "="
    NOT_EQUAL = "!="
    REGEX = "=~"
    NOT_REGEX = "!~"


@dataclass(frozen=True)
class Matcher:
    """One label condition; `str()` writes it back in the form Alertmanager reads."""

    name: str
    op: MatchType
    value: str
    _pattern: re.Pattern[str] | None = field(default=None, compare=False, repr=False)

    @classmethod
    def make(cls, name: str, op: MatchType, value: str) -> Matcher:
        pattern = None
        if op in (MatchType.REGEX, MatchType.NOT_REGEX):
            try:
                pattern = compile_label_regex(value)
            except ValueError as exc:
                raise MatcherSyntaxError(f"{name}{op.value}{json.dumps(value)}: invalid regular expression: "
                                         f"{exc}") from None
        return cls(name, op, value, pattern)

    def matches(self, labels: Mapping[str, str]) -> bool:
        actual = labels.get(self.name, "")
        if self._pattern is not None:
            return (self._pattern.fullmatch(actual) is not None) == (self.op is MatchType.REGEX)
        return (actual == self.value) == (self.op is MatchType.EQUAL)

    def __str__(self) -> str:
        return f"{self.name}{self.op.value}{json.dumps(self.value, ensure_ascii=False)}"


def _unquote(text: str, quoted: str) -> str:
    try:
        value = json.loads(f'"{quoted}"')
    except json.JSONDecodeError:
        raise MatcherSyntaxError(f"{text!r}: invalid escape in the quoted value \"{quoted}\"") from None
    return str(value)


def parse_matchers(text: str) -> tuple[Matcher, ...]:
    """Parse `a="x"`, `a="x", b=~"y"` or `{a="x",b=~"y"}` (values may be unquoted, as amtool allows)."""
    body = text.strip()
    if body.startswith("{") or body.endswith("}"):
        if not (body.startswith("{") and body.endswith("}")):
            raise MatcherSyntaxError(f"{text!r}: unbalanced braces")
        body = body[1:-1]
    matchers: list[Matcher] = []
    position = 0
    while body[position:].strip():
        found = _ITEM.match(body, position)
        if found is None:
            raise MatcherSyntaxError(f"{text!r}: expected name=\"value\" (or !=, =~, !~) at "
                                     f"{body[position:].strip()[:20]!r}")
        quoted = found["quoted"]
        value = _unquote(text, quoted) if quoted is not None else found["bare"]
        matchers.append(Matcher.make(found["name"], MatchType(found["op"]), value))
        position = found.end()
        if position < len(body):
            if body[position] != ",":
                raise MatcherSyntaxError(f"{text!r}: expected ',' between matchers at {body[position:][:20]!r}")
            position += 1
    if not matchers:
        raise MatcherSyntaxError(f"{text!r}: no matcher")
    return tuple(matchers)


def parse_matcher(text: str) -> Matcher:
    """Exactly one matcher, e.g. `severity="critical"`."""
    matchers = parse_matchers(text)
    if len(matchers) != 1:
        raise MatcherSyntaxError(f"{text!r}: expected one matcher, found {len(matchers)}")
    return matchers[0]


def matches_all(matchers: Iterable[Matcher], labels: Mapping[str, str]) -> bool:
    """True when every matcher holds (no matchers: everything matches, as in Alertmanager)."""
    return all(matcher.matches(labels) for matcher in matchers)
