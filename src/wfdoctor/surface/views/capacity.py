"""What `wfdoctor tokens --capacity` shows: the answer first, each level's verdict, the `wfdoctor.capacity/v1`
document."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel
from rich.console import Console
from rich.table import Table
from rich.text import Text

from wfdoctor.analyze.capacity import CapacityVerdict, LevelVerdict, Slo
from wfdoctor.analyze.tokens import LevelSummary
from wfdoctor.app.reports.capacity import CapacityReport
from wfdoctor.config.limits import CapacityLimits
from wfdoctor.model import Finding
from wfdoctor.surface.views.common import RunDocument, Variants, print_conclusion, run_fields, schema_field
from wfdoctor.surface.views.safe import plain

SCHEMA_ID = "wfdoctor.capacity/v1"


def _value(value: float | None, digits: int) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def levels_table(report: CapacityReport) -> Table:
    """One row per measured level, by concurrency; the order measured in the first column."""
    stats = report.limits
    table = Table(title="Levels measured (#: in this order; goodput: requests/s meeting both targets on their own)",
                  title_justify="left")
    for column in ("conc", "#", "ok", f"TTFT p{stats.ttft_percentile:g} s",
                   f"decode p{stats.decode_percentile:g} tok/s", "goodput req/s", "verdict"):
        table.add_column(column, justify="right")
    order = {verdict.concurrency: index for index, verdict in enumerate(report.verdicts, start=1)}
    for verdict in sorted(report.verdicts, key=lambda v: v.concurrency):
        outcome = Text("meets", style="green") if verdict.passed else Text(
            "limited by " + " and ".join(verdict.misses), style="red")
        table.add_row(str(verdict.concurrency), str(order[verdict.concurrency]),
                      f"{verdict.requests - verdict.failed}/{verdict.requests}", _value(verdict.ttft_s, 2),
                      _value(verdict.decode_tps, 1), _value(verdict.goodput_rps, 2), outcome)
    return table


def render(report: CapacityReport, console: Console, all_variants: bool = False) -> None:
    console.print(Text.assemble(("wfdoctor tokens --capacity", "bold"), plain(
        f"  run {report.run.id}: {report.implementation} at {report.backend_url}, model {report.model}, "
        f"tier {report.tier.tier}")))
    if report.interrupted:
        console.print(Text("Interrupted: the answer below covers the levels measured so far.", style="yellow"))
    console.print(Text(plain(f"Capacity: {report.answer.sentence}"), style="bold"))
    console.print(levels_table(report))
    print_conclusion(console, report.findings, report.rulebook, report.notes,
                     healthy="Nothing wrong within capacity." if report.answer.streams else
                     "No finding names why not even 1 stream meets the targets: `wfdoctor tokens` looks for the cause.",
                     variants=Variants(frozenset({report.implementation}), all_variants))


class CapacityBackendDoc(BaseModel):
    url: str
    implementation: str
    model: str
    embedded: bool


class CapacityDocument(RunDocument):
    schema_id: str = schema_field(SCHEMA_ID)
    interrupted: bool
    backend: CapacityBackendDoc
    settings: dict[str, Any]
    tier: str
    targets: Slo                    # the tier's TTFT (s) and decode (tokens/s) targets each level was held to
    statistics: CapacityLimits      # the percentiles held to them, the search's start and default ceiling
    ceiling: int                    # the highest concurrency the search could try
    answer: CapacityVerdict
    verdicts: list[LevelVerdict]    # in the order measured
    levels: list[LevelSummary]      # in the same order
    findings: list[Finding]
    notes: list[str]


def document(report: CapacityReport, exit_code: int) -> CapacityDocument:
    """The `tokens --capacity --json` document (docs/capacity.md)."""
    return CapacityDocument(
        **run_fields(report.run, exit_code), interrupted=report.interrupted,
        backend=CapacityBackendDoc(url=report.backend_url, implementation=report.implementation, model=report.model,
                                   embedded=report.embedded),
        settings=report.run.settings, tier=report.tier.tier, targets=report.slo, statistics=report.limits, ceiling=report.ceiling,
        answer=report.answer, verdicts=report.verdicts, levels=report.levels, findings=report.findings,
        notes=report.notes,
    )
