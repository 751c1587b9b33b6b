"""`wfdoctor incidents`: a team shares its incidents as a file, and every text in them is shown as text."""

from __future__ import annotations

import json
import sqlite3
from dataclasses import replace
from pathlib import Path

import jsonschema

from tests.builders import incident
from tests.conftest import SCHEMAS
from wfdoctor.app.incidents import similar_incidents
from wfdoctor.config.facts import load_facts
from wfdoctor.store.db import Store
from wfdoctor.store.incidents import incident_to_json, list_incidents, save_incident


def stored(path: Path, *incidents) -> list:
    with Store.open(path) as store:
        for item in incidents:
            save_incident(store, item)
        return list_incidents(store)


def test_export_then_import_into_a_fresh_database_round_trips_and_a_second_import_adds_nothing(
        wfdoctor, tmp_path: Path) -> None:
    mine = stored(tmp_path / "wfdoctor.db", incident(note="stopped the hog"),
                  incident("MEMORY_PRESSURE", "leaky", created_at=1.8e9, status="open"))
    exported = wfdoctor("incidents", "export", "--out", str(tmp_path / "team.json"), "--json").json()
    assert exported["incidents"] == 2 and exported["unreadable"] == []
    fresh = tmp_path / "colleague.db"
    first = wfdoctor("incidents", "import", str(tmp_path / "team.json"), "--db", str(fresh), "--json").json()
    assert (first["read"], first["added"], first["skipped"], first["origin"]) == (2, 2, 0, "imported: team.json")
    again = wfdoctor("incidents", "import", str(tmp_path / "team.json"), "--db", str(fresh), "--json").json()
    assert (again["added"], again["skipped"]) == (0, 2)
    theirs = stored(fresh)
    assert [replace(i, id=None, origin="local") for i in theirs] == [replace(i, id=None) for i in mine]
    assert {i.origin for i in theirs} == {"imported: team.json"}


def test_export_prints_the_shared_document_and_can_pick_incidents(wfdoctor, tmp_path: Path) -> None:
    stored(tmp_path / "wfdoctor.db", incident(), incident("MEMORY_PRESSURE", created_at=1.8e9))
    result = wfdoctor("incidents", "export", "--id", "2", "--id", "2")
    assert result.code == 0
    document = json.loads(result.stdout)
    jsonschema.validate(document, json.loads((SCHEMAS / "incidents-export.v1.schema.json").read_text()))
    assert (document["format"], document["version"]) == ("wfdoctor-incidents", 1)
    assert [item["cause"] for item in document["incidents"]] == ["MEMORY_PRESSURE"]


def test_list_show_and_search_documents_match_their_schemas(wfdoctor, tmp_path: Path) -> None:
    [saved] = stored(tmp_path / "wfdoctor.db", incident(note="nightly build"))
    listed = wfdoctor("incidents", "list", "--json").json()
    assert [(i["id"], i["cause"], i["status"], i["verdict"]) for i in listed["incidents"]] == \
        [(1, "CPU_CONTENTION", "resolved", "improved")]
    assert listed["query"] is None
    shown = wfdoctor("incidents", "show", "1", "--json").json()
    assert shown["incident"] == incident_to_json(saved)
    found = wfdoctor("incidents", "search", "NIGHTLY", "--json").json()
    assert found["query"] == "NIGHTLY" and len(found["incidents"]) == 1
    assert wfdoctor("incidents", "search", "nothing like it", "--json").json()["incidents"] == []


def test_an_imported_incidents_text_is_shown_as_text(wfdoctor, tmp_path: Path) -> None:
    stored(tmp_path / "wfdoctor.db", incident(hog="\x1b[2Jhog[/]", note="[bold red]boom[/] \u202eevil"))
    shown = wfdoctor("incidents", "show", "1")
    listed = wfdoctor("incidents", "list")
    assert shown.code == listed.code == 0
    for output in (shown.stdout, listed.stdout):
        assert "\x1b" not in output and "\\x1b[2Jhog[/]" in output
    assert "Note: [bold red]boom[/] \\u202eevil" in shown.stdout


def test_a_damaged_row_is_named_on_stderr_and_the_others_still_listed(wfdoctor, tmp_path: Path) -> None:
    db = tmp_path / "wfdoctor.db"
    stored(db, incident(), incident("MEMORY_PRESSURE", created_at=1.8e9))
    with sqlite3.connect(db) as raw:
        raw.execute("UPDATE incidents SET document = 'not json' WHERE id = 1")
    result = wfdoctor("incidents", "list")
    assert result.code == 0 and "MEMORY_PRESSURE" in result.stdout and "CPU_CONTENTION" not in result.stdout
    assert f"skipped {db}: incident 1: its stored document is not JSON" in result.stderr
    shown = wfdoctor("incidents", "show", "1")
    searched = wfdoctor("incidents", "search", "pressure")
    assert searched.code == 0 and "MEMORY_PRESSURE" in searched.stdout and "incident 1:" in searched.stderr
    assert shown.code == 2 and "Traceback" not in shown.stderr
    assert shown.stderr.strip() == f"wfdoctor: error: {db}: incident 1: its stored document is not JSON " \
                                   "(edited by hand or damaged)"


def test_troubleshoot_finds_the_stored_incident_like_a_new_diagnosis(tmp_path: Path) -> None:
    limits = load_facts().limits.incidents
    with Store.open(tmp_path / "kb.db") as store:
        save_incident(store, incident("CPU_CONTENTION", "wf-cpu-hog"))
        save_incident(store, incident("MEMORY_PRESSURE", "leaky", created_at=1.8e9))
        [match] = similar_incidents(store, incident().findings, {"hostname": "bench-1"}, limits)
    assert match.incident.cause == "CPU_CONTENTION" and match.incident.id == 1
    assert "same culprit wf-cpu-hog" in match.reasons
    assert [a.action_id for a in match.fixed_by] == ["stop_competing_process"]
