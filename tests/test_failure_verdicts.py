"""Failed measurements are named findings (analyze/failures.py), judged on synthetic request outcomes."""

from __future__ import annotations

import errno

import aiohttp
import pytest

from tests.builders import REMEDIES, TOKENS, answered, council_run, failed_member, stream
from wfdoctor.analyze.council import council_metrics
from wfdoctor.analyze.failures import (Attempt, check_failed, council_failures, died_tail, no_server,
                                       request_failures, token_attempts)
from wfdoctor.analyze.tokens import RequestMetrics, request_metrics
from wfdoctor.config.limits import TokenLimits
from wfdoctor.measure.tokens import EMPTY_RESPONSE, answer_error
from wfdoctor.model import Finding, Priority, Sample
from wfdoctor.sense.backends.http import error_text

EVENTS = "content events (one token each)"


def ok(at: int, concurrency: int = 1) -> Attempt:
    return Attempt(concurrency, True, "", at)


def failed(at: int, error: str, concurrency: int = 1) -> Attempt:
    return Attempt(concurrency, False, error, at)


def judged(attempts: list[Attempt], limits: TokenLimits = TOKENS) -> list[tuple[str, Priority]]:
    return [(f.code, f.priority) for f in request_failures(attempts, "requests", "ollama", limits, REMEDIES)]


def evidence(finding: Finding) -> list[tuple[str, float, dict[str, str]]]:
    return [(s.metric, s.value, s.labels) for s in finding.evidence]


# --- what counts as an answer ---------------------------------------------------------------------------

def test_an_end_marker_with_no_token_is_no_answer() -> None:
    empty = stream(1.0, [], done_s=1.5)  # completed, no error, no content
    assert answer_error(empty) == EMPTY_RESPONSE
    metrics = request_metrics(empty, (0, EVENTS), stall_s=TOKENS.stall_s)
    assert (metrics.ok, metrics.error) == (False, EMPTY_RESPONSE)


def test_one_content_token_and_an_end_marker_is_an_answer() -> None:
    assert answer_error(stream(1.0, [1.2])) == ""


def test_a_stream_without_its_end_marker_is_incomplete() -> None:
    assert answer_error(stream(1.0, [1.2, 1.3], completed=False)) == "incomplete"


# --- nothing usable ---------------------------------------------------------------------------------------

@pytest.mark.parametrize(("errors", "code"), [
    (["HTTP 500: boom after 0 tokens"] * 3, "SERVER_ERRORS"),
    ([EMPTY_RESPONSE] * 3, "EMPTY_RESPONSES"),
    (["connection cut mid-response after 2 tokens"] * 3, "SERVER_UNAVAILABLE"),
    (["timed out after 0 tokens", "HTTP 503: busy after 0 tokens", EMPTY_RESPONSE], "SERVER_UNAVAILABLE"),
])
def test_no_usable_answer_is_a_critical_finding_named_by_its_errors(errors: list[str], code: str) -> None:
    assert judged([failed(i, error) for i, error in enumerate(errors)]) == [(code, Priority.CRITICAL)]


def test_the_evidence_counts_failures_by_concurrency_and_error_kind() -> None:
    attempts = [failed(1, "HTTP 500: x after 0 tokens"), failed(2, "HTTP 500: x after 0 tokens"),
                failed(3, "HTTP 503: y after 0 tokens", concurrency=2)]
    [finding] = request_failures(attempts, "requests", "ollama", TOKENS, REMEDIES)
    assert evidence(finding) == [
        ("wf_llm_failed_requests", 2.0, {"concurrency": "1", "error": "HTTP 500: x"}),
        ("wf_llm_failed_requests", 1.0, {"concurrency": "2", "error": "HTTP 503: y"})]
    assert finding.summary.startswith("0 of 3 requests gave a usable answer (HTTP 500: x x2, HTTP 503: y x1)")
    assert finding.actions == ["check_server_log"]


