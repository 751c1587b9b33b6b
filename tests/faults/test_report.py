"""`wfdoctor report` faults: a wrong target, a bad output path, a missing database, hostile text in a run."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.report_tools import HOSTILE, synthetic_runs


def one_line_error(result, code: int = 2) -> str:  # type: ignore[no-untyped-def]
    assert result.code == code and "Traceback" not in result.stderr + result.stdout
    lines = [line for line in result.stderr.splitlines() if line.startswith("wfdoctor: error:")]
    assert len(lines) == 1, result.stderr
    return lines[0]


def test_an_unknown_run_is_a_one_line_error_naming_the_database(wfdoctor, tmp_path: Path) -> None:
    synthetic_runs(tmp_path / "wfdoctor.db")
    line = one_line_error(wfdoctor("report", "999", "--out", str(tmp_path / "r")))
    assert line == f"wfdoctor: error: no run 999 in {tmp_path / 'wfdoctor.db'} (see wfdoctor history)"
    assert not (tmp_path / "r.html").exists()


@pytest.mark.parametrize("target", ["incident:abc", "incident:", "run:3", "-1", "0", "3.5", "incident:-2"])
def test_a_malformed_target_is_a_usage_error_that_touches_no_database(wfdoctor, tmp_path: Path, target: str) -> None:
    line = one_line_error(wfdoctor("report", "--", target))
    assert "expected a run id (e.g. 7) or incident:N" in line and repr(target) in line
    assert not (tmp_path / "wfdoctor.db").exists()


def test_no_database_is_an_error_not_a_new_empty_one(wfdoctor, tmp_path: Path) -> None:
    line = one_line_error(wfdoctor("report", "1"))
    assert "no database at" in line and not (tmp_path / "wfdoctor.db").exists()


def test_an_output_path_in_a_missing_folder_is_refused_before_anything_is_written(wfdoctor, tmp_path: Path) -> None:
    runs = synthetic_runs(tmp_path / "wfdoctor.db")
    line = one_line_error(wfdoctor("report", str(runs["tokens"]), "--out", str(tmp_path / "nowhere" / "r")))
    assert line == f"wfdoctor: error: {tmp_path / 'nowhere' / 'r'}: folder {tmp_path / 'nowhere'} does not exist"
    assert not (tmp_path / "nowhere").exists()


def test_a_target_file_that_is_not_a_regular_file_is_not_overwritten(wfdoctor, tmp_path: Path) -> None:
    runs = synthetic_runs(tmp_path / "wfdoctor.db")
    (tmp_path / "r.md").mkdir()
    line = one_line_error(wfdoctor("report", str(runs["tokens"]), "--out", str(tmp_path / "r")))
    assert line == f"wfdoctor: error: {tmp_path / 'r.md'} exists and is not a regular file: not overwritten"
    assert not (tmp_path / "r.html").exists()


def test_hostile_text_in_a_run_is_shown_as_text_in_the_html(wfdoctor, tmp_path: Path) -> None:
    runs = synthetic_runs(tmp_path / "wfdoctor.db")
    assert wfdoctor("report", str(runs["tokens"]), "--out", str(tmp_path / "r")).code == 0
    html = (tmp_path / "r.html").read_text()
    assert HOSTILE not in html and "<script" not in html and "<img src=http" not in html
    assert "&lt;script&gt;document.title=&#x27;pwned&#x27;&lt;/script&gt;" in html
    assert re.findall(r"<img [^>]*src=\"([^\"]{0,5})", html) == ["data:"] * 3  # only our own images, inline


def test_an_unknown_incident_is_a_one_line_error(wfdoctor, tmp_path: Path) -> None:
    synthetic_runs(tmp_path / "wfdoctor.db")
    line = one_line_error(wfdoctor("report", "incident:42", "--out", str(tmp_path / "r")))
    assert line == f"wfdoctor: error: no incident 42 in {tmp_path / 'wfdoctor.db'} (see wfdoctor incidents list)"
