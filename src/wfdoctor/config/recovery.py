"""The recovery ladder (`data/recovery.yaml` + user files) and the user's `recovery:` settings.

The ladder is data so a user can read, reorder or replace a step without touching code, and
so the thresholds at which a step applies are names of facts (`ram_ladder_percent.unload_models`),
never numbers here: the facts file stays the one place those numbers live.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator

from wfdoctor.config.durations import parse_duration
from wfdoctor.config.facts import Facts
from wfdoctor.config.yamlfile import Strict, read_yaml, validate
from wfdoctor.model import WfdoctorError

PACKAGED_LADDER = Path(__file__).resolve().parent.parent / "data" / "recovery.yaml"
LEVELS = ("L1", "L2", "L3", "L4")
# facts `common:` groups a step's `when` may name, and the resource each is compared with
RESOURCES = {"ram_ladder_percent": "ram", "vram_percent": "vram"}
DEFAULT_STABILITY_WINDOW_S = 60.0
SETTINGS_KEYS = {"settings_file", "auto_apply", "processes", "stability_window"}

Kind = Literal["clear_caches", "unload_models", "lower_setting", "signal_processes", "advice"]
SettingValue = str | int | float | bool


class RecoveryStep(Strict):
    """One rung of the ladder. Which fields matter depends on `kind` (checked on load)."""

    id: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    level: Literal["L1", "L2", "L3", "L4"]
    kind: Kind
    description: str
    reversible: bool
    when: list[str] = Field(default_factory=list)
    idle_only: bool = True                      # unload_models: keep each server's most recently used model
    setting: str | None = None                  # lower_setting: the key in WIRTHFORGE's settings file
    value: SettingValue | None = None           # lower_setting: the lowered value...
    value_fact: str | None = None               # ...or a dotted path into the facts
    command: list[str] = Field(default_factory=list)  # L2: the native command a person could type instead
    signal: Literal["SIGTERM", "SIGINT", "SIGKILL"] = "SIGTERM"  # signal_processes
    instructions: list[str] = Field(default_factory=list)       # advice

    @model_validator(mode="after")
    def _fields_fit_the_kind(self) -> RecoveryStep:
        if self.kind == "lower_setting" and (not self.setting or (self.value is None) == (self.value_fact is None)):
            raise ValueError("lower_setting needs `setting` and exactly one of `value` or `value_fact`")
        if self.kind == "advice" and not self.instructions:
            raise ValueError("advice needs `instructions`")
        if (self.kind == "advice") != (self.level in ("L3", "L4")):
            raise ValueError("L3 and L4 steps are advice (wfdoctor performs nothing at those levels), and only they")
        if self.level == "L1" and not self.reversible:
            raise ValueError("an L1 step runs on its own, so it must be reversible")
        for ref in self.when:
            group, _, key = ref.partition(".")
            if group not in RESOURCES or not key:
                raise ValueError(f"when '{ref}': expected {' or '.join(g + '.NAME' for g in RESOURCES)}")
        return self


class EscalationLevel(Strict):
    """A row of the spec's escalation matrix: who acts at this level, and what that means."""

    level: Literal["L1", "L2", "L3", "L4"]
    who: str
    means: str


class LadderFile(Strict):
    version: int
    levels: list[EscalationLevel] = Field(default_factory=list)
    steps: list[RecoveryStep]


@dataclass(frozen=True)
class Threshold:
    """A `when` entry resolved against the facts: `resource` in use at or above `percent`."""

    ref: str
    resource: str
    percent: float


@dataclass(frozen=True)
class RecoveryLadder:
    steps: tuple[RecoveryStep, ...]
    levels: tuple[EscalationLevel, ...] = ()   # L1 first

    def step(self, step_id: str) -> RecoveryStep:
        """The step called `step_id`; an unknown id is a usage error listing the known ones."""
        for step in self.steps:
            if step.id == step_id:
                return step
        raise WfdoctorError(f"unknown recovery step '{step_id}': one of {', '.join(s.id for s in self.steps)}")


def load_ladder(paths: Sequence[Path] = ()) -> RecoveryLadder:
    """The shipped ladder, then each user file in order (a step with the same id, or a level, replaces the
    shipped one)."""
    steps: dict[str, RecoveryStep] = {}
    levels: dict[str, EscalationLevel] = {}
    for path in (PACKAGED_LADDER, *paths):
        data, node = read_yaml(path)
        parsed = validate(path, data, node, LadderFile)
        steps.update((step.id, step) for step in parsed.steps)
        levels.update((level.level, level) for level in parsed.levels)
    return RecoveryLadder(steps=tuple(steps.values()), levels=tuple(levels[name] for name in LEVELS if name in levels))