def test_every_request_answered_is_no_finding_and_no_request_is_none_either() -> None:
    assert judged([ok(1), ok(2)]) == []
    assert judged([]) == []


# --- partial failures ------------------------------------------------------------------------------------

def test_a_failure_among_answers_at_concurrency_1_is_named_medium_below_the_high_share() -> None:
    attempts = [ok(1), failed(2, "connection cut mid-response after 3 tokens"), ok(3), ok(4)]
    assert judged(attempts) == [("REQUESTS_FAILED", Priority.MEDIUM)]


def test_failures_from_the_high_share_on_are_high() -> None:
    attempts = [failed(1, "timed out after 0 tokens"), ok(2), failed(3, "timed out after 0 tokens"), ok(4)]
    assert TOKENS.failed_share_high == 0.5
    assert judged(attempts) == [("REQUESTS_FAILED", Priority.HIGH)]
    stricter = TOKENS.model_copy(update={"failed_share_high": 0.75})
    assert judged(attempts, stricter) == [("REQUESTS_FAILED", Priority.MEDIUM)]


@pytest.mark.parametrize(("error", "code"), [("HTTP 500: boom after 0 tokens", "SERVER_ERRORS"),
                                              (EMPTY_RESPONSE, "EMPTY_RESPONSES")])
def test_partial_failures_of_one_kind_are_named_by_it(error: str, code: str) -> None:
    assert judged([ok(1), failed(2, error), ok(3), ok(4)]) == [(code, Priority.MEDIUM)]


# --- a server that dies -------------------------------------------------------------------------------

KILLED = ["connection cut mid-response after 3 tokens", "ClientOSError: [Errno 104] Connection reset by peer",
          "connection refused after 0 tokens", "connection refused after 0 tokens"]


def test_answers_then_only_lost_connections_is_a_server_that_died() -> None:
    attempts = [ok(1), ok(2)] + [failed(3 + i, error) for i, error in enumerate(KILLED)]
    assert judged(attempts) == [("SERVER_DIED", Priority.HIGH)]
    assert len(died_tail(attempts, TOKENS)) == 4


@pytest.mark.parametrize("exc", [aiohttp.ClientConnectionResetError("Cannot write to closing transport"),
                                 aiohttp.ClientOSError(errno.EPIPE, "Broken pipe"),
                                 aiohttp.ClientOSError(errno.ECONNRESET, "Connection reset by peer"),
                                 aiohttp.ClientOSError(None, "Can not write request body for http://127.0.0.1:1/x")])
def test_a_connection_the_dying_server_reset_counts_as_lost_however_the_client_saw_it(exc: OSError) -> None:
    """A killed server resets connections in several ways, by timing; each is the same death."""
    attempts = [ok(1), ok(2), failed(3, error_text(exc)), failed(4, "connection refused")]
    assert error_text(exc).startswith("connection reset")
    assert judged(attempts) == [("SERVER_DIED", Priority.HIGH)]


def test_the_order_is_when_requests_ended_not_the_order_given() -> None:
    attempts = [failed(9, "connection refused"), failed(8, "connection refused"), ok(2), ok(1)]
    assert judged(attempts) == [("SERVER_DIED", Priority.HIGH)]


def test_fewer_lost_connections_than_the_limit_after_the_last_answer_are_not_a_death() -> None:
    attempts = [ok(1), ok(2), ok(3), failed(4, "connection refused")]
    assert TOKENS.died_min_failed == 2
    assert judged(attempts) == [("REQUESTS_FAILED", Priority.MEDIUM)]


def test_streams_cut_after_the_last_answer_by_a_server_still_listening_are_no_death() -> None:
    attempts = [ok(1), ok(2), ok(3), failed(4, "connection cut mid-response"), failed(5, "server disconnected")]
    assert judged(attempts) == [("REQUESTS_FAILED", Priority.MEDIUM)]


