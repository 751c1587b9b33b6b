"""Server answers, validated: what a protocol promises, as pydantic models.

A server is untrusted input. Every JSON answer a protocol reads (a model list,
a version, one streamed event) goes through one of these models, so a wrong
shape, a string where a number belongs, a negative, NaN or absurdly large
count becomes one `MalformedAnswer` naming what was wrong, never an
AttributeError three layers up or a NaN in the statistics.
"""

from __future__ import annotations

import functools
import types
from collections.abc import Callable
from typing import Annotated, Any, ClassVar, TypeVar, Union, get_args, get_origin, get_type_hints

import msgspec
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from wfdoctor.model import WfdoctorError

# Sanity bounds, not judgements: a number outside them is not a measurement but a broken server.
MAX_COUNT = 2**31 - 1            # tokens in one request: beyond any context window
MAX_BYTES = 2**50                # a model's size: 1 PiB
MAX_SECONDS = 7 * 86_400         # one request taking a week is not a measurement
DETAIL_CHARS = 160               # how much of the validation message a one-line error keeps

# Each bound is said twice, once for each validator: pydantic's, and msgspec's (the fast path of `fast_parser`).
Count = Annotated[int, Field(ge=0, le=MAX_COUNT), msgspec.Meta(ge=0, le=MAX_COUNT)]
Bytes = Annotated[int, Field(ge=0, le=MAX_BYTES), msgspec.Meta(ge=0, le=MAX_BYTES)]
Millis = Annotated[float, Field(ge=0, le=MAX_SECONDS * 1e3, allow_inf_nan=False), msgspec.Meta(ge=0, le=MAX_SECONDS * 1e3)]
Nanos = Annotated[int, Field(ge=0, le=MAX_SECONDS * 10**9), msgspec.Meta(ge=0, le=MAX_SECONDS * 10**9)]


def one_line(text: str) -> str:
    """Untrusted text (a server's error, say) made one short line for an error message ("..." where it is cut)."""
    line = " ".join(text.split())
    return line if len(line) <= DETAIL_CHARS else line[:DETAIL_CHARS - 3].rstrip() + "..."


class MalformedAnswer(WfdoctorError):
    """The server answered something its protocol does not allow: `what` names the answer."""

    def __init__(self, what: str, detail: str) -> None:
        super().__init__(f"the server answered a malformed {what} ({one_line(detail)})")
        self.what = what


class Answer(BaseModel):
    """One server answer. Unknown fields are ignored (servers add their own);
    `sections` names the fields whose own name is the better "what" in an error
    (a bad `usage` in a stream event is "a malformed usage")."""

    model_config = ConfigDict(frozen=True, extra="ignore")
    sections: ClassVar[frozenset[str]] = frozenset()


AnswerT = TypeVar("AnswerT", bound=Answer)


def parse(model: type[AnswerT], data: bytes, what: str) -> AnswerT:
    """`data` (JSON bytes) as `model`. Raises MalformedAnswer only, whatever the bytes."""
    try:
        return model.model_validate_json(data)
    except ValidationError as exc:
        error = exc.errors(include_url=False, include_input=False)[0]
        location = tuple(error["loc"])
        if location and location[0] in model.sections:
            what, location = str(location[0]), location[1:]
        where = ".".join(str(part) for part in location)
        raise MalformedAnswer(what, f"{where}: {error['msg']}" if where else error["msg"]) from None


def fast_parser(model: type[AnswerT]) -> Callable[[bytes, str], AnswerT]:
    """`parse` for answers read thousands of times a run (one per streamed token), fast where they are well-formed.

    pydantic builds a model in about 2.9 µs an event; msgspec decodes and checks
    the same shape in about 0.4 µs (measured on a chat-completion event). msgspec
    goes first, with a struct made from `model` (same fields, same bounds), and is
    stricter than pydantic's lax mode, so what it accepts pydantic accepts with the
    same values. Whatever it refuses goes to `parse`: the same answer or the same
    MalformedAnswer as before. The result has the model's fields, read as attributes.
    """
    decoder = msgspec.json.Decoder(_struct_of(model))

    def fast(data: bytes, what: str) -> AnswerT:
        try:
            return decoder.decode(data)  # type: ignore[no-any-return]
        except msgspec.MsgspecError:
            return parse(model, data, what)

    return fast


@functools.cache
def _struct_of(model: type[Answer]) -> type[msgspec.Struct]:
    """A frozen msgspec struct with `model`'s fields, defaults and bounds (nested answers converted too)."""
    hints = get_type_hints(model, include_extras=True)
    fields = [(name, _fast_type(hints[name])) if info.is_required() else
              (name, _fast_type(hints[name]), msgspec.field(default_factory=info.default_factory)
               if info.default_factory is not None else info.default)
              for name, info in model.model_fields.items()]
    return msgspec.defstruct(model.__name__, fields, kw_only=True, frozen=True)


def _fast_type(hint: Any) -> Any:
    """`hint` with every Answer inside it (list items, union members, annotated types) replaced by its struct."""
    if isinstance(hint, type) and issubclass(hint, Answer):
        return _struct_of(hint)
    origin, args = get_origin(hint), get_args(hint)
    if origin is Annotated:
        return Annotated[(_fast_type(args[0]), *hint.__metadata__)]
    if origin in (Union, types.UnionType):
        return Union[tuple(_fast_type(arg) for arg in args)]
    if origin is list:
        return list[_fast_type(args[0])]
    return hint
