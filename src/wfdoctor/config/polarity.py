"""Metric polarity (is higher better?), as data: `data/polarity.yaml`."""

from __future__ import annotations

import re
from pathlib import Path

from pydantic import BaseModel, ConfigDict

from wfdoctor.config.yamlfile import load_model

PACKAGED_POLARITY = Path(__file__).resolve().parent.parent / "data" / "polarity.yaml"


class PolarityRule(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    pattern: str
    higher_is_better: bool


class Polarity(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    version: int
    rules: list[PolarityRule]

    def higher_is_better(self, metric: str) -> bool | None:
        """The metric's polarity, or None when no rule names it."""
        return next((rule.higher_is_better for rule in self.rules if re.search(rule.pattern, metric)), None)


def load_polarity(path: Path | None = None) -> Polarity:
    return load_model(path or PACKAGED_POLARITY, Polarity)
