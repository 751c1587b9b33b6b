"""Plots over time or over a history: metric series with alert and action markers, memory growth with its
fitted slope and plateau break, a history with change points, a council's timeline."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import TYPE_CHECKING

from wfdoctor.app.reports.report import ChangePlot, GrowthPlot, TimelinePlot, TimeSeriesPlot
from wfdoctor.surface.plots import BETTER, INK, NEUTRAL, WORSE, axis_label, legend, new_figure

if TYPE_CHECKING:
    from matplotlib.figure import Figure

MARKER_COLOURS = {"alert firing": WORSE, "alert pending": "#e67e22", "alert resolved": BETTER, "action": "#2980b9"}
WORSE_KINDS = ("regression", "drift", "noise increased")
MB = 1e6   # the leak verdict speaks in MB (10^6 bytes): the axis does too


def _utc(ts: float) -> str:
    return datetime.fromtimestamp(ts, timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")


def time_series(plot: TimeSeriesPlot) -> Figure:
    """Each label set a line, over seconds since the first point; alerts and actions as vertical lines."""
    figure, axes = new_figure(plot)
    start = min(min(line.times) for line in plot.lines)
    for line in plot.lines:
        axes.plot([t - start for t in line.times], line.values, label=line.name, linewidth=1.2)
    for marker in plot.markers:
        colour = MARKER_COLOURS.get(marker.kind, NEUTRAL)
        axes.axvline(marker.ts - start, color=colour, linestyle="--", linewidth=1,
                     label=marker.kind)
        axes.text(marker.ts - start, 1.0, f" {marker.label}", transform=axes.get_xaxis_transform(), rotation=90,
                  va="top", ha="right", fontsize=6, color=colour)
    axes.set_xlabel(f"time since {_utc(start)} (s)")
    axes.set_ylabel(axis_label(plot.quantity, plot.unit))
    if len(plot.lines) > 1 or plot.markers:
        legend(axes)
    return figure


def growth(plot: GrowthPlot) -> Figure:
    """Memory in MB over the watch; the Theil-Sen slope over the analysed part; the plateau break."""
    figure, axes = new_figure(plot)
    values = [v / MB for v in plot.values]
    axes.plot(plot.times_s, values, color=INK, linewidth=1.2, label="resident memory")
    if plot.slope_per_s is not None:
        analysed = [(t, v) for t, v in zip(plot.times_s, values) if t >= plot.fit_from_s]
        middle_t = analysed[len(analysed) // 2][0]
        middle_v = sorted(v for _, v in analysed)[len(analysed) // 2]
        ends = [analysed[0][0], analysed[-1][0]]
        slope = plot.slope_per_s / MB
        axes.plot(ends, [middle_v + slope * (t - middle_t) for t in ends], color=WORSE, linestyle="--",
                  label=f"fitted slope {slope * 60:.3g} MB/min")
    if plot.plateau_from_s is not None:
        axes.axvline(plot.plateau_from_s, color=BETTER, linestyle=":",
                     label=f"plateau from {plot.plateau_from_s:.0f} s")
    axes.set_xlabel(f"time since the first reading (s)\n{plot.verdict}")
    axes.set_ylabel(axis_label("resident memory", "MB"))
    legend(axes, "lower right")
    return figure


def changes(plot: ChangePlot) -> Figure:
    """The history point by point; each change point a vertical line labelled with its kind and size."""
    figure, axes = new_figure(plot)
    axes.plot(range(len(plot.values)), plot.values, "o-", color=INK, markersize=3, linewidth=1.2)
    for change in plot.changes:
        colour = WORSE if change.kind in WORSE_KINDS else BETTER
        axes.axvline(change.index - 0.5, color=colour, linestyle="--",
                     label=f"{change.kind} {change.change_pct:+.1f} % at point {change.index}"
                           + (f" ({plot.revisions[change.index]})" if plot.revisions[change.index:change.index + 1]
                              and plot.revisions[change.index] else ""))
    axes.set_xlabel("point (one per run or imported result, oldest first)")
    axes.set_ylabel(axis_label(plot.quantity, plot.unit))
    legend(axes)
    return figure


def timeline(plot: TimelinePlot) -> Figure:
    """One bar per member from the council's start to its finish; its first token a mark on the bar."""
    figure, axes = new_figure(plot)
    for row, member in enumerate(plot.members):
        if member.finish_s is not None:
            axes.barh(row, member.finish_s, color="#95a5a6", height=0.5, label="start to finish")
        else:
            axes.text(0, row, "  did not finish", va="center", color=WORSE, fontsize=8)
        if member.first_token_s is not None:
            axes.plot([member.first_token_s], [row], "D", color=INK, label="first token")
    axes.set_yticks(range(len(plot.members)), [m.name for m in plot.members])
    axes.set_ylabel("member")
    axes.set_xlabel("time since the council started (s)")
    axes.set_xlim(left=0)
    legend(axes, "lower right")
    return figure
