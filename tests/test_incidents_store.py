"""The incident knowledge base's store: every field comes back as saved, updates land, listings and search."""

from __future__ import annotations

import sqlite3
from dataclasses import replace
from pathlib import Path

import pytest

from tests.builders import incident
from wfdoctor.model import ActionDisposition, IncidentAction, Verdict, WfdoctorError
from wfdoctor.store.db import Store
from wfdoctor.store.incidents import (import_incidents, incident_from_json, incident_to_json, list_incidents,
                                      load_incident, read_incidents, save_incident, search_incidents,
                                      update_incident)


@pytest.fixture
def store(tmp_path: Path) -> Store:
    with Store.open(tmp_path / "kb.db") as opened:
        yield opened


def test_a_saved_incident_reads_back_with_every_field(store: Store) -> None:
    saved = incident(note="stopped the hog by hand")
    incident_id = save_incident(store, saved)
    assert saved.id == incident_id == 1
    assert load_incident(store, incident_id) == saved
    assert load_incident(store, 99) is None


def test_the_json_form_round_trips_every_field() -> None:
    original = replace(incident(note="n"), id=7, origin="imported: team.json")
    assert incident_from_json(incident_to_json(original), "test") == original


def test_an_update_writes_the_new_state_over_the_row(store: Store) -> None:
    opened = incident(status="open", verdict=Verdict.INCONCLUSIVE)
    save_incident(store, opened)
    opened.status, opened.verdict, opened.note = "resolved", Verdict.IMPROVED, "validated"
    opened.actions.append(IncidentAction("restart", "Restart the server", "L3", ActionDisposition.INSTRUCTIONS))
    update_incident(store, opened)
    assert load_incident(store, opened.id or 0) == opened


def test_updating_an_unsaved_or_missing_incident_is_a_one_line_error(store: Store) -> None:
    with pytest.raises(WfdoctorError, match="not saved yet"):
        update_incident(store, incident())
    with pytest.raises(WfdoctorError, match="no incident 5"):
        update_incident(store, replace(incident(), id=5))


def test_an_incident_that_could_not_be_read_back_is_refused_before_it_is_written(store: Store) -> None:
    with pytest.raises(WfdoctorError, match="field 'status'"):
        save_incident(store, incident(status="fixed-ish"))
    assert list_incidents(store) == []


def test_listing_is_newest_first_and_bounded(store: Store) -> None:
    for ts in (1.7e9, 1.8e9, 1.75e9):
        save_incident(store, incident(created_at=ts))
    assert [i.created_at for i in list_incidents(store)] == [1.8e9, 1.75e9, 1.7e9]
    assert len(list_incidents(store, limit=2)) == 2


def test_search_looks_in_cause_summary_symptoms_note_and_action_titles_in_any_case(store: Store) -> None:
    save_incident(store, incident("CPU_CONTENTION", "hog-a", note="Happened during the nightly BUILD"))
    save_incident(store, incident("MEMORY_PRESSURE", "hog-b", created_at=1.8e9))
    assert [i.cause for i in search_incidents(store, "cpu_contention", 10)] == ["CPU_CONTENTION"]
    assert [i.cause for i in search_incidents(store, "nightly build", 10)] == ["CPU_CONTENTION"]
    assert [i.cause for i in search_incidents(store, "HOG-B", 10)] == ["MEMORY_PRESSURE"]    # symptoms, summary
    assert [i.cause for i in search_incidents(store, "+19", 10)] == []                        # details are not titles
    assert len(search_incidents(store, "stop or renice", 10)) == 2                          # action titles
    assert len(search_incidents(store, "stop or renice", 1)) == 1


def test_importing_keeps_the_origin_and_skips_incidents_already_present(store: Store) -> None:
    local = incident()
    save_incident(store, local)
    shared = [incident(), incident("MEMORY_PRESSURE", created_at=1.8e9), incident("MEMORY_PRESSURE", created_at=1.8e9)]
    assert import_incidents(store, shared, "imported: team.json") == 1
    assert import_incidents(store, shared, "imported: team.json") == 0
    assert [(i.cause, i.origin) for i in list_incidents(store)] == [("MEMORY_PRESSURE", "imported: team.json"),
                                                                    ("CPU_CONTENTION", "local")]


def test_a_corrupt_row_is_one_line_naming_the_database_and_the_row(store: Store) -> None:
    save_incident(store, incident())
    save_incident(store, incident(created_at=1.8e9))
    raw = sqlite3.connect(store.path)
    raw.execute("UPDATE incidents SET document = '{\"created_at\": \"yesterday\"' WHERE id = 1")
    raw.execute("UPDATE incidents SET document = '{\"created_at\": \"yesterday\"}' WHERE id = 2")
    raw.commit()
    with pytest.raises(WfdoctorError) as broken:
        load_incident(store, 1)
    assert str(broken.value) == f"{store.path}: incident 1: its stored document is not JSON (edited by hand or damaged)"
    with pytest.raises(WfdoctorError, match=r"incident 2: field 'created_at': Input should be a valid number"):
        load_incident(store, 2)
    listing = read_incidents(store)
    assert listing.incidents == [] and len(listing.unreadable) == 2
    assert all("\n" not in line and str(store.path) in line for line in listing.unreadable)
