"""Which loaded models to evict to fit a memory budget (pure)."""

from __future__ import annotations

from dataclasses import dataclass

from wfdoctor.sense.backends.base import ModelInfo


@dataclass(frozen=True)
class EvictionPlan:
    unload: list[str]
    kept_bytes: int
    budget_bytes: int
    explanation: str


def lru_plan(loaded: list[ModelInfo], budget_bytes: int) -> EvictionPlan:
    """Unload least recently used models until the rest fit the budget.

    Ollama's `expires_at` is last use + keep-alive, so with equal keep-alives the
    earliest expiry is the least recently used; models without one go first.
    """
    ordered = sorted(loaded, key=lambda m: m.expires_at or "")
    total = sum(m.size_bytes or 0 for m in loaded)
    unload: list[str] = []
    for model in ordered:
        if total <= budget_bytes:
            break
        unload.append(model.name)
        total -= model.size_bytes or 0
    fits = "fits" if total <= budget_bytes else "still over budget after unloading everything"
    return EvictionPlan(unload, total, budget_bytes,
                        f"{len(loaded)} loaded, {total / 1e9:.2f} GB kept of a {budget_bytes / 1e9:.2f} GB budget "
                        f"({fits})")
