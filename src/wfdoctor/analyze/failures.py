"""Failed measurements as named findings (pure).

A doctor must never call a server healthy because it measured nothing: a
request that failed, was cut, or ended without a single token is evidence
about the server, not a gap in the statistics. This module turns the outcome
of every request (of `tokens`, of diagnose's short token check, of a council)
into at most one finding that names what happened, with the error kinds and
their counts as evidence:

- nothing usable came back: SERVER_ERRORS (only HTTP errors), EMPTY_RESPONSES
  (only streams without tokens), else SERVER_UNAVAILABLE; CRITICAL, since no
  other verdict about the server can stand;
- some answers, then only lost connections: SERVER_DIED (the server stopped
  answering during the run), HIGH;
- some failures among answers: SERVER_ERRORS, EMPTY_RESPONSES or
  REQUESTS_FAILED by their kind, HIGH from `limits.tokens.failed_share_high`
  of the requests on, else MEDIUM;
- no server at all (diagnose): NO_SERVER, HIGH.

Failures that a cause of analyze/bottleneck.py already explains (streams cut
only when several run at once: STREAMS_INTERRUPTED) are left to that cause.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from wfdoctor.analyze.remedies import RemedyId
from wfdoctor.analyze.tokens import RequestMetrics, error_kind
from wfdoctor.config.limits import TokenLimits
from wfdoctor.config.remedies import DEFAULT, Remedies
from wfdoctor.measure.tokens import EMPTY_RESPONSE
from wfdoctor.model import Finding, Priority, Sample

if TYPE_CHECKING:  # diagnose judges failures too: it need not load the council analysis
    from wfdoctor.analyze.council import CouncilMetrics

ROW = "slow_token_generation"
SYMPTOM = "Failed measurement"
SOURCE = "wfdoctor (client-measured request outcomes)"
# Causes that already name the failures at concurrency > 1 (and only those).
EXPLAINS_CONCURRENT_FAILURES = frozenset({"STREAMS_INTERRUPTED"})
# Error kinds (sense/backends/http.py `error_text`, lower-cased) that say a connection was lost, not refused...
LOST_CONNECTION = ("connection refused", "cannot connect", "server disconnected", "connection cut",
                   "connection reset")
# ...and those that say nothing listens any more: the proof that a server died rather than dropped a stream.
NOTHING_LISTENS = ("connection refused", "cannot connect")
KIND_CHARS = 120  # an error kind quoted in a label or a summary (server text: kept short)


@dataclass(frozen=True)
class Attempt:
    """One request's outcome: what the failure judgement reads."""

    concurrency: int
    ok: bool
    error: str        # "" when ok
    ended_ns: int     # when it ended (or was sent, if it never ended): orders the attempts


@dataclass(frozen=True)
class Category:
    """What a group of failures is called, why, and what to do."""

    code: str
    cause: str
    remedy: RemedyId


HTTP = Category("SERVER_ERRORS", "the server answers requests with HTTP errors", RemedyId.SERVER_ERRORS)
EMPTY = Category("EMPTY_RESPONSES", "the server ends its streams without generating a single token",
                 RemedyId.EMPTY_RESPONSES)
FAILED = Category("REQUESTS_FAILED", "requests failed or were cut off while the server kept running",
                  RemedyId.REQUESTS_FAILED)
UNAVAILABLE = Category("SERVER_UNAVAILABLE", "the server gave no usable answer to any request",
                       RemedyId.SERVER_UNAVAILABLE)
NO_SERVER = Category("NO_SERVER", "no LLM server answered, so token generation was not measured",
                     RemedyId.NO_SERVER)
DIED = Category("SERVER_DIED", "the server stopped answering during the run (it crashed, was killed or restarted)",
                RemedyId.SERVER_DIED)


def nothing_listened(errors: Iterable[str]) -> bool:
    """Some of these errors say nothing listens at the server's address any more: it went away."""
    return any(phrase in error.lower() for error in errors for phrase in NOTHING_LISTENS)


def token_attempts(requests: dict[int, list[RequestMetrics]], causes: list[Finding]) -> list[Attempt]:
    """Every measured request of a token run; failures at concurrency > 1 a cause already names are left to it.

    A level where nothing listened any more is never left to STREAMS_INTERRUPTED (which does not count it):
    its attempts stay, so that a server that died there is named SERVER_DIED.
    """
    explained = any(f.code in EXPLAINS_CONCURRENT_FAILURES for f in causes)
    left_to_cause = {concurrency for concurrency, metrics in requests.items() if explained and concurrency > 1
                     and not nothing_listened(m.error for m in metrics if not m.ok)}
    return [Attempt(concurrency, r.ok, r.error, r.done_ns or r.sent_ns)
            for concurrency, metrics in requests.items() if concurrency not in left_to_cause for r in metrics]


def _category(kinds: Counter[str]) -> Category:
    """One name for a set of failures: HTTP errors, empty streams, or failures in general."""
    if all(kind.startswith("HTTP ") for kind in kinds):
        return HTTP
    if set(kinds) == {EMPTY_RESPONSE}:
        return EMPTY
    return FAILED


