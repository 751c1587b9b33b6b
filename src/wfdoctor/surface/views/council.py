"""What `wfdoctor council` shows: members, council metrics, sweep, findings; and `wfdoctor.council/v1`."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.table import Table
from rich.text import Text

from wfdoctor.analyze.council import CouncilMetrics, SizeVerdict
from wfdoctor.app.reports.council import CouncilReport
from wfdoctor.model import Finding
from wfdoctor.surface.views.common import RunDocument, Variants, print_conclusion, run_fields, schema_field
from wfdoctor.surface.views.safe import plain, shown

SCHEMA_ID = "wfdoctor.council/v1"


def _s(value: float | None, digits: int = 2) -> str:
    return f"{value:.{digits}f}" if value is not None else "-"


def members_table(metrics: CouncilMetrics) -> Table:
    table = Table(title=f"Council of {metrics.n}: members (seconds from the council's start)", title_justify="left")
    for column in ("member", "server", "status", "retries", "TTFT", "first token", "finish", "decode tok/s"):
        table.add_column(column)
    for m in metrics.members:
        style = "green" if m.status == "ok" else "red" if m.status == "failed" else "dim"
        status = plain(m.status + (f": {m.error}" if m.status == "failed" else ""))
        table.add_row(shown(m.name), shown(m.url), Text(status, style=style),
                      str(m.retries), _s(m.ttft_s), _s(m.first_token_s), _s(m.finish_s), _s(m.decode_tps, 1))
    return table


def summary_line(metrics: CouncilMetrics) -> str:
    return (f"wall {metrics.wall_s:.2f} s; sync delay {_s(metrics.sync_delay_s)} s; first-token spread "
            f"{_s(metrics.first_token_spread_s)} s; efficiency {_s(metrics.efficiency)}; speed-up vs one after "
            f"another {_s(metrics.speedup)}x ({_s(metrics.sequential_wall_s)} s); alpha {_s(metrics.alpha)} "
            f"(0 parallel, 1 one at a time); decode per member {_s(metrics.council_decode_tps, 1)} vs "
            f"{_s(metrics.solo_decode_tps, 1)} tokens/s alone")


def sweep_table(report: CouncilReport) -> Table:
    table = Table(title="Council size sweep", title_justify="left")
    for column in ("members", "wall s", "alpha", "efficiency", "worst TTFT s", "slowest decode tok/s"):
        table.add_column(column, justify="right")
    for m in report.sweep:
        ok = [x for x in m.members if x.status == "ok"]
        table.add_row(str(m.n), _s(m.wall_s), _s(m.alpha), _s(m.efficiency),
                      _s(max((x.ttft_s for x in ok if x.ttft_s is not None), default=None)),
                      _s(min((x.decode_tps for x in ok if x.decode_tps is not None), default=None), 1))
    return table


def early_line(report: CouncilReport) -> str:
    """What stopping at consensus saved, measured against waiting for every member."""
    early = report.early
    if early is None or report.saved_s is None:
        return ""
    if early.consensus_s is None:
        return f"Early consensus (quorum {report.quorum}): not reached: the council waited for every member"
    return (f"Early consensus (quorum {report.quorum}): {', '.join(early.consensus_members)} agreed at "
            f"{early.consensus_s:.2f} s, council done in {early.wall_s:.2f} s: saved {report.saved_s:.2f} s against "
            f"waiting for all ({report.council.wall_s:.2f} s)")


def render(report: CouncilReport, console: Console, all_variants: bool = False) -> None:
    console.print(Text.assemble(("wfdoctor council", "bold"), f"  run {report.run.id}, tier {report.tier.tier}"))
    console.print(members_table(report.council))
    console.print(summary_line(report.council))
    if line := early_line(report):
        console.print(line)
    if report.sweep:
        console.print(sweep_table(report))
    if report.size is not None:
        console.print(f"Recommended council size for tier {report.tier.tier}: {report.size.recommended} "
                      f"({report.size.explanation})")
    if report.answer_from:
        console.print(Text(plain(f"Combined answer (majority of {', '.join(report.answer_from)}): "
                                 f"{report.answer[:200]!r}"), style="dim"))
    print_conclusion(console, report.findings, report.rulebook, report.notes, healthy="The council runs well.",
                     variants=Variants(frozenset(report.implementation_of.values()), all_variants))


class CouncilDocument(RunDocument):
    schema_id: str = schema_field(SCHEMA_ID)
    settings: dict[str, Any]
    tier: str
    implementations: dict[str, str]     # implementation by server URL
    council: CouncilMetrics
    early_consensus: CouncilMetrics | None
    saved_s: float | None
    sweep: list[CouncilMetrics]
    recommended_size: SizeVerdict | None
    answer: str
    answer_from: list[str]
    findings: list[Finding]
    notes: list[str]


def document(report: CouncilReport, exit_code: int) -> CouncilDocument:
    return CouncilDocument(
        **run_fields(report.run, exit_code),
        settings=report.run.settings, tier=report.tier.tier, implementations=report.implementation_of,
        council=report.council, early_consensus=report.early, saved_s=report.saved_s, sweep=report.sweep,
        recommended_size=report.size, answer=report.answer, answer_from=report.answer_from,
        findings=report.findings, notes=report.notes,
    )
