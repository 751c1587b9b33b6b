"""An incidents file is a colleague's, or anyone's: whatever it holds, import answers with incidents it can
store or with one WfdoctorError naming the file, the item and the field; never another exception, never a
half import. A damaged stored row is one line naming the database and the row."""

from __future__ import annotations

import copy
import json
import math
import os
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.builders import incident
from wfdoctor.model import WfdoctorError
from wfdoctor.store.db import Store
from wfdoctor.store.incidents import incident_from_json, incident_to_json, load_incident

PROPERTY = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
VALID = incident_to_json(incident(note="n"))

scalars = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=True, allow_infinity=True),
                    st.text(max_size=20), st.sampled_from(["nan", "1e400", "improved", "resolved", "high", "", "x" * 600,
                                                           "applied"]))
json_values = st.recursive(scalars, lambda inner: st.one_of(st.lists(inner, max_size=4),
                                                            st.dictionaries(st.text(max_size=10), inner, max_size=4)),
                           max_leaves=20)


def paths(value: Any, prefix: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    """Every place in a JSON value: keys of objects, indices of lists."""
    yield prefix
    if isinstance(value, dict):
        for key, item in value.items():
            yield from paths(item, (*prefix, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from paths(item, (*prefix, index))


def nested(depth: int) -> list[Any]:
    value: list[Any] = []
    for _ in range(depth):
        value = [value]
    return value


PLACES = [place for place in paths(VALID) if place]


def replaced(document: dict[str, Any], place: tuple[Any, ...], value: Any) -> dict[str, Any]:
    changed = copy.deepcopy(document)
    target = changed
    for key in place[:-1]:
        target = target[key]
    target[place[-1]] = value
    return changed


def one_line_or_incident(data: object) -> WfdoctorError | None:
    """An incident, or a one-line WfdoctorError that says where; any other exception fails the property."""
    try:
        incident_from_json(data, "team.json: incidents[0]")
    except WfdoctorError as exc:
        assert str(exc).startswith("team.json: incidents[0]: ") and "\n" not in str(exc)
        assert len(str(exc)) < 400, "an error line repeats no input"
        return exc
    return None


@PROPERTY
@given(data=json_values)
def test_any_json_value_is_an_incident_or_one_line(data: object) -> None:
    assert one_line_or_incident(data) is not None   # nothing random is a whole incident


@PROPERTY
@given(place=st.sampled_from(PLACES), value=json_values)
def test_any_field_of_a_valid_incident_replaced_by_anything_is_an_incident_or_one_line_naming_it(
        place: tuple[Any, ...], value: Any) -> None:
    error = one_line_or_incident(replaced(VALID, place, value))
    if error is not None and "field '" in str(error):
        named = str(error).split("field '")[1].split("'")[0]
        assert str(place[0]) in named   # the top-level field (or its own path under it) is named


@pytest.mark.parametrize(("place", "value", "named"), [
    (("summary",), "x" * 1_000_000, "field 'summary': String should have at most 20000 characters"),
    (("findings", 0, "evidence", 1, "value"), math.nan, "field 'findings[0].evidence[1].value'"),
    (("validation", 0, "p_value"), math.inf, "field 'validation[0].p_value'"),
    (("created_at",), "2026-11-28", "field 'created_at': Input should be a valid number"),
    (("created_at",), 1.7e12, "field 'created_at': Input should be less than or equal to"),  # milliseconds
    (("verdict",), "fixed", "field 'verdict': Input should be 'improved'"),
    (("symptoms",), ["s"] * 5000, "field 'symptoms': List should have at most 1000 items"),
    (("actions", 1, "record", "before"), {"deep": nested(5000)}, "actions[1].record.before"),
    (("fingerprint", "\n\x1b[2J"), "x", None),   # an extra key in a mapping of strings: fine
])
def test_hostile_fields_are_named_on_one_line(place: tuple[Any, ...], value: Any, named: str | None) -> None:
    error = one_line_or_incident(replaced(VALID, place, value))
    if named is None:
        assert error is None
    else:
        assert error is not None and named in str(error), error


def test_an_unknown_field_is_refused_and_its_name_shown_escaped() -> None:
    error = one_line_or_incident(VALID | {"evil\n\x1b[2J": 1})
    assert error is not None and "field 'evil\\n\\x1b[2J': Extra inputs are not permitted" in str(error)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    with Store.open(tmp_path / "kb.db") as opened:
        yield opened


@PROPERTY
@given(document=st.one_of(st.binary(max_size=200), json_values.map(json.dumps), st.integers(-(2**63), 2**63 - 1)))
def test_a_damaged_row_is_one_line_naming_the_database_and_the_row(store: Store, document: object) -> None:
    with sqlite3.connect(store.path) as raw:
        raw.execute("DELETE FROM incidents")
        raw.execute("INSERT INTO incidents (id, created_at, status, cause, verdict, summary, fingerprint, document) "
                    "VALUES (7, 0, 'open', '', 'inconclusive', '', '{}', ?)", (document,))
    with pytest.raises(WfdoctorError) as error:
        load_incident(store, 7)
    assert str(error.value).startswith(f"{store.path}: incident 7: ") and "\n" not in str(error.value)


def export(tmp_path: Path, items: list[Any], name: str = "team.json") -> Path:
    path = tmp_path / name
    path.write_text(json.dumps({"format": "wfdoctor-incidents", "version": 1, "exported_at": "2026-11-28T00:00:00Z",
                                "incidents": items}))
    return path


def refused(wfdoctor, tmp_path: Path, file: Path, message: str) -> None:
    """Exit 2, the one line, no traceback, nothing added to the database."""
    db = tmp_path / "wfdoctor.db"
    started = time.monotonic()
    result = wfdoctor("incidents", "import", str(file), timeout=60)
    assert time.monotonic() - started < 30   # a FIFO nobody writes to must not hang it
    assert result.code == 2, result
    assert "Traceback" not in result.stderr and result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], lines
    if db.exists():
        with sqlite3.connect(db) as raw:
            assert raw.execute("SELECT COUNT(*) FROM incidents").fetchone()[0] == 0


def test_one_bad_incident_in_a_file_adds_none_of_them(wfdoctor, tmp_path: Path) -> None:
    items = [incident_to_json(incident(created_at=1.7e9 + n)) for n in range(5)]
    items[3]["findings"][0]["priority"] = "urgent"
    refused(wfdoctor, tmp_path, export(tmp_path, items),
            f"{tmp_path / 'team.json'}: field 'incidents[3].findings[0].priority': Input should be")


@pytest.mark.parametrize(("content", "message"), [
    (b"\xff\xfe not text", "not a text file (byte 0 is not UTF-8)"),
    (b'{"format": "wfdoctor-incidents",', ":1: not valid JSON"),
    (b"[" * 100_000 + b"]" * 100_000, "JSON nested too deeply to be an incidents export"),
    (b'{"format": "csv", "version": 1, "exported_at": "", "incidents": []}', "field 'format'"),
    (b'{"format": "wfdoctor-incidents", "version": 2, "exported_at": "", "incidents": []}', "field 'version'"),
    (b'[]', "field '(top level)'"),
])
def test_a_file_that_is_not_an_export_is_one_line(wfdoctor, tmp_path: Path, content: bytes, message: str) -> None:
    (tmp_path / "bad.json").write_bytes(content)
    refused(wfdoctor, tmp_path, tmp_path / "bad.json", message)


def test_a_fifo_a_folder_a_missing_file_and_a_huge_file_are_refused_without_reading(wfdoctor, tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "pipe")
    refused(wfdoctor, tmp_path, tmp_path / "pipe", "not a regular file")
    refused(wfdoctor, tmp_path, tmp_path, "not a regular file")
    refused(wfdoctor, tmp_path, tmp_path / "missing.json", "cannot read the incidents file: No such file")
    with (tmp_path / "huge.json").open("wb") as sparse:
        sparse.truncate(51 << 20)
    refused(wfdoctor, tmp_path, tmp_path / "huge.json", "over the 50 MiB an incidents export may have")


def test_an_unknown_incident_and_an_empty_search_are_one_line(wfdoctor, tmp_path: Path) -> None:
    for args, message in ((("show", "9"), "no incident 9"), (("search", " "), "give some text to look for")):
        result = wfdoctor("incidents", *args)
        assert result.code == 2 and "Traceback" not in result.stderr
        assert len(result.stderr.strip().splitlines()) == 1 and message in result.stderr