def _evidence(failed: list[Attempt]) -> list[Sample]:
    """Failed requests counted by concurrency level and error kind."""
    counts = Counter((a.concurrency, error_kind(a.error)[:KIND_CHARS]) for a in failed)
    return [Sample("wf_llm_failed_requests", float(count), "requests", SOURCE,
                   {"concurrency": str(concurrency), "error": kind})
            for (concurrency, kind), count in sorted(counts.items())]


def _kinds_text(kinds: Counter[str]) -> str:
    return ", ".join(f"{kind[:KIND_CHARS]} x{count}" for kind, count in kinds.most_common())


def _finding(category: Category, priority: Priority, summary: str, evidence: list[Sample], implementation: str,
             remedies: Remedies) -> Finding:
    return Finding(rule_id=f"failures.{category.code.lower()}", code=category.code, row=ROW, symptom=SYMPTOM,
                   cause=category.cause, priority=priority, summary=summary, evidence=evidence,
                   actions=remedies.actions(category.remedy, implementation))


def died_tail(attempts: list[Attempt], limits: TokenLimits) -> list[Attempt]:
    """The attempts after the last usable answer, when they mean a dead server.

    That is: at least `limits.died_min_failed` of them, every one a lost connection,
    and the last refused (nothing listens any more). Streams cut by a server that
    still runs end in a cut, not in a refusal.
    """
    ordered = sorted(attempts, key=lambda a: a.ended_ns)
    last_ok = max((index for index, a in enumerate(ordered) if a.ok), default=None)
    if last_ok is None:
        return []
    tail = ordered[last_ok + 1:]
    lost = all(_says(a, LOST_CONNECTION) for a in tail)
    return tail if lost and len(tail) >= limits.died_min_failed and _says(tail[-1], NOTHING_LISTENS) else []


def _says(attempt: Attempt, phrases: tuple[str, ...]) -> bool:
    return any(phrase in attempt.error.lower() for phrase in phrases)


def nothing_usable(attempts: list[Attempt], what: str, implementation: str, remedies: Remedies) -> list[Finding]:
    """The finding for a measurement where not one request answered (none when one did, or none was made)."""
    if not attempts or any(a.ok for a in attempts):
        return []
    kinds = Counter(error_kind(a.error) for a in attempts)
    category = _category(kinds)
    return [_finding(UNAVAILABLE if category is FAILED else category, Priority.CRITICAL,
                     f"0 of {len(attempts)} {what} gave a usable answer ({_kinds_text(kinds)}): nothing about the "
                     "server's speed was measured", _evidence(attempts), implementation, remedies)]


def request_failures(attempts: list[Attempt], what: str, implementation: str, limits: TokenLimits,
                     remedies: Remedies) -> list[Finding]:
    """The one finding the failed requests among `attempts` call for (none when every request answered).

    `what` names the measurement in the summary ("requests", "token-check requests").
    """
    failed = [a for a in attempts if not a.ok]
    if not failed or len(failed) == len(attempts):
        return nothing_usable(attempts, what, implementation, remedies)
    usable = len(attempts) - len(failed)
    tail = died_tail(attempts, limits)
    if tail:
        return [_finding(DIED, Priority.HIGH, f"{usable} of {len(attempts)} {what} answered, then the last "
                         f"{len(tail)} failed ({_kinds_text(Counter(error_kind(a.error) for a in tail))}): the "
                         "server stopped answering during the run", _evidence(failed), implementation, remedies)]
    kinds = Counter(error_kind(a.error) for a in failed)
    share = len(failed) / len(attempts)
    priority = Priority.HIGH if share >= limits.failed_share_high else Priority.MEDIUM
    levels = ", ".join(str(c) for c in sorted({a.concurrency for a in failed}))
    return [_finding(_category(kinds), priority, f"{len(failed)} of {len(attempts)} {what} failed at concurrency "
                     f"{levels} ({_kinds_text(kinds)}); the statistics cover the {usable} that answered",
                     _evidence(failed), implementation, remedies)]


def council_failures(metrics: CouncilMetrics, implementation_of: dict[str, str], remedies: Remedies) -> list[Finding]:
    """A council where no member answered.

    A failed member among members that answered is COUNCIL_MEMBER_FAILED's (analyze/council.py).
    """
    attempts = [Attempt(metrics.n, m.status == "ok", m.error, index) for index, m in enumerate(metrics.members)
                if m.status != "cancelled"]
    implementations = {implementation_of.get(m.url, DEFAULT) for m in metrics.members}
    implementation = implementations.pop() if len(implementations) == 1 else DEFAULT
    return nothing_usable(attempts, "council members", implementation, remedies)


def check_failed(url: str, error: str, remedies: Remedies) -> Finding:
    """A token check that could not even start (the server answered discovery, then not the check's probe)."""
    return _finding(UNAVAILABLE, Priority.CRITICAL, f"the token check against {url} could not start: "
                    f"{error[:KIND_CHARS * 2]}", [], DEFAULT, remedies)


def no_server(probed: list[Sample], reason: str, remedies: Remedies) -> Finding:
    """No LLM server answered (and none was started): nothing about generation can be called healthy.

    `reason` says why (it starts with "no LLM server answered"); `probed` are the up/down samples of the URLs tried.
    """
    where = ", ".join(s.labels.get("url", "?") for s in probed) or "nothing"
    return _finding(NO_SERVER, Priority.HIGH, f"{reason}; probed: {where}", probed, DEFAULT, remedies)
