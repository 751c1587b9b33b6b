"""Issue 13's commands (troubleshoot, compare, report, incidents, guide) attacked as a hostile user and a hostile
environment would: each case is a defect found that way, and the behaviour that now holds."""

from __future__ import annotations

import os
import signal
import stat
import threading
import sqlite3
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import pytest
from rich.console import Console

import wfdoctor
from tests.builders import incident
from tests.test_regress_cli import series, write_csv
from tests.test_troubleshoot import memory_always_high
from wfdoctor.model import ActionDisposition, ActionRecord, IncidentAction, Run, Sample
from wfdoctor.store.db import Store
from wfdoctor.store.incidents import import_incidents, list_incidents, load_incident, save_incident
from wfdoctor.config.rules import load_rulebook
from wfdoctor.surface.terminal import interrupted_line
from wfdoctor.analyze.incidents import IncidentMatch
from wfdoctor.surface.views.common import findings_group
from wfdoctor.surface.views.troubleshoot import _match_lines
from wfdoctor.testing.fake_llm import FakeConfig, FakeLLMServer, Fault

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


class StopsTheServer:
    """A person who, asked whether they did an action, says yes; meanwhile the server went away."""

    def __init__(self, server: FakeLLMServer) -> None:
        self.server = server

    def confirm(self, question: str) -> bool:
        self.server.__exit__(None, None, None)
        return True


def test_a_server_gone_before_validation_leaves_the_incident_documented_and_says_why(tmp_path: Path) -> None:
    db = tmp_path / "wf.db"
    server = FakeLLMServer(FakeConfig(implementation="ollama", tokens=8, itl_s=0.004)).__enter__()
    options = wfdoctor.TroubleshootOptions(backend_url=server.base_url, measure=wfdoctor.MeasureSettings(
        window_s=0.5, requests=5, memory_watch_s=1, facts_path=memory_always_high(tmp_path)))
    started = time.monotonic()
    report = wfdoctor.troubleshoot(options, db=db, asker=StopsTheServer(server))
    assert time.monotonic() - started < 120
    incident = report.incident
    assert incident is not None             # HIGH_MEMORY by the facts (CPU_CONTENTION too on a busy machine)
    assert any(a.disposition is ActionDisposition.DONE for a in incident.actions)  # what the person did
    assert incident.status != "resolved"
    assert any("could not be measured again" in note and "no LLM server answered" in note for note in report.notes)
    with Store.open(db) as store:
        assert [i.id for i in list_incidents(store)] == [incident.id]


def test_an_incident_made_of_a_servers_10_kb_model_name_is_stored_clipped_not_refused(tmp_path: Path) -> None:
    name = "m" * 10_240          # the runs keep it whole; the incident documents the session all the same
    made = incident(hog=name, fingerprint={"model": name, "backend": "ollama"})
    with Store.open(tmp_path / "wf.db") as store:
        saved = load_incident(store, save_incident(store, made))
    assert saved is not None and saved.cause == made.cause
    assert saved.fingerprint["model"].startswith("mmm") and saved.fingerprint["model"].endswith("...")
    assert len(saved.fingerprint["model"]) <= 500
    assert all(len(v) <= 500 for f in saved.findings for s in f.evidence for v in s.labels.values())


def until(proc: subprocess.Popen[str], text: str) -> str:
    """Its stderr read until `text` appears (or it ends)."""
    seen = ""
    while text not in seen and (char := proc.stderr.read(1) if proc.stderr else ""):
        seen += char
    return seen


