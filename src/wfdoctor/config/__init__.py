"""Data files: the facts (tiers, targets, thresholds) and the rule book."""

from __future__ import annotations

import os
from pathlib import Path


def user_config_dir() -> Path:
    """$XDG_CONFIG_HOME/wfdoctor (~/.config/wfdoctor): user facts.yaml and rules/."""
    return Path(os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config") / "wfdoctor"
