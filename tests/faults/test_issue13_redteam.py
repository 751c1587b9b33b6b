"""Issue 13's commands (troubleshoot, compare, report, incidents, guide) attacked as a hostile user and a hostile
environment would: each case is a defect found that way, and the behaviour that now holds."""

from __future__ import annotations

from pathlib import Path

import pytest

from wfdoctor.store.db import Store

TOO_BIG = str(2 ** 64)      # past SQLite's integers: sqlite3 cannot even bind it


@pytest.mark.parametrize(("args", "message"), [
    (("troubleshoot", "--no-embedded", "--validate", TOO_BIG), f"no incident {TOO_BIG}"),
    (("incidents", "show", TOO_BIG), f"no incident {TOO_BIG}"),
    (("incidents", "export", "--id", TOO_BIG), f"no incident {TOO_BIG}"),
    (("report", f"incident:{TOO_BIG}"), f"no incident {TOO_BIG}"),
    (("report", TOO_BIG), f"no run {TOO_BIG}"),
])
def test_an_id_past_sqlites_integers_is_no_such_row_in_one_line(wfdoctor, tmp_path: Path, args: tuple[str, ...],
                                                                message: str) -> None:
    with Store.open(tmp_path / "wfdoctor.db"):
        pass
    result = wfdoctor(*args)
    assert result.code == 2 and message in result.stderr
    assert "Traceback" not in result.stderr and len(result.stderr.strip().splitlines()) == 1
