"""Plots of a report's data as self-contained SVG: matplotlib, drawn off-screen, text as paths.

Why matplotlib: axes, ticks, units and legends a reader trusts, for less code than we would write by
hand (the hand-drawn `regress show --plot` had no axes at all). It is imported here, when a plot is
drawn, never at start-up: `wfdoctor --help` and every other command do not pay for it. Only
`matplotlib.figure.Figure` is used (no pyplot, so no global state, no GUI backend, thread-safe figures),
and SVG text is written as paths (`svg.fonttype: path`), so an SVG needs no font and a report that
embeds it makes no network request.

Every plot says what it shows and where its numbers came from (title and a source line), and every
axis names its quantity and unit. A plot with no data is drawn as a figure saying "no data" and why.
"""

from __future__ import annotations

import io
from typing import TYPE_CHECKING

from wfdoctor.app.reports.report import (ChangePlot, DistributionPlot, GrowthPlot, PercentilePlot, Plot, SweepPlot,
                                         TimelinePlot, TimeSeriesPlot)

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

SIZE_IN = (8.0, 3.6)
# text.parse_math off: a model or process name with two "$" in it is a name, not a formula to typeset.
STYLE = {"svg.fonttype": "path", "svg.hashsalt": "wfdoctor", "text.parse_math": False, "font.size": 9.0,
         "axes.titlesize": 10.0,
         "axes.grid": True, "grid.alpha": 0.3}
WORSE, BETTER, NEUTRAL, INK = "#c0392b", "#27ae60", "#7f8c8d", "#2c3e50"


def new_figure(plot: Plot) -> tuple[Figure, Axes]:
    """A figure with the plot's title and its source line under the axes."""
    from matplotlib.figure import Figure

    figure = Figure(figsize=SIZE_IN, layout="constrained")
    axes = figure.add_subplot()
    axes.set_title(plot.title, loc="left")
    # supxlabel, not figure.text: the constrained layout makes room for it under the axis labels
    figure.supxlabel(f"source: {plot.source}", x=0.01, ha="left", fontsize=7, color=NEUTRAL)
    return figure, axes


def axis_label(quantity: str, unit: str) -> str:
    """`time to first token (s)`; a unit-less count keeps its quantity alone."""
    return f"{quantity} ({unit})" if unit else quantity


def legend(axes: Axes, location: str = "best") -> None:
    """A legend with each label once (a marker kind drawn ten times is one entry); none when nothing is labelled."""
    handles, labels = axes.get_legend_handles_labels()
    unique = dict(zip(labels, handles))
    if unique:
        axes.legend(list(unique.values()), list(unique), fontsize=7, loc=location)


def no_data(plot: Plot) -> Figure:
    """The figure of a plot without data: the title, and in the middle, "no data" and why."""
    figure, axes = new_figure(plot)
    axes.set_axis_off()
    axes.text(0.5, 0.5, f"no data: {plot.empty_reason or 'nothing was stored'}", ha="center", va="center",
              fontsize=11, color=WORSE, transform=axes.transAxes, wrap=True)
    return figure


def figure_of(plot: Plot) -> Figure:
    """The matplotlib figure of one plot (no data: the "no data" figure)."""
    from wfdoctor.surface import plots_series, plots_tokens

    if plot.empty_reason:
        return no_data(plot)
    match plot:
        case TimeSeriesPlot():
            return plots_series.time_series(plot)
        case GrowthPlot():
            return plots_series.growth(plot)
        case ChangePlot():
            return plots_series.changes(plot)
        case TimelinePlot():
            return plots_series.timeline(plot)
        case DistributionPlot():
            return plots_tokens.distribution(plot)
        case PercentilePlot():
            return plots_tokens.percentiles(plot)
        case SweepPlot():
            return plots_tokens.sweep(plot)
    raise TypeError(f"no renderer for {type(plot).__name__}")


def svg(plot: Plot) -> str:
    """The plot as one standalone SVG document (no fonts, no links: text as paths)."""
    import matplotlib

    with matplotlib.rc_context(STYLE):
        figure = figure_of(plot)
        buffer = io.StringIO()
        figure.savefig(buffer, format="svg", metadata={"Date": None})
    return buffer.getvalue()
