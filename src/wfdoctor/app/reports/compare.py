"""`compare RUN_A RUN_B`: two stored runs of the same kind, metric by metric, with a statistical verdict each."""

from __future__ import annotations

from dataclasses import dataclass

from wfdoctor.config.limits import CompareLimits
from wfdoctor.model import MetricComparison, Verdict

# The order a reader needs them in: what got worse first, then what got better, then the rest.
VERDICT_ORDER = (Verdict.WORSE, Verdict.IMPROVED, Verdict.UNCHANGED, Verdict.INCONCLUSIVE)


@dataclass(frozen=True)
class ComparedRun:
    """One side of the comparison as it was stored."""

    id: int
    command: str
    status: str                      # finished, interrupted, failed, abandoned, running
    started_at: float
    finished_at: float | None
    samples: int                     # readable samples stored for it
    backend: str | None              # what it measured, as recorded (None: not recorded; untrusted text)
    model: str | None
    hostname: str | None
    wfdoctor: str | None             # the wfdoctor version that measured it

    @property
    def partial(self) -> bool:
        """Whether the run did not finish: its samples are what it measured before it stopped."""
        return self.status != "finished"


@dataclass(frozen=True)
class Difference:
    """A setting or a fact of the machine that differs between the runs (None: that run did not record it)."""

    section: str                     # "settings" or "environment"
    key: str
    before: str | None
    after: str | None


@dataclass(frozen=True)
class SummaryValue:
    """One number per run: a summary statistic (a `stat` label: p50, p95, mean...) or a series each run measured
    once (a level's throughput, its failed requests). Shown side by side, never tested: a test needs several
    measurements a run (the per-request series a summary summarises are tested)."""

    metric: str
    labels: dict[str, str]
    unit: str
    before: float
    after: float
    change: float | None             # relative, after against before (as MetricComparison.change)


@dataclass(frozen=True)
class OneSided:
    """A series only one of the runs measured (a process that came and went): nothing to compare it with."""

    metric: str
    labels: dict[str, str]
    unit: str
    run_id: int                      # the run that measured it
    count: int


@dataclass(frozen=True)
class CompareReport:
    """Run `before` against run `after`.

    `warnings` come first in every view: a run that did not finish, another machine, model or server.
    `comparisons` (series with a better direction) are in VERDICT_ORDER, then by metric and labels; `context`
    holds the series without one (CPU share, load): tested, shown, never judged nor counted. `notes` are the
    rest worth knowing.
    """

    before: ComparedRun
    after: ComparedRun
    limits: CompareLimits
    warnings: list[str]
    notes: list[str]
    differences: list[Difference]
    comparisons: list[MetricComparison]
    context: list[MetricComparison]
    summaries: list[SummaryValue]
    one_sided: list[OneSided]

    def count(self, verdict: Verdict) -> int:
        return sum(1 for c in self.comparisons if c.verdict is verdict)

    @property
    def overall(self) -> str:
        """"2 metrics worse, 1 improved, 5 unchanged, 3 inconclusive" (every verdict named, zeros too)."""
        worse = self.count(Verdict.WORSE)
        rest = ", ".join(f"{self.count(v)} {v.value}" for v in VERDICT_ORDER[1:])
        return f"{worse} metric{'' if worse == 1 else 's'} worse, {rest}"

    @property
    def any_worse(self) -> bool:
        return self.count(Verdict.WORSE) > 0
