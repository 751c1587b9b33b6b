"""Whatever bytes a server sends, the parsers raise only their documented errors.

Random bytes, and JSON that is well formed but wrong (the right keys holding
anything at all), go into every stream-line handler, the line splitter, the
stream folding and every server-answer model: `parse` and the OpenAI handler
raise MalformedAnswer only, the Ollama handler WfdoctorError only (malformed, or
the server's own error event), the splitter and the folding nothing; and what
a handler accepts leaves only finite, non-negative server numbers in the trace.
"""

from __future__ import annotations

import json
import math
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from wfdoctor.model import WfdoctorError
from wfdoctor.sense.backends import ollama, openai
from wfdoctor.sense.backends.answers import Answer, MalformedAnswer, parse
from wfdoctor.sense.backends.base import StreamTrace
from wfdoctor.sense.backends.streaming import MAX_LINE_BYTES, _fold, split_lines

ANSWERS: list[type[Answer]] = [openai.ModelList, openai.OpenApi, openai.Props, openai.TokenCount, openai.Chunk,
                               ollama.Version, ollama.Installed, ollama.Running, ollama.Event, ollama.Loaded]
PROPERTY = settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])

scalars = (st.none() | st.booleans() | st.integers(min_value=-(2**70), max_value=2**70)
           | st.floats(allow_nan=True, allow_infinity=True) | st.text(max_size=20)
           | st.sampled_from(["nan", "inf", "-1", "1e308", "12", ""]))
any_json = st.recursive(scalars, lambda inner: st.lists(inner, max_size=4)
                        | st.dictionaries(st.text(max_size=8), inner, max_size=4), max_leaves=20)


def shaped(fields: dict[str, Any]) -> st.SearchStrategy[dict[str, Any]]:
    """Objects with some of the expected keys, each holding its expected shape or anything at all."""
    return st.fixed_dictionaries({}, optional={key: any_json | value for key, value in fields.items()})


choice = shaped({"delta": shaped({"content": st.text(max_size=5)}), "text": st.text(max_size=5),
                 "finish_reason": st.text(max_size=5)})
numbers = st.integers(min_value=-5, max_value=2**40) | st.floats() | st.text(max_size=5)
openai_event = shaped({"model": st.text(max_size=5), "choices": st.lists(choice, max_size=3),
                       "usage": shaped({"prompt_tokens": numbers, "completion_tokens": numbers}),
                       "timings": shaped({k: numbers for k in ("prompt_n", "prompt_ms", "predicted_n",
                                                               "predicted_ms")})})
ollama_event = shaped({"response": st.text(max_size=5), "message": shaped({"content": st.text(max_size=5)}),
                       "done": st.booleans(), "done_reason": st.text(max_size=5), "error": st.text(max_size=5),
                       **{key: numbers for key in (*ollama.DURATIONS, *ollama.COUNTS)}})
listing = shaped({"data": st.lists(shaped({"id": st.text(max_size=5)}), max_size=3),
                  "models": st.lists(shaped({"name": st.text(max_size=5), "size": numbers, "size_vram": numbers,
                                             "expires_at": st.text(max_size=5)}), max_size=3),
                  "version": st.text(max_size=5), "paths": any_json, "count": numbers, "done": any_json,
                  "default_generation_settings": any_json})


def encoded(value: Any) -> bytes:
    """JSON text as a server might send it, NaN and Infinity literals included."""
    return json.dumps(value).encode()


wire = st.binary(max_size=200) | (any_json | openai_event | ollama_event | listing).map(encoded)


def finite_and_non_negative(trace: StreamTrace) -> bool:
    return all(math.isfinite(value) and value >= 0 for value in trace.server.values())


@pytest.mark.parametrize("model", ANSWERS, ids=lambda m: f"{m.__module__.rsplit('.', 1)[-1]}.{m.__name__}")
@PROPERTY
@given(data=wire)
def test_every_answer_model_raises_only_malformed_answer(model: type[Answer], data: bytes) -> None:
    try:
        parse(model, data, "answer")
    except MalformedAnswer as exc:
        assert "\n" not in str(exc) and str(exc).startswith("the server answered a malformed ")


@PROPERTY
@given(payload=wire, prefix=st.sampled_from([b"data: ", b"data:", b"", b": ping ", b"event: x"]))
def test_the_openai_line_handler_raises_only_malformed_answer(payload: bytes, prefix: bytes) -> None:
    trace = StreamTrace(sent_ns=0)
    try:
        openai._handle_line(prefix + payload, trace, 1)
    except MalformedAnswer:
        return
    assert finite_and_non_negative(trace) and all(isinstance(piece, str) for piece in trace.pieces)


@PROPERTY
@given(line=wire)
def test_the_ollama_line_handler_raises_only_wfdoctor_errors(line: bytes) -> None:
    trace = StreamTrace(sent_ns=0)
    try:
        ollama._handle_line(line, trace, 1)
    except WfdoctorError:
        return
    assert finite_and_non_negative(trace) and all(isinstance(piece, str) for piece in trace.pieces)


@PROPERTY
@given(chunks=st.lists(st.binary(max_size=50) | (openai_event | ollama_event).map(lambda e: encoded(e) + b"\n"),
                       max_size=8),
       ended=st.booleans())
def test_split_lines_yields_the_complete_lines_of_the_joined_reads(chunks: list[bytes], ended: bool) -> None:
    *complete, tail = b"".join(chunks).split(b"\n")
    expected = complete + ([tail.strip()] if ended and tail.strip() else [])
    assert [line for _, lines in split_lines(list(range(len(chunks))), chunks, ended) for line in lines] == expected