def test_http_errors_after_the_last_answer_are_a_server_that_answers_not_one_that_died() -> None:
    attempts = [ok(1), ok(2), failed(3, "HTTP 500: x"), failed(4, "HTTP 500: x")]
    assert judged(attempts) == [("SERVER_ERRORS", Priority.HIGH)]


# --- what other causes explain ----------------------------------------------------------------------

def test_failures_at_higher_concurrency_are_left_to_streams_interrupted() -> None:
    good = request_metrics(stream(1.0, [1.1, 1.2]), (2, EVENTS), stall_s=TOKENS.stall_s)
    cut = request_metrics(stream(1.0, [1.1], error="connection cut", completed=False), (1, EVENTS),
                          stall_s=TOKENS.stall_s)
    requests = {1: [good, good], 2: [good, cut]}
    interrupted = Finding("tokens.streams_interrupted", "STREAMS_INTERRUPTED", "r", "s", "c", Priority.HIGH, [], [],
                          "")
    assert [a.ok for a in token_attempts(requests, [])] == [True, True, True, False]
    assert [a.ok for a in token_attempts(requests, [interrupted])] == [True, True]


def test_a_level_where_nothing_listened_any_more_stays_for_the_server_died_verdict() -> None:
    """Streams cut at 2 are STREAMS_INTERRUPTED's; the refusals at 4 (the server died there) are not, and are named
    SERVER_DIED."""
    def later(at: float, error: str = "") -> RequestMetrics:
        return request_metrics(stream(at, [at + 0.1, at + 0.2], error=error, completed=not error), (2, EVENTS),
                               stall_s=TOKENS.stall_s)
    cut, refused = "connection cut", "connection refused"
    requests = {1: [later(1.0), later(2.0)], 2: [later(3.0), later(4.0, cut)],
                4: [later(5.0, refused), later(6.0, refused), later(7.0, refused)]}
    interrupted = Finding("tokens.streams_interrupted", "STREAMS_INTERRUPTED", "r", "s", "c", Priority.HIGH, [], [],
                          "")
    attempts = token_attempts(requests, [interrupted])
    assert [a.concurrency for a in attempts] == [1, 1, 4, 4, 4]
    assert judged(attempts) == [("SERVER_DIED", Priority.HIGH)]


# --- councils, diagnose ---------------------------------------------------------------------------------

def test_a_council_where_no_member_answered_is_critical_and_one_answer_leaves_it_to_the_members() -> None:
    nobody = council_metrics(council_run([failed_member("a", "HTTP 500: x"), failed_member("b", "HTTP 500: x")], 1.0))
    [finding] = council_failures(nobody, {}, REMEDIES)
    assert (finding.code, finding.priority) == ("SERVER_ERRORS", Priority.CRITICAL)
    assert finding.summary.startswith("0 of 2 council members gave a usable answer")
    one = council_metrics(council_run([failed_member("a", "HTTP 500: x"), answered("b", [0.2, 0.3], 0.4)], 1.0))
    assert council_failures(one, {}, REMEDIES) == []


def test_no_server_names_the_urls_probed_and_what_to_do() -> None:
    probed = [Sample("wf_llm_server_up", 0.0, "bool", "http probe", {"url": "http://127.0.0.1:9", "kind": "?"})]
    finding = no_server(probed, "no LLM server answered and the embedded engine is off (--no-embedded)", REMEDIES)
    assert (finding.code, finding.priority, finding.actions) == ("NO_SERVER", Priority.HIGH, ["start_llm_server"])
    assert finding.summary.endswith("; probed: http://127.0.0.1:9") and finding.evidence == probed


def test_a_check_that_cannot_start_is_critical() -> None:
    finding = check_failed("http://127.0.0.1:9", "the server lists no models", REMEDIES)
    assert (finding.code, finding.priority) == ("SERVER_UNAVAILABLE", Priority.CRITICAL)
    assert "could not start: the server lists no models" in finding.summary
