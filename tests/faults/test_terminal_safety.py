"""Untrusted text reaches the terminal as text: control characters escaped, Rich markup shown, not read.

Names, versions and error texts come from servers, processes and files wfdoctor does not control.
The CLI runs without a terminal here (Rich prints no styles), so a raw ESC in its output can only
be the untrusted text's; the views are also rendered on a forced terminal, where a hyperlink would
be an OSC 8 sequence (ESC ] 8) and a cleared screen ESC [ 2 J.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

from rich.console import Console

from wfdoctor.analyze.regress_check import CheckSettings, judge_histories
from wfdoctor.surface.views import regress as regress_view
from wfdoctor.surface.views.safe import plain, shown
from wfdoctor.testing.fake_llm import FakeConfig, FakeLLMServer
from tests.builders import stored

EVIL = "evil\x1b[2J[link=file:///etc/passwd]x[/link]"
SHOWN = "evil\\x1b[2J[link=file:///etc/passwd]x[/link]"   # what a reader sees


def terminal() -> Console:
    return Console(force_terminal=True, record=True, width=200, color_system="truecolor")


def assert_safe(output: str) -> None:
    assert "\x1b[2J" not in output and "\x1b]8;" not in output, repr(output)
    assert "Traceback" not in output


def test_controls_become_python_escapes_and_markup_is_escaped() -> None:
    assert plain("a\x1b[2Jb\x07\x9b\u202ec\nd") == "a\\x1b[2Jb\\x07\\x9b\\u202ec\\nd"
    assert plain("line 1\n\tline 2\x00", keep_newlines=True) == "line 1\n\tline 2\\x00"
    assert shown(EVIL) == "evil\\x1b[2J\\[link=file:///etc/passwd]x\\[/link]"


def test_a_model_name_with_an_escape_and_a_link_is_printed_as_text(wfdoctor) -> None:
    model = {"name": EVIL, "size": 1, "size_vram": 1, "expires_at": "2026-11-27T01:05:00Z", "loaded": True}
    with FakeLLMServer(FakeConfig(models=[model])) as server:
        result = wfdoctor("memory", "models", "--backend", server.base_url, timeout=60)
    assert result.code == 0, result.stderr
    assert_safe(result.stdout + result.stderr)
    assert "\x1b" not in result.stdout and SHOWN in result.stdout.replace("\n", "")


def test_the_json_document_keeps_the_raw_name(wfdoctor) -> None:
    model = {"name": EVIL, "size": 1, "size_vram": 1, "expires_at": "2026-11-27T01:05:00Z", "loaded": True}
    with FakeLLMServer(FakeConfig(models=[model])) as server:
        result = wfdoctor("memory", "models", "--backend", server.base_url, "--json", timeout=60)
    assert EVIL in strings(result.json())


def strings(value: object) -> list[str]:
    """Every string in a JSON document."""
    if isinstance(value, dict):
        return [s for v in value.values() for s in strings(v)]
    if isinstance(value, list):
        return [s for v in value for s in strings(v)]
    return [value] if isinstance(value, str) else []


def test_views_on_a_real_terminal_print_no_escape_and_no_hyperlink() -> None:
    rows = [stored(1, 10.0 + (i >= 10) * 5, float(i), metric=f"x{EVIL}_seconds", unit="s", revision=EVIL,
                   point=str(i)) for i in range(20)]
    verdicts = judge_histories(rows, lambda _: False, CheckSettings())
    console = terminal()
    report = regress_view.RegressReport(run=None, verdicts=verdicts, min_points=8, metrics=[])
    regress_view.render_check(report, console)
    regress_view.render_show(report, console)
    output = console.export_text(styles=True, clear=False)
    assert_safe(output)
    assert "[link=file:///etc/passwd]" in console.export_text()


def test_an_imported_series_name_with_markup_is_shown_literally(wfdoctor, tmp_path: Path) -> None:
    lines = ["timestamp,metric,value,revision"]
    lines += [f"{1_790_000_000 + 60 * i},[bold]x[/bold]_{i % 1}_seconds,{10 + (i >= 12) * 3},[link=x]r{i}[/link]"
              for i in range(24)]
    (tmp_path / "r.csv").write_text("\n".join(lines) + "\n")
    assert wfdoctor("regress", "record", str(tmp_path / "r.csv")).code == 0
    result = wfdoctor("regress", "check")
    assert result.code == 1, result.stderr
    assert "[bold]x[/bold]_0_seconds" in result.stdout and "[link=x]r12[/link]" in result.stdout


def test_a_file_name_with_an_escape_in_a_one_line_error_is_escaped(wfdoctor, tmp_path: Path) -> None:
    bad = tmp_path / "r\x1b[2J.csv"
    bad.write_text("timestamp,metric,value\n1,x_seconds,not-a-number\n")
    result = wfdoctor("regress", "record", str(bad))
    assert result.code == 2
    assert_safe(result.stderr)
    assert "r\\x1b[2J.csv" in result.stderr and len(result.stderr.strip().splitlines()) == 1


def test_a_process_named_with_control_characters_is_watched_and_named_as_text(wfdoctor) -> None:
    name = b"ev\x1b[2J[b]x"   # PR_SET_NAME: the kernel keeps 15 bytes
    code = ("import ctypes, time\n"
            f"ctypes.CDLL(None).prctl(15, ctypes.c_char_p({name!r}), 0, 0, 0)\n"
            "time.sleep(30)\n")
    child = subprocess.Popen([sys.executable, "-c", code])
    try:
        time.sleep(0.5)
        result = wfdoctor("memory", "watch", "--pid", str(child.pid), "--duration", "1", "--interval", "0.2",
                          timeout=60)
    finally:
        child.kill()
        child.wait()
    assert "Traceback" not in result.stderr
    assert_safe(result.stdout + result.stderr)
    assert "ev\\x1b[2J[b]x" in result.stdout
