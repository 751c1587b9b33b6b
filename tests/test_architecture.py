"""The layer contract of design.md holds, and it bites: an upward import breaks the build."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SOURCES = ROOT / "src" / "wfdoctor"
MAX_LINES = 400


def lint_imports(source_root: Path, config_dir: Path) -> subprocess.CompletedProcess[str]:
    """Run import-linter with the project's contracts over the package found in `source_root`."""
    return subprocess.run([sys.executable, "-c", "from importlinter.cli import lint_imports_command; "
                           "lint_imports_command()", "--no-cache", str(config_dir / "pyproject.toml")],
                          capture_output=True, text=True, cwd=config_dir, timeout=120,
                          env={"PYTHONPATH": str(source_root), "PATH": "/usr/bin:/bin"})


def test_every_import_follows_the_layers_and_the_contracts() -> None:
    result = lint_imports(ROOT / "src", ROOT)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    assert "0 broken" in result.stdout


def test_an_upward_import_is_caught(tmp_path: Path) -> None:
    copy = tmp_path / "src" / "wfdoctor"
    shutil.copytree(SOURCES, copy, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    tiers = copy / "analyze" / "tiers.py"
    tiers.write_text(tiers.read_text() + "\nfrom wfdoctor.surface.views import common  # analysis must not present\n")
    result = lint_imports(tmp_path / "src", tmp_path)
    assert result.returncode != 0
    assert "wfdoctor.analyze.tiers -> wfdoctor.surface.views.common" in result.stdout


def test_no_module_is_over_400_lines() -> None:
    long = {str(path.relative_to(SOURCES)): count for path in SOURCES.rglob("*.py")
            if (count := len(path.read_text(encoding="utf-8").splitlines())) > MAX_LINES}
    assert not long, f"split these modules: {long}"