@pytest.mark.parametrize(("sig", "code"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_a_signal_during_the_token_run_stops_troubleshoot_with_the_runs_kept_and_no_incident(
        tmp_path: Path, sig: signal.Signals, code: int) -> None:
    db = tmp_path / "wf.db"
    env = os.environ | {"WFDOCTOR_DB": str(db), "XDG_CONFIG_HOME": str(tmp_path)}
    with FakeLLMServer(FakeConfig(implementation="ollama", tokens=40, itl_s=0.05)) as server:
        proc = subprocess.Popen([sys.executable, "-m", "wfdoctor", "troubleshoot", "--backend", server.base_url,
                                 "--window", "0.5", "--requests", "5"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                text=True, env=env)
        until(proc, "measuring ollama")       # the token run of step 1 has started
        time.sleep(0.5)
        proc.send_signal(sig)
        _, err = proc.communicate(timeout=60)  # it stops, not carries on to a memory watch and step 5
    assert proc.returncode == code and "Traceback" not in err
    assert err.strip().splitlines()[-1].startswith("wfdoctor: interrupted; run ")
    with sqlite3.connect(db) as kept:
        runs = dict(kept.execute("SELECT command, status FROM runs").fetchall())
        assert kept.execute("SELECT count(*) FROM incidents").fetchone() == (0,)
    assert runs["troubleshoot"] == "interrupted" and runs["tokens"] == "interrupted" and runs["diagnose"] == "finished"


def test_an_interrupted_command_that_recorded_other_runs_is_named_by_its_own_run(tmp_path: Path) -> None:
    db, since = tmp_path / "wf.db", time.time()
    with pytest.raises(KeyboardInterrupt), Store.open(db) as store:
        with store.recording(own := Run(command="troubleshoot", started_at=time.time())):
            for command in ("diagnose", "tokens"):
                with store.recording(Run(command=command, started_at=time.time())):
                    pass
            raise KeyboardInterrupt       # at an --interactive question: its last run had finished
    line = interrupted_line(db, since)
    assert line == f"wfdoctor: interrupted; run {own.id} is kept as interrupted (with 2 more runs it recorded) in {db}"


def test_validating_an_incident_whose_runs_were_deleted_says_so_and_leaves_it_open(tmp_path: Path) -> None:
    db = tmp_path / "wf.db"
    with Store.open(db) as store:
        with store.recording(reused := Run(command="troubleshoot", started_at=time.time())):
            pass                          # a later run given the id of a deleted one (SQLite reuses the top id)
        assert reused.id is not None
        made = replace(incident(status="open"), before_runs=[reused.id, 77], after_runs=[])
        incident_id = save_incident(store, made)
    report = wfdoctor.validate_incident(incident_id, wfdoctor.TroubleshootOptions(), db=db)
    reused_note = f"run {reused.id} is no longer in the store (its id names a troubleshoot run now): not validated"
    assert reused_note in report.notes
    assert "run 77 is no longer in the store: not validated" in report.notes
    assert report.incident is not None and report.incident.status == "open" and report.incident.validation == []


def test_an_imported_incident_is_not_validated_here_nor_its_actions_rolled_back(wfdoctor, tmp_path: Path) -> None:
    victim = tmp_path / "elsewhere" / "settings.json"     # a path from someone else's file: never to be written
    record = ActionRecord("lower_council_size", f"{victim}#council_size", "L1", True, "theirs", {},
                          {"setting": "council_size", "file": str(victim), "from": None, "to": 1})
    theirs = incident(status="open", actions=[IncidentAction("lower_council_size", "Lower the council size", "L1",
                                                             ActionDisposition.APPLIED, "", record)])
    with Store.open(tmp_path / "wfdoctor.db") as store:
        with store.recording(Run(command="tokens", started_at=time.time())):
            pass                          # a local run with the id the other database's run had
        import_incidents(store, [replace(theirs, before_runs=[1])], "imported: team.json")
        (imported,) = list_incidents(store)
    result = wfdoctor("troubleshoot", "--validate", str(imported.id))
    assert result.code == 2 and "came from another database (imported: team.json)" in result.stderr
    assert "Traceback" not in result.stderr and len(result.stderr.strip().splitlines()) == 1
    assert not victim.parent.exists()


def test_a_stored_finding_naming_an_action_the_rules_in_force_lack_is_shown_not_a_crash() -> None:
    # an incident found with `--rules my-rules/`, validated later without them (or after an upgrade renamed it)
    stored = incident().findings
    stored[0].actions.append("my_own_action")
    console = Console(width=200, record=True)
    console.print(findings_group(stored, load_rulebook()))
    assert "my_own_action: not an action of the rules in force" in console.export_text()


@pytest.mark.parametrize("command", [("guide",), ("incidents", "export")])
def test_an_output_that_is_a_pipe_is_written_into_and_stays_a_pipe_or_is_one_line_when_none_reads_it(
        wfdoctor, tmp_path: Path, command: tuple[str, ...]) -> None:
    with Store.open(tmp_path / "wfdoctor.db") as store:
        save_incident(store, incident())
    pipe = tmp_path / "out.fifo"
    os.mkfifo(pipe)
    started = time.monotonic()
    nobody = wfdoctor(*command, "--out", str(pipe), timeout=60)      # no reader: it used to wait for one forever
    assert nobody.code == 2 and "it is a pipe no process reads" in nobody.stderr and "Traceback" not in nobody.stderr
    assert time.monotonic() - started < 60
    got: list[bytes] = []
    reader = threading.Thread(target=lambda: got.append(pipe.read_bytes()))
    reader.start()
    time.sleep(0.2)
    read = wfdoctor(*command, "--out", str(pipe), timeout=60)
    reader.join(timeout=30)
    assert read.code == 0 and got and len(got[0]) > 100
    assert stat.S_ISFIFO(pipe.stat().st_mode)      # an export used to rename a regular file over it (a device too)


def test_a_report_file_on_a_full_disk_is_one_line_and_leaves_no_temporary_file(tmp_path: Path,
                                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    """The full disk simulated in the writer itself: a test never writes into the machine's /dev/full (as root, a
    regression that renamed a file over it would break the device for every later program)."""
    import errno
    import io

    from wfdoctor.config import textfile
    from wfdoctor.model import WfdoctorError

    class FullDisk(io.StringIO):
        def write(self, text: str) -> int:
            raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(textfile.os, "fdopen", lambda *args, **kwargs: FullDisk())
    target = tmp_path / "guide.md"
    with pytest.raises(WfdoctorError, match="guide.md: cannot write the guide: No space left on device"):
        textfile.write_text(target, "text", "guide")
    assert list(tmp_path.iterdir()) == []


HOSTILE = "[red]R[/red]\x1b[31mE\x1b]8;;http://evil\x07L\x1b]8;;\x07\r</td><script>alert(1)</script>\u202e\x00|x"
RAW_CONTROLS = ("\x1b", "\x07", "\x00", "\r", "\u202e")


def test_a_report_of_an_incident_with_hostile_stored_text_holds_no_raw_control_characters(wfdoctor,
                                                                                          tmp_path: Path) -> None:
    with Store.open(tmp_path / "wfdoctor.db") as store:   # a colleague's import, or a server's names, stored
        incident_id = save_incident(store, incident(note=HOSTILE, summary=HOSTILE, fingerprint={"model": HOSTILE}))
    result = wfdoctor("report", f"incident:{incident_id}", "--out", str(tmp_path / "r"))
    assert result.code == 0 and "Traceback" not in result.stderr
    for name in ("r.md", "r.html"):
        text = (tmp_path / name).read_text(encoding="utf-8")
        assert not [c for c in RAW_CONTROLS if c in text], name     # `cat r.md` must not run an escape sequence
        assert "<script>" not in text and "\\x1b" in text.replace("\\\\", "\\")   # shown, escaped


@pytest.mark.parametrize("edit", ["started_at = 'x'", "finished_at = 1e300"])
def test_a_report_of_a_run_with_a_hand_edited_time_says_invalid_time(wfdoctor, tmp_path: Path, edit: str) -> None:
    db = tmp_path / "wfdoctor.db"
    with Store.open(db) as store, store.recording(run := Run(command="tokens", started_at=time.time())):
        pass
    with sqlite3.connect(db) as edited:
        edited.execute(f"UPDATE runs SET {edit} WHERE id = ?", (run.id,))
    result = wfdoctor("report", str(run.id), "--out", str(tmp_path / "r"))
    assert result.code == 0 and "Traceback" not in result.stderr
    assert "(invalid time)" in (tmp_path / "r.html").read_text(encoding="utf-8")


def test_an_export_through_a_symlink_writes_the_file_it_names_and_keeps_the_link(wfdoctor, tmp_path: Path) -> None:
    with Store.open(tmp_path / "wfdoctor.db") as store:
        save_incident(store, incident())
    shared = tmp_path / "shared"
    shared.mkdir()
    link = tmp_path / "incidents.json"
    link.symlink_to(shared / "incidents.json")      # the team's file, on a shared drive
    result = wfdoctor("incidents", "export", "--out", str(link))
    assert result.code == 0 and link.is_symlink()
    assert (shared / "incidents.json").read_text(encoding="utf-8").startswith("{")


def test_a_council_member_that_is_no_url_is_a_usage_error_before_anything_is_measured(wfdoctor, tmp_path: Path,
                                                                                       closed_url: str) -> None:
    result = wfdoctor("troubleshoot", "--backend", closed_url, "--council-member", "notaurl", "--council-member",
                      "notaurl")
    assert result.code == 2 and "--council-member 'notaurl': expected URL[#MODEL]" in result.stderr
    assert "Traceback" not in result.stderr and not (tmp_path / "wfdoctor.db").exists()   # no diagnose, no token run


def test_troubleshoot_against_a_hung_server_ends_within_its_timeout(wfdoctor) -> None:
    # without --timeout each of its token run's requests waited 60 s: minutes before the first step ended
    with FakeLLMServer(FakeConfig(implementation="ollama", fault=Fault("hang"))) as server:
        started = time.monotonic()
        result = wfdoctor("troubleshoot", "--backend", server.base_url, "--window", "0.5", "--requests", "2",
                          "--timeout", "0.5", "--json", timeout=120)
        took = time.monotonic() - started
    assert "Traceback" not in result.stderr and took < 100
    document = result.json()
    assert result.code == 1 and document["incident"] is not None and document["findings"]


@pytest.mark.parametrize("blocker", ["a file named like the plots folder", "a pipe named like a plot"])
def test_a_report_whose_plots_cannot_be_written_is_one_line(wfdoctor, tmp_path: Path, blocker: str) -> None:
    db = tmp_path / "wfdoctor.db"
    with Store.open(db) as store, store.recording(run := Run(command="tokens", started_at=time.time())):
        store.add_samples(run.id or 0, [wfdoctor_sample(value) for value in (30.0, 31.0, 29.0)])
    if blocker.startswith("a file"):
        (tmp_path / "r-plots").write_text("mine")
    else:
        (tmp_path / "r-plots").mkdir()
        os.mkfifo(tmp_path / "r-plots" / "01.svg")   # nobody reads it: writing used to wait for good
    result = wfdoctor("report", str(run.id), "--out", str(tmp_path / "r"), "--format", "md", timeout=60)
    assert result.code == 2 and "Traceback" not in result.stderr
    error = result.stderr.strip().splitlines()[-1]                  # after the progress notes
    assert error.startswith("wfdoctor: error: ") and "r-plots" in error


def wfdoctor_sample(value: float) -> Sample:
    return Sample("wf_llm_request_decode_tokens_per_second", value, "tokens/s", "client",
                  {"request": str(int(value)), "concurrency": "1"}, time.time())


def test_regress_show_plot_to_a_pipe_nobody_reads_is_one_line(wfdoctor, tmp_path: Path) -> None:
    wfdoctor("regress", "record", str(write_csv(tmp_path / "r.csv", series(25))))
    os.mkfifo(tmp_path / "p.svg")
    result = wfdoctor("regress", "show", "wf_llm_decode_tokens_per_second", "--plot", str(tmp_path / "p.svg"),
                      timeout=60)                         # it waited for a reader for good
    assert result.code == 2 and "p.svg: cannot write the plot: it is a pipe no process reads" in result.stderr
    assert "Traceback" not in result.stderr


def test_incidents_list_with_only_damaged_rows_does_not_say_none_are_stored(wfdoctor, tmp_path: Path) -> None:
    db = tmp_path / "wfdoctor.db"
    with Store.open(db) as store:
        save_incident(store, incident())
    with sqlite3.connect(db) as edited:
        edited.execute("UPDATE incidents SET document = '{'")
    result = wfdoctor("incidents", "list")
    assert result.code == 0 and "yet" not in result.stdout
    assert "No readable incidents" in result.stdout and "1 could not be read" in result.stdout
    assert "incident 1: its stored document is not JSON" in result.stderr


def test_a_note_longer_than_an_incident_keeps_is_a_usage_error_before_anything_is_measured(wfdoctor, tmp_path: Path,
                                                                                          closed_url: str) -> None:
    result = wfdoctor("troubleshoot", "--backend", closed_url, "--note", "x" * 30_000)
    assert result.code == 2 and "--note is 30000 characters; an incident keeps at most 20000" in result.stderr
    assert "Traceback" not in result.stderr and not (tmp_path / "wfdoctor.db").exists()


def test_a_past_incident_from_an_import_is_shown_as_imported_with_what_fixed_it() -> None:
    theirs = replace(incident(), id=4, origin="imported: team.json")   # its "fixed by" is someone else's advice
    lines = _match_lines(IncidentMatch(theirs, 0.9, ["same cause CPU_CONTENTION"], theirs.actions[:1]))
    assert "imported: team.json" in lines[0].plain


def test_an_incident_past_every_bound_at_once_is_stored_fitted(tmp_path: Path) -> None:
    # long keys and values in the same label set, lists too long whose items are too long as well
    made = incident(fingerprint={"k" * 700 + str(i): "v" * 800 for i in range(3)}, note="n" * 25_000)
    made = replace(made, symptoms=["y" * 25_000] * 1_100)
    with Store.open(tmp_path / "wf.db") as store:
        saved = load_incident(store, save_incident(store, made))
    assert saved is not None and len(saved.symptoms) == 1_000 and len(saved.symptoms[0]) == 20_000
    assert all(len(k) <= 500 and len(v) <= 500 for k, v in saved.fingerprint.items()) and len(saved.note) == 20_000


def test_a_memory_watch_whose_pid_is_another_program_now_is_not_validated(tmp_path: Path) -> None:
    db = tmp_path / "wf.db"
    with Store.open(db) as store:
        watch = Run(command="memory watch", started_at=time.time(), settings={"pid": os.getpid(), "duration_s": 0.5})
        with store.recording(watch):   # what it watched then: a process of another name, whose pid is ours now
            store.add_samples(watch.id or 0, [Sample("wf_process_resident_memory_bytes", 1e8, "bytes", "psutil",
                                                     {"pid": str(os.getpid()), "name": "ollama"}, time.time())])
        incident_id = save_incident(store, replace(incident(status="open"), before_runs=[watch.id or 0],
                                                   after_runs=[]))
    report = wfdoctor.validate_incident(incident_id, wfdoctor.TroubleshootOptions(), db=db)
    assert any(f"run {watch.id} (memory watch) could not be repeated" in note for note in report.notes)
    assert report.incident is not None and report.incident.after_runs == [] and report.incident.status == "open"


@pytest.mark.parametrize("option", [("--backend", "http://127.0.0.1:1"), ("--model", "other:7b"),
                                    ("--council-member", "http://127.0.0.1:1")])
def test_an_option_validation_would_ignore_is_a_usage_error_with_validate(wfdoctor, option: tuple[str, str]) -> None:
    # it measured the incident's own server and model again, silently, whatever --backend said
    result = wfdoctor("troubleshoot", "--validate", "1", *option)
    assert result.code == 2 and f"{option[0]} cannot go with --validate" in result.stderr
    assert "Traceback" not in result.stderr
