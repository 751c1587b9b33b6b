"""The public Python API: what docs/api.md promises, and its example, run as written."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import wfdoctor

DOC = Path(__file__).resolve().parent.parent / "docs" / "api.md"


def test_the_documented_example_runs_as_written(tmp_path: Path) -> None:
    [example] = re.findall(r"```python\n(.*?)```", DOC.read_text(), re.S)
    script = tmp_path / "example.py"
    script.write_text(example)
    result = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "concurrency 1: 4/4 ok" in result.stdout and "concurrency 2: 4/4 ok" in result.stdout
    assert re.search(r"recorded as run \d+ \(tokens\)", result.stdout)


def test_every_documented_function_is_exported() -> None:
    documented = set(re.findall(r"^\| `(\w+)\(", DOC.read_text(), re.M))
    assert documented == {"diagnose", "measure_tokens", "measure_capacity", "run_council", "watch_memory", "profile_memory",
                          "model_action", "check_regressions", "show_series", "record_results", "history",
                          "list_alerts", "silence_alerts", "unsilence", "compare_runs", "troubleshoot",
                          "validate_incident", "list_incidents", "show_incident", "search_incidents",
                          "export_incidents", "import_incidents", "build_report", "troubleshooting_guide"}
    assert all(callable(getattr(wfdoctor, name)) for name in documented)
    assert set(wfdoctor.__all__) >= documented


def test_importing_wfdoctor_loads_nothing_but_the_version() -> None:
    code = ("import sys; before = set(sys.modules); import wfdoctor; "
            "print(sorted(set(sys.modules) - before))")  # not even typing: start-up is the CLI's first cost
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert loaded.strip() == "['wfdoctor', 'wfdoctor._version']"


def test_the_public_names_are_exactly_what_loads_lazily() -> None:
    assert sorted(wfdoctor.__all__) == sorted(["__version__", *wfdoctor._WHERE])
    assert all(getattr(wfdoctor, name) is not None for name in wfdoctor.__all__)


def test_an_unknown_name_is_an_attribute_error() -> None:
    try:
        wfdoctor.no_such_function  # noqa: B018
    except AttributeError as exc:
        assert "no_such_function" in str(exc)
    else:
        raise AssertionError("expected AttributeError")


def test_the_cli_reaches_pipelines_only_through_the_api() -> None:
    cli = Path(wfdoctor.__file__).parent / "surface"
    imports = {line.strip() for path in cli.glob("cli*.py") for line in path.read_text().splitlines()
               if line.strip().startswith(("from wfdoctor.app", "import wfdoctor.app"))}
    assert not imports, imports
