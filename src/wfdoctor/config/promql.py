"""The PromQL subset alert rules are written in: tokens, a recursive-descent parser, the syntax tree.

It lives in `config/` because the rule loader must refuse a rule that does not parse,
or that names an unregistered metric, when the file is read (with file:line), before
any evaluation; the evaluator (`analyze/promql.py`) walks the same tree. Precedence is
PromQL's: `or` < `and`/`unless` < comparisons < `+ -` < `* / %` < unary minus, all
binary operators left-associative. Our one extension, `baseline(metric)`, records its
text span so the Prometheus export can replace it with an expression Prometheus runs.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from wfdoctor.config.durations import format_duration, parse_duration
from wfdoctor.config.matchers import Matcher, MatcherSyntaxError, MatchType
from wfdoctor.model import WfdoctorError

OVER_TIME = ("avg_over_time", "min_over_time", "max_over_time", "sum_over_time", "count_over_time", "last_over_time")
RANGE_FUNCTIONS = (*OVER_TIME, "rate", "absent_over_time")
AGGREGATIONS = ("avg", "min", "max", "sum", "count")
COMPARISONS = ("==", "!=", ">=", "<=", ">", "<")
ARITHMETIC = ("+", "-", "*", "/", "%")
SET_OPERATORS = ("and", "or", "unless")
MAX_RANGE_S = 86_400.0  # a day: the sample window holds every point of the longest range, per series, in memory
TOKEN = re.compile(r"""
    (?P<space>\s+)
  | (?P<duration>\d+(?:ms|[smhdwy])(?:\d+(?:ms|[smhdwy]))*(?![\w.]))
  | (?P<number>(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)
  | (?P<string>"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*')
  | (?P<ident>[a-zA-Z_:][a-zA-Z0-9_:]*)
  | (?P<op>==|!=|>=|<=|=~|!~|[-+*/%<>=(){}\[\],])
""", re.VERBOSE)
ESCAPES = {"n": "\n", "t": "\t", "\\": "\\", '"': '"', "'": "'"}


class PromQLError(WfdoctorError):
    """An expression that does not parse or cannot be evaluated; `column` is 1-based (0 when unknown)."""

    def __init__(self, message: str, column: int = 0) -> None:
        super().__init__(f"{message} (column {column})" if column else message)
        self.column = column


@dataclass(frozen=True)
class Number:
    value: float


@dataclass(frozen=True)
class Selector:
    """`metric{matchers}` (instant) or `metric{matchers}[range]` (range, `range_s` set)."""

    metric: str
    matchers: tuple[Matcher, ...] = ()
    range_s: float | None = None


@dataclass(frozen=True)
class Call:
    """A function call; `span` is the call's [start, end) in the expression text."""

    name: str
    args: tuple[Node, ...]
    span: tuple[int, int]


@dataclass(frozen=True)
class Aggregate:
    op: str
    expr: Node
    by: tuple[str, ...] | None = None


@dataclass(frozen=True)
class Unary:
    expr: Node


@dataclass(frozen=True)
class Binary:
    op: str
    lhs: Node
    rhs: Node
    bool_modifier: bool = False


Node = Number | Selector | Call | Aggregate | Unary | Binary


@dataclass(frozen=True)
class Token:
    kind: str     # duration, number, string, ident, op, end
    text: str
    pos: int      # 0-based offset


def tokenize(text: str) -> list[Token]:
    tokens, pos = [], 0
    while pos < len(text):
        match = TOKEN.match(text, pos)
        if match is None:
            raise PromQLError(f"unexpected character '{text[pos]}'", pos + 1)
        kind = match.lastgroup or ""
        if kind != "space":
            tokens.append(Token(kind, match.group(), pos))
        pos = match.end()
    tokens.append(Token("end", "", len(text)))
    return tokens


def _unquote(token: Token) -> str:
    body = token.text[1:-1]
    return re.sub(r"\\(.)", lambda m: ESCAPES.get(m.group(1), m.group(0)), body)


class _Parser:
    def __init__(self, text: str) -> None:
        self.tokens = tokenize(text)
        self.index = 0

    @property
    def token(self) -> Token:
        return self.tokens[self.index]

    def fail(self, message: str, token: Token | None = None) -> PromQLError:
        at = token or self.token
        found = f"'{at.text}'" if at.kind != "end" else "the end"
        return PromQLError(f"{message}, found {found}", at.pos + 1)

    def take(self) -> Token:
        token = self.token
        self.index += 1
        return token

    def accept(self, *texts: str) -> Token | None:
        if self.token.kind in ("op", "ident") and self.token.text in texts:
            return self.take()
        return None

    def expect(self, text: str) -> Token:
        token = self.accept(text)
        if token is None:
            raise self.fail(f"expected '{text}'")
        return token

    def binary(self, operators: tuple[str, ...], operand: str) -> Node:
        """One precedence level: `operand (op operand)*`, left-associative."""
        lhs = getattr(self, operand)()
        while (op := self.accept(*operators)) is not None:
            bool_modifier = op.text in COMPARISONS and self.accept("bool") is not None
            rhs = getattr(self, operand)()
            if op.text in COMPARISONS and not bool_modifier and isinstance(lhs, Number) and isinstance(rhs, Number):
                raise PromQLError("comparisons between scalars must use the bool modifier", op.pos + 1)
            lhs = Binary(op.text, lhs, rhs, bool_modifier)
        return lhs

    def or_expr(self) -> Node:
        return self.binary(("or",), "and_expr")

    def and_expr(self) -> Node:
        return self.binary(("and", "unless"), "comparison")

    def comparison(self) -> Node:
        return self.binary(COMPARISONS, "additive")

    def additive(self) -> Node:
        return self.binary(("+", "-"), "multiplicative")

    def multiplicative(self) -> Node:
        return self.binary(("*", "/", "%"), "unary")

    def unary(self) -> Node:
        sign = self.accept("-", "+")
        if sign is None:
            return self.primary()
        operand = self.unary()
        if sign.text == "+":
            return operand
        return Number(-operand.value) if isinstance(operand, Number) else Unary(operand)

    def primary(self) -> Node:
        token = self.token
        if token.kind == "number":
            return Number(float(self.take().text))
        if self.accept("("):
            inner = self.or_expr()
            self.expect(")")
            return inner
        if token.kind != "ident" or token.text in (*SET_OPERATORS, "bool", "by"):
            raise self.fail("expected a number, a metric, a function or '('")
        if token.text in AGGREGATIONS and self.tokens[self.index + 1].text in ("(", "by"):
            return self.aggregate()
        if self.tokens[self.index + 1].text == "(":
            return self.call()
        selector = self.selector()
        if selector.range_s is not None:
            raise PromQLError("a range selector is only allowed as a function's argument", token.pos + 1)
        return selector

    def labels(self) -> tuple[str, ...]:
        self.expect("(")
        names: list[str] = []
        while not self.accept(")"):
            if names:
                self.expect(",")
            if self.token.kind != "ident":
                raise self.fail("expected a label name")
            names.append(self.take().text)
        return tuple(names)

    def aggregate(self) -> Aggregate:
        op = self.take().text
        by = self.labels() if self.accept("by") else None
        self.expect("(")
        expr = self.or_expr()
        self.expect(")")
        if by is None and self.accept("by"):
            by = self.labels()
        return Aggregate(op, expr, by)

    def call(self) -> Call:
        name = self.take()
        self.expect("(")
        if name.text in RANGE_FUNCTIONS:
            args: tuple[Node, ...] = (self.range_selector(),)
        elif name.text == "quantile_over_time":
            quantile = self.or_expr()
            self.expect(",")
            args = (quantile, self.range_selector())
        elif name.text == "baseline":
            args = (self.instant_selector(),)
        else:
            raise PromQLError(f"unknown function '{name.text}'", name.pos + 1)
        end = self.expect(")")
        return Call(name.text, args, (name.pos, end.pos + 1))

    def range_selector(self) -> Selector:
        token = self.token
        selector = self.selector()
        if selector.range_s is None:
            raise PromQLError("expected a range selector such as metric[5m]", token.pos + 1)
        return selector

    def instant_selector(self) -> Selector:
        token = self.token
        selector = self.selector()
        if selector.range_s is not None:
            raise PromQLError("expected an instant selector (no [range])", token.pos + 1)
        return selector

    def selector(self) -> Selector:
        if self.token.kind != "ident":
            raise self.fail("expected a metric name")
        metric = self.take().text
        matchers: list[Matcher] = []
        if self.accept("{"):
            while not self.accept("}"):
                if matchers:
                    self.expect(",")
                    if self.accept("}"):
                        break
                matchers.append(self.matcher())
        range_s = None
        if self.accept("["):
            if self.token.kind != "duration":
                raise self.fail("expected a duration such as 5m")
            written = self.token
            range_s = parse_duration(self.take().text)
            if not 0 < range_s <= MAX_RANGE_S:
                raise PromQLError(f"range [{written.text}] must be above 0 and at most "
                                  f"{format_duration(MAX_RANGE_S)}: the monitor holds every point of a range in "
                                  f"memory and reads it each tick (compare over longer times with baseline())",
                                  written.pos + 1)
            self.expect("]")
        return Selector(metric, tuple(matchers), range_s)

    def matcher(self) -> Matcher:
        if self.token.kind != "ident":
            raise self.fail("expected a label name")
        label = self.take().text
        op = self.accept("=", "!=", "=~", "!~")
        if op is None:
            raise self.fail("expected =, !=, =~ or !~")
        if self.token.kind != "string":
            raise self.fail("expected a quoted label value")
        value_token = self.take()
        try:
            return Matcher.make(label, MatchType(op.text), _unquote(value_token))
        except MatcherSyntaxError as exc:
            raise PromQLError(str(exc), value_token.pos + 1) from None


def parse(text: str) -> Node:
    """The syntax tree of `text`; PromQLError naming the column of the first problem."""
    parser = _Parser(text)
    node = parser.or_expr()
    if parser.token.kind != "end":
        raise parser.fail("expected an operator or the end")
    return node


def walk(node: Node) -> list[Node]:
    """`node` and every node below it, depth first."""
    children: tuple[Node, ...] = ()
    if isinstance(node, Call):
        children = node.args
    elif isinstance(node, (Aggregate, Unary)):
        children = (node.expr,)
    elif isinstance(node, Binary):
        children = (node.lhs, node.rhs)
    return [node, *(inner for child in children for inner in walk(child))]


def metric_names(node: Node) -> list[str]:
    """The metrics an expression reads, in order of appearance, each once."""
    return list(dict.fromkeys(n.metric for n in walk(node) if isinstance(n, Selector)))


def returns_vector(node: Node) -> bool:
    """Whether an expression selects series (an alert needs series to fire for), not a single number."""
    if isinstance(node, Number):
        return False
    if isinstance(node, Unary):
        return returns_vector(node.expr)
    if isinstance(node, Binary):
        return returns_vector(node.lhs) or returns_vector(node.rhs)
    return True
