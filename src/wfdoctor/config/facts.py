"""The WIRTHFORGE reference values (tiers, targets, thresholds, decision limits) as a typed model.

The numbers themselves live in `wfdoctor/data/facts.yaml`; a user file is merged
over it key by key, so a user can change one threshold without copying the rest.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import yaml
from pydantic import Field, ValidationError, field_validator, model_validator

from wfdoctor.config.limits import Count, Limits, Positive, Share, TierOverride
from wfdoctor.config.yamlfile import Strict, describe_validation_error, line_of, read_yaml
from wfdoctor.model import WfdoctorError

PACKAGED_FACTS = Path(__file__).resolve().parent.parent / "data" / "facts.yaml"
COMMON_MAY_BE_ZERO = {"council_retries"}
NonNegative = Annotated[float, Field(ge=0)]
Percent = Annotated[float, Field(ge=0, le=100)]


class TierLimits(Strict):
    physical_cores: Count
    ram_gib: Positive
    vram_gib: NonNegative   # a tier may ask for no GPU


class TierRule(Strict):
    name: str
    reported_memory_factor: Share  # reported / installed memory: the OS never reports more than is there
    order: list[str] = Field(min_length=1)
    limits: dict[str, TierLimits]

    @field_validator("order")
    @classmethod
    def _order_names_each_tier_once(cls, order: list[str]) -> list[str]:
        if len(set(order)) != len(order):
            raise ValueError("each tier may appear once")
        return order

    @field_validator("limits")
    @classmethod
    def _limits_name_tiers(cls, limits: dict[str, TierLimits]) -> dict[str, TierLimits]:
        if not limits:
            raise ValueError("at least one tier above the lowest needs limits")
        return limits


class Level(Strict):
    warning: NonNegative
    critical: NonNegative

    @model_validator(mode="after")
    def _critical_not_below_warning(self) -> Level:
        if self.critical < self.warning:
            raise ValueError("critical must not be below warning")
        return self


class Targets(Strict):
    decode_tokens_per_second: Positive
    ttft_seconds: Positive
    ttft_alert_seconds: Positive
    p95_latency_seconds: Positive
    fps: Positive
    late_frame_percent: Percent | None
    council_size: Count
    council_size_max: Count
    ram_use_cap_percent: Percent
    max_model: str
    max_context_tokens: Count


class Thresholds(Strict):
    cpu_percent: Level
    memory_percent: Level
    gpu_utilization_percent: Level
    min_tokens_per_second: Positive
    max_ttft_ms: Positive
    queue_depth: Level


class Facts(Strict):
    version: int
    source: str
    tier_rule: TierRule
    targets: dict[str, Targets]
    thresholds: dict[str, Thresholds]
    common: dict[str, Any]
    limits: Limits
    tier_limits: dict[str, TierOverride] = Field(default_factory=dict)

    @field_validator("common")
    @classmethod
    def _common_numbers_in_range(cls, common: dict[str, Any]) -> dict[str, Any]:
        """Tier-independent values are free-form, but each number in them is a finite count, duration,
        rate or share: positive, except COMMON_MAY_BE_ZERO."""
        for key, value in common.items():
            numbers = value.items() if isinstance(value, dict) else [("", value)]
            for part, number in numbers:
                name = f"{key}.{part}" if part else key
                if isinstance(number, bool) or not isinstance(number, (int, float)):
                    continue
                if not math.isfinite(number) or number < 0 or (number == 0 and key not in COMMON_MAY_BE_ZERO):
                    raise ValueError(f"'{name}' must be a finite number above 0, not {number}")
        return common

    def limits_for(self, tier: str) -> Limits:
        """`limits` with the tier's `tier_limits` merged over them (validated when the facts load)."""
        override = self.tier_limits.get(tier)
        if override is None:
            return self.limits
        return Limits.model_validate(deep_merge(self.limits.model_dump(), override.model_dump()))

    def check_tiers(self) -> str | None:
        """The first tier named in `order` that lacks targets or thresholds."""
        for tier in self.tier_rule.order[1:]:
            if tier not in self.tier_rule.limits:
                return f"tier_rule.limits.{tier}"
        for tier in self.tier_rule.order:
            if tier not in self.targets:
                return f"targets.{tier}"
            if tier not in self.thresholds:
                return f"thresholds.{tier}"
        return None


def deep_merge(base: Any, override: Any) -> Any:
    """`override` over `base`, recursing into mappings; other values replace."""
    if isinstance(base, dict) and isinstance(override, dict):
        merged = dict(base)
        for key, value in override.items():
            merged[key] = deep_merge(base.get(key), value) if key in base else value
        return merged
    return override


def _has_path(data: Any, loc: tuple[Any, ...]) -> bool:
    for key in loc:
        if isinstance(data, dict) and key in data:
            data = data[key]
        else:
            return False
    return True


def load_facts(override: Path | None = None) -> Facts:
    """The packaged facts, with `override` (if any) merged over them."""
    data, node = read_yaml(PACKAGED_FACTS)
    user_data, user_node = (None, None)
    if override is not None:
        user_data, user_node = read_yaml(override)
        if user_data is not None and not isinstance(user_data, dict):
            raise WfdoctorError(f"{override}:1: a facts file must be a mapping of keys to values")
        data = deep_merge(data, user_data or {})

    def source(loc: tuple[Any, ...]) -> tuple[Path, yaml.Node | None]:
        """The file (and its node tree) that wrote the value at `loc`: the user's, if it did."""
        if override is not None and _has_path(user_data, loc):
            return override, user_node
        return PACKAGED_FACTS, node

    try:
        facts = Facts.model_validate(data)
    except ValidationError as exc:
        path, tree = source(tuple(exc.errors()[0]["loc"]))
        raise WfdoctorError(describe_validation_error(path, tree, exc)) from None
    missing = facts.check_tiers()
    if missing:
        raise WfdoctorError(f"{override or PACKAGED_FACTS}: field '{missing}': tier listed in tier_rule.order has no values")
    _check_tier_limits(facts, source)
    return facts


def _check_tier_limits(facts: Facts, source: Callable[[tuple[Any, ...]], tuple[Path, yaml.Node | None]]) -> None:
    """Each `tier_limits` entry names a tier and, merged over `limits`, passes the same range checks."""
    for tier in facts.tier_limits:
        prefix: tuple[Any, ...] = ("tier_limits", tier)
        if tier not in facts.tier_rule.order:
            path, tree = source(prefix)
            line = line_of(tree, prefix)
            raise WfdoctorError(f"{path}:{line}: field 'tier_limits.{tier}': not a tier "
                                f"(tier_rule.order: {', '.join(facts.tier_rule.order)})")
        try:
            facts.limits_for(tier)
        except ValidationError as exc:
            path, tree = source(prefix + tuple(exc.errors()[0]["loc"]))
            raise WfdoctorError(describe_validation_error(path, tree, exc, prefix)) from None
