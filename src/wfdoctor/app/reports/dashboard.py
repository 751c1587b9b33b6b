"""What the monitor's dashboard and `GET /api/settings` read: chart series, run lines, UI settings."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class ChartSeries:
    """One line of one chart: `chart` groups lines ("cpu", "memory", "gpu", "tokens", "ttft", "frames"),
    `name` tells the line apart within it ("core 0", a page), `unit` is the registry's."""

    chart: str
    name: str
    unit: str
    points: list[tuple[float, float]] = field(default_factory=list)   # (ts, value), oldest first
    until: float = 0.0   # the arrival stamp of the last point: a client asks `chart_series(until)` next


@dataclass(frozen=True)
class RunLine:
    """One stored run as the dashboard lists it."""

    id: int
    command: str
    started_at: float
    status: str
    tier: str
    findings: int


@dataclass(frozen=True)
class UiSettings:
    """What a page should render at: `quality` in [floor, 1.0] from the facts' adaptive-quality rule,
    lowered by recovery's `lower_ui_quality`; `reason` says what set it last."""

    quality: float
    reason: str
    frame_budget_s: float
    updated_at: float
