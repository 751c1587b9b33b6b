"""Token-run plots: per-request distributions, stored percentiles, the concurrency sweep and its knee."""

from __future__ import annotations

from typing import TYPE_CHECKING

from wfdoctor.app.reports.report import DistributionPlot, PercentilePlot, SweepPlot
from wfdoctor.surface.plots import INK, WORSE, axis_label, legend, new_figure

if TYPE_CHECKING:
    from matplotlib.figure import Figure

CONCURRENCY = "concurrency (parallel requests)"
MAX_DOTS = 200   # requests drawn as dots over a box (evenly spread): 10,000 dots made a 2 MB report of one picture


def distribution(plot: DistributionPlot) -> Figure:
    """A box plot per concurrency level, every request drawn as a dot over it."""
    figure, axes = new_figure(plot)
    labels = list(plot.groups)
    data = [plot.groups[label] for label in labels]
    axes.boxplot(data, showfliers=False)
    axes.set_xticks(range(1, len(labels) + 1), [
        f"{label}\n(n={len(values)}" + (f", {MAX_DOTS} drawn as dots)" if len(values) > MAX_DOTS else ")")
        for label, values in zip(labels, data)])
    for position, values in enumerate(data, start=1):
        shown = values if len(values) <= MAX_DOTS else \
            [values[round(i * (len(values) - 1) / (MAX_DOTS - 1))] for i in range(MAX_DOTS)]
        axes.plot([position] * len(shown), shown, "o", color=INK, alpha=0.35, markersize=3)
    axes.set_xlabel(CONCURRENCY)
    axes.set_ylabel(axis_label(plot.quantity, plot.unit))
    return figure


def percentiles(plot: PercentilePlot) -> Figure:
    """One line per percentile across concurrency levels."""
    figure, axes = new_figure(plot)
    groups = sorted(plot.percentiles, key=lambda g: int(g) if g.isdigit() else 0)
    stats = sorted({stat for values in plot.percentiles.values() for stat in values if stat.startswith("p")},
                   key=lambda s: float(s[1:]) if s[1:].isdigit() else 0.0)
    for stat in stats:
        points = [(g, plot.percentiles[g][stat]) for g in groups if stat in plot.percentiles[g]]
        axes.plot([g for g, _ in points], [v for _, v in points], "o-", label=f"{stat} (percentile)")
    axes.set_xlabel(CONCURRENCY)
    axes.set_ylabel(axis_label(plot.quantity, plot.unit))
    legend(axes)
    return figure


def sweep(plot: SweepPlot) -> Figure:
    """Throughput per concurrency level; the knee (where scaling stops) marked and explained."""
    figure, axes = new_figure(plot)
    axes.plot(plot.concurrency, plot.throughput, "o-", color=INK, label="output throughput")
    if plot.knee is not None:
        axes.axvline(plot.knee, color=WORSE, linestyle="--", label=f"knee at concurrency {plot.knee}")
    axes.set_xticks(plot.concurrency)
    axes.set_xlabel(f"{CONCURRENCY}\n{plot.knee_explanation}")
    axes.set_ylabel(axis_label("output throughput", plot.unit))
    axes.set_ylim(0, max(plot.throughput) * 1.1)  # from zero: a flat sweep must look flat
    legend(axes, "lower right")
    return figure