@PROPERTY
@given(chunks=st.lists(st.binary(max_size=50), max_size=8))
def test_each_line_is_stamped_with_the_read_that_completed_it(chunks: list[bytes]) -> None:
    """A line's time is the arrival of the read that brought its newline (the reads are numbered by arrival)."""
    ends = [index for index, chunk in enumerate(chunks) for byte in chunk if byte == ord("\n")]
    assert [arrived for arrived, lines in split_lines(list(range(len(chunks))), chunks, ended=False)
            for _ in lines] == ends


@pytest.mark.parametrize("protocol", [openai, ollama], ids=["openai", "ollama"])
@PROPERTY
@given(chunks=st.lists(st.binary(max_size=80) | wire.map(lambda line: b"data: " + line + b"\n\n"), max_size=6),
       cut=st.sampled_from(["", "connection cut mid-response"]))
def test_folding_a_stream_never_raises_and_always_ends_or_says_why(protocol: Any, chunks: list[bytes],
                                                                    cut: str) -> None:
    trace = StreamTrace(sent_ns=0, error=cut)
    _fold(list(range(len(chunks))), chunks, trace, protocol._handle_line)
    assert (trace.completed and not trace.error) or "\n" not in trace.error and trace.error
    assert finite_and_non_negative(trace)


@pytest.mark.parametrize("data", [b"[" * 100_000, b'{"a":' * 100_000, b"\xff\xfe\x00", b"1" * 10_000,
                                  b'{"data": [' + b'{"id": "m"},' * 50_000 + b"]}"],
                         ids=["deep lists", "deep objects", "not UTF-8", "huge number", "trailing comma"])
def test_pathological_answers_are_malformed_not_crashes(data: bytes) -> None:
    with pytest.raises(MalformedAnswer):
        parse(openai.ModelList, data, "/v1/models listing")


def test_a_line_over_the_limit_ends_the_fold_with_its_length_named() -> None:
    trace = StreamTrace(sent_ns=0)
    _fold([1], [b"data: " + b"x" * (MAX_LINE_BYTES + 1) + b"\n\n"], trace, openai._handle_line)
    assert trace.error == f"line longer than {MAX_LINE_BYTES} bytes after 0 tokens"


BLANKS = st.text(alphabet=" \t\x0b\x0c\r", max_size=2).map(str.encode)


def folded_as_specified(chunks: list[bytes], ended: bool) -> StreamTrace:
    """The OpenAI fold written out plainly, the slow way: the joined body's lines, each stamped with the read that
    brought its newline, carriage returns trimmed, blank lines skipped; a `data:` payload stripped, `[DONE]` ends
    it, anything else is an event read by pydantic alone. The first malformed event ends it with its error."""
    trace = StreamTrace(sent_ns=0)
    stamps = [index for index, chunk in enumerate(chunks) for byte in chunk if byte == ord("\n")]
    *complete, tail = b"".join(chunks).split(b"\n")
    lines = list(zip(stamps, complete)) + ([(len(chunks) - 1, tail.strip())] if ended and tail.strip() else [])
    for stamp, line in lines:
        line = line.rstrip(b"\r")
        if not line.startswith(b"data:"):
            continue
        payload = line[5:].strip()
        if payload == b"[DONE]":
            trace.completed = True
            return trace
        try:
            event = parse(openai.Chunk, payload, "line")
        except MalformedAnswer as exc:
            trace.error = str(exc)
            return trace
        for choice in event.choices or ():
            piece = (choice.delta.content if choice.delta is not None else None) or choice.text
            if piece:
                trace.token_ns.append(stamp)
                trace.pieces.append(piece)
    return trace


@PROPERTY
@given(words=st.lists(st.text(max_size=5) | st.none(), max_size=5), blanks=st.lists(BLANKS, min_size=4, max_size=4),
       ending=st.sampled_from([b"\n", b"\r\n", b"\r\r\n"]), noise=st.lists(st.binary(max_size=12), max_size=2),
       cuts=st.lists(st.integers(min_value=0, max_value=600), max_size=5), ended=st.booleans())
def test_the_openai_fold_gives_what_the_plain_reading_of_the_stream_gives(
        words: list[str | None], blanks: list[bytes], ending: bytes, noise: list[bytes], cuts: list[int],
        ended: bool) -> None:
    """Whatever the blanks around a payload (JSON's own or not), the line ends, stray bytes and read cuts: the same
    pieces at the same stamps, the same end, the same first error, as the plain reading above."""
    before, after, done_before, done_after = blanks
    events = [b"data:" + before + json.dumps({"choices": [{"delta": {"content": word}}]}).encode() + after
              for word in words]
    body = b"".join(line + ending + ending for line in [*events, *noise, b"data:" + done_before + b"[DONE]" + done_after])
    edges = sorted({0, len(body), *(min(cut, len(body)) for cut in cuts)})
    chunks = [body[start:end] for start, end in zip(edges, edges[1:])]
    trace = StreamTrace(sent_ns=0, error="" if ended else "connection cut mid-response")
    _fold(list(range(len(chunks))), chunks, trace, openai._handle_line)
    expected = folded_as_specified(chunks, ended)
    assert (trace.pieces, trace.token_ns) == (expected.pieces, expected.token_ns)
    assert trace.completed == expected.completed
    assert trace.error.startswith(expected.error or ("connection cut" if not ended else ""))
