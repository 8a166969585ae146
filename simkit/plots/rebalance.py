"""Lesson 15's figure: which consumer handled each partition over time, read from a
:func:`simkit.scenarios.rebalance` run."""

from __future__ import annotations

from matplotlib.axes import Axes
from matplotlib.lines import Line2D

from ..results import RunResult
from ._base import GREY, axes_or_new, color_for

__all__ = ["partition_owners"]

_MARKS = (("crash", ":", "consumer crashed"), ("restart", "--", "crashed consumer restarted"))


def partition_owners(result: RunResult, ax: Axes | None = None, title: str | None = None) -> Axes:
    """One dot per record handled (``side_effect``), one row per partition, coloured by the consumer
    that handled it; a gap in a row is a pause. Crashes and restarts are vertical lines, named in the
    legend, which sits outside the axes so that it covers no partition."""
    ax = axes_or_new(ax, (12, 3.5))
    t = result.trace
    handled = t[t.event == "side_effect"]
    for name, rows in handled.groupby("component"):
        ax.scatter(rows.time, rows.partition, s=4, color=color_for(name), label=name, rasterized=True)
    for event, style, label in _MARKS:
        for when in t[t.event == event].time:
            ax.axvline(when, color=GREY, linestyle=style)
    handles, labels = ax.get_legend_handles_labels()
    for event, style, label in _MARKS:
        if (t.event == event).any():
            handles.append(Line2D([], [], color=GREY, linestyle=style))
            labels.append(label)
    ax.legend(handles, labels, loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize="small", markerscale=3)
    if len(handled):
        parts = sorted(int(p) for p in handled.partition.unique())
        ax.set_yticks(parts)
    ax.set_ylabel("partition")
    ax.set_xlabel("time (ms)")
    if title is not None:
        ax.set_title(title)
    return ax
