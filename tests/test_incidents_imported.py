"""An imported incident's run ids are the exporting database's: here the same numbers name other runs.

So `incidents show` says whose ids they are, `report incident:N` shows none of this database's runs as the
incident's "before" and "after", and `troubleshoot --validate` refuses to measure this database's runs again
in their place (which would overwrite the colleague's validation with an unrelated one).
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from tests.builders import incident
from tests.report_tools import synthetic_runs
from wfdoctor.store.db import Store
from wfdoctor.store.incidents import load_incident, save_incident


@pytest.fixture()
def imported(wfdoctor, tmp_path: Path) -> tuple[Path, dict[str, int]]:
    """A colleague's open incident whose runs were 1 (before) and 2 (after) in their database, imported into
    one where runs 1 and 2 are this machine's own, unrelated runs."""
    theirs = tmp_path / "theirs.db"
    with Store.open(theirs) as store:
        save_incident(store, replace(incident(status="open"), before_runs=[1], after_runs=[2]))
    assert wfdoctor("incidents", "export", "--db", str(theirs), "--out", str(tmp_path / "team.json")).code == 0
    mine = tmp_path / "wfdoctor.db"
    runs = synthetic_runs(mine)
    assert wfdoctor("incidents", "import", str(tmp_path / "team.json"), "--db", str(mine)).code == 0
    return mine, runs


def test_show_says_the_run_ids_are_the_exporting_databases(wfdoctor, imported) -> None:
    mine, _ = imported
    result = wfdoctor("incidents", "show", "1", "--db", str(mine))
    assert result.code == 0
    assert "Runs (ids in the database it came from, not this one): before 1; after 2" in result.stdout


def test_its_report_shows_none_of_this_databases_runs_as_before_and_after(wfdoctor, imported,
                                                                        tmp_path: Path) -> None:
    mine, _ = imported
    result = wfdoctor("report", "incident:1", "--db", str(mine), "--out", str(tmp_path / "i"), "--format", "md")
    assert result.code == 0, result.stderr
    markdown = (tmp_path / "i.md").read_text()
    assert "before the fix" not in markdown and "after the fix" not in markdown
    assert "came from another database \\(imported: team.json\\)" in markdown


def test_validating_it_is_refused_in_one_line_and_changes_nothing(wfdoctor, imported) -> None:
    mine, _ = imported
    with Store.open(mine) as store:
        before = load_incident(store, 1)
    result = wfdoctor("troubleshoot", "--validate", "1", "--no-embedded", "--db", str(mine))
    assert result.code == 2 and "Traceback" not in result.stderr
    assert "incident 1 came from another database (imported: team.json)" in result.stderr
    with Store.open(mine) as store:
        assert load_incident(store, 1) == before