def fact_at(facts: Facts, dotted: str) -> object:
    """The value at a dotted path in the facts (`targets.low.council_size`); a missing one is an error."""
    value: object = facts.model_dump()
    for part in dotted.split("."):
        if not isinstance(value, Mapping) or part not in value:
            raise WfdoctorError(f"{PACKAGED_LADDER.name}: '{dotted}' is not in the facts")
        value = value[part]
    return value


def thresholds_of(step: RecoveryStep, facts: Facts) -> list[Threshold]:
    """The step's `when` entries with their percentages from the facts' `common:` section."""
    out = []
    for ref in step.when:
        percent = fact_at(facts, f"common.{ref}")
        if isinstance(percent, bool) or not isinstance(percent, (int, float)):
            raise WfdoctorError(f"facts: common.{ref} is not a number (recovery step '{step.id}' needs one)")
        out.append(Threshold(ref=ref, resource=RESOURCES[ref.partition(".")[0]], percent=float(percent)))
    return out


def lowered_value(step: RecoveryStep, facts: Facts) -> SettingValue:
    """What a lower_setting step writes: its `value`, or the fact its `value_fact` names."""
    if step.value is not None:
        return step.value
    value = fact_at(facts, step.value_fact or "")
    if not isinstance(value, (str, int, float, bool)):
        raise WfdoctorError(f"facts: {step.value_fact} is not a single value (recovery step '{step.id}')")
    return value


@dataclass(frozen=True)
class RecoverySettings:
    """The user's `recovery:` section: where WIRTHFORGE's settings live, what runs on its own, what may be
    signalled (nothing else ever is), and how long a restored setting must hold before the next."""

    settings_file: Path | None = None
    auto_apply: tuple[str, ...] = ()
    processes: tuple[str, ...] = ()
    stability_window_s: float = DEFAULT_STABILITY_WINDOW_S


def _names(section: Mapping[str, object], key: str, where: str) -> tuple[str, ...]:
    value = section.get(key, [])
    if not isinstance(value, list) or not all(isinstance(item, str) and item for item in value):
        raise WfdoctorError(f"{where}: recovery.{key}: expected a list of names")
    return tuple(value)


def _duration(value: object, where: str) -> float:
    """Seconds, or a Prometheus duration (`30s`, `5m`, `1h`) as the rest of the monitor config."""
    try:
        seconds = parse_duration(value)
    except ValueError:
        seconds = 0.0
    if not math.isfinite(seconds) or seconds <= 0:
        raise WfdoctorError(f"{where}: recovery.stability_window: expected a duration above 0 (e.g. 60s, 5m), "
                            f"not {value!r}")
    return seconds


def parse_recovery_settings(section: object, where: str, ladder: RecoveryLadder | None = None) -> RecoverySettings:
    """The `recovery:` section of the monitor config (None: the defaults). `auto_apply` may name L1 steps only:
    anything above L1 is a person's decision."""
    if section is None:
        return RecoverySettings()
    if not isinstance(section, Mapping):
        raise WfdoctorError(f"{where}: recovery: expected a mapping")
    unknown = sorted(set(section) - SETTINGS_KEYS)
    if unknown:
        raise WfdoctorError(f"{where}: recovery.{unknown[0]}: unknown key (known: {', '.join(sorted(SETTINGS_KEYS))})")
    ladder = ladder or load_ladder()
    auto_apply = _names(section, "auto_apply", where)
    for step_id in auto_apply:
        try:
            level = ladder.step(step_id).level
        except WfdoctorError as exc:
            raise WfdoctorError(f"{where}: recovery.auto_apply: {exc}") from None
        if level != "L1":
            raise WfdoctorError(f"{where}: recovery.auto_apply: '{step_id}' is {level}; only L1 steps run on "
                                "their own")
    settings_file = section.get("settings_file")
    if settings_file is not None and (not isinstance(settings_file, str) or not settings_file):
        raise WfdoctorError(f"{where}: recovery.settings_file: expected a file path")
    window = section.get("stability_window", DEFAULT_STABILITY_WINDOW_S)
    return RecoverySettings(settings_file=Path(settings_file).expanduser() if settings_file else None,
                            auto_apply=auto_apply, processes=_names(section, "processes", where),
                            stability_window_s=_duration(window, where))
