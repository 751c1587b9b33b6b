"""Property: whatever bytes a results file holds, the importer answers with samples it can store or with one
WfdoctorError naming the file; never another exception. Data files (facts, rules) the same."""

from __future__ import annotations

import csv
import io
import json
import math
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from wfdoctor.config.facts import load_facts
from wfdoctor.config.rules import load_rulebook
from wfdoctor.model import WfdoctorError, plausible_point
from wfdoctor.sense.results_file import parse_results

PROPERTY = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])

scalars = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=True, allow_infinity=True),
                    st.text(max_size=20), st.sampled_from(["nan", "inf", "-inf", "1e20", "1e400", "2026-11-01",
                                                           "fast", "", "wf_x", "wf_llm_decode_tokens_per_second"]))
json_values = st.recursive(scalars, lambda inner: st.one_of(st.lists(inner, max_size=4),
                                                            st.dictionaries(st.text(max_size=10), inner, max_size=4)),
                           max_leaves=20)
ROW_KEYS = ["timestamp", "metric", "value", "revision", "unit"]
rows = st.dictionaries(st.sampled_from(ROW_KEYS), json_values, max_size=5)
benchmarks = st.fixed_dictionaries({}, optional={"name": json_values,
                                                 "stats": st.one_of(json_values,
                                                                    st.dictionaries(st.just("median"), json_values))})
pytest_benchmark = st.fixed_dictionaries(
    {"benchmarks": st.one_of(json_values, st.lists(st.one_of(benchmarks, json_values), max_size=4))},
    optional={"datetime": json_values, "commit_info": st.one_of(json_values,
                                                                st.dictionaries(st.just("id"), json_values))})


@pytest.fixture(scope="module")
def folder() -> Iterator[Path]:
    with tempfile.TemporaryDirectory() as name:
        yield Path(name)


def only_wfdoctor_errors(path: Path, content: bytes) -> None:
    """Parse `content`: storable samples, or a WfdoctorError that names the file."""
    path.write_bytes(content)
    try:
        samples = parse_results(path)
    except WfdoctorError as exc:
        assert str(path) in str(exc) and "\n" not in str(exc)
        return
    for sample in samples:
        assert plausible_point(sample.value, sample.ts) and isinstance(sample.metric, str) and sample.metric


def to_json(data: Any) -> bytes:
    return json.dumps(data, allow_nan=True).encode()  # NaN and Infinity as Python's json writes (and reads) them


@PROPERTY
@given(content=st.binary(max_size=400))
def test_random_bytes(folder: Path, content: bytes) -> None:
    only_wfdoctor_errors(folder / "random.csv", content)


@PROPERTY
@given(content=st.text(max_size=300))
def test_random_text(folder: Path, content: str) -> None:
    only_wfdoctor_errors(folder / "random.txt", content.encode("utf-8", errors="surrogatepass"))


@PROPERTY
@given(data=st.one_of(json_values, st.lists(rows, max_size=5), rows))
def test_well_formed_json_rows_with_wrong_values(folder: Path, data: Any) -> None:
    only_wfdoctor_errors(folder / "rows.json", to_json(data))


@PROPERTY
@given(data=pytest_benchmark)
def test_well_formed_pytest_benchmark_json_with_wrong_values(folder: Path, data: dict[str, Any]) -> None:
    only_wfdoctor_errors(folder / "bench.json", to_json(data))


@PROPERTY
@given(table=st.lists(st.lists(st.one_of(scalars, st.text(max_size=10)), min_size=1, max_size=6), max_size=6),
       header=st.lists(st.sampled_from(ROW_KEYS + ["other", ""]), min_size=1, max_size=6))
def test_well_formed_csv_with_wrong_values(folder: Path, table: list[list[Any]], header: list[str]) -> None:
    text = io.StringIO()
    writer = csv.writer(text)
    writer.writerow(header)
    writer.writerows(table)
    only_wfdoctor_errors(folder / "rows.csv", text.getvalue().encode("utf-8", errors="surrogatepass"))


@PROPERTY
@given(value=st.floats(allow_nan=True, allow_infinity=True), ts=st.floats(allow_nan=True, allow_infinity=True))
def test_an_accepted_row_is_always_a_storable_point(folder: Path, value: float, ts: float) -> None:
    path = folder / "point.json"
    path.write_text(json.dumps([{"metric": "m_seconds", "value": value, "timestamp": ts}]))
    try:
        [sample] = parse_results(path)
    except WfdoctorError:
        assert not (math.isfinite(value) and plausible_point(value, ts))
    else:
        assert (sample.value, sample.ts) == (value, ts)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(content=st.one_of(st.binary(max_size=200), json_values.map(to_json)))
def test_random_facts_and_rule_files(folder: Path, content: bytes) -> None:
    path = folder / "data.yaml"
    path.write_bytes(content)
    for load in (lambda: load_facts(path), lambda: load_rulebook([path])):
        try:
            load()
        except WfdoctorError as exc:
            assert str(path) in str(exc)
