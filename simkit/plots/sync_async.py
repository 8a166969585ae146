"""Figures of the sync-or-async lessons: reading your own writes, answers through a broker, outages.

Each takes results (a mapping design -> :class:`~simkit.RunResult`, or the DataFrame of
:func:`simkit.compare` / :func:`simkit.sweep`) and an optional ``ax``, returns it, and
titles the figure with its finding unless given a ``title``.
"""

from __future__ import annotations

from typing import Mapping, Sequence

import matplotlib.pyplot as plt
from matplotlib.axes import Axes

from ..errors import ConfigError
from ..results import RunResult
from ._base import (
    axes_or_new,
    color_for,
    shade_windows,
)

__all__ = ["backlog_over_time", "failures_over_time", "outage_timeline"]

def _outage_window(results: Mapping[str, RunResult]) -> list[tuple[float, float]]:
    r = next(iter(results.values()))
    return [(float(r.report["outage_start"]), float(r.report["outage_end"]))]


def failures_over_time(results: Mapping[str, RunResult], ax: Axes | None = None, title: str | None = None) -> Axes:
    """Failed requests (solid) and lost events (dotted) so far, per design, broker outage shaded.

    ``results`` maps design -> :func:`~simkit.scenarios.outage` run; a design that lost
    nothing draws no dotted line.
    """
    ax = axes_or_new(ax, (9, 3.5))
    for design, r in results.items():
        f = r.series["failed"]
        ax.step(f["time"] / 1000, f["failed"], where="post", color=color_for(design),
                label=f"{design}: failed requests")
        lost = r.series.get("lost")
        if lost is not None and len(lost) and lost["lost"].max() > 0:
            ax.step(lost["time"] / 1000, lost["lost"], where="post", color=color_for(design), linestyle=":",
                    linewidth=2, label=f"{design}: lost events")
    shade_windows(ax, _outage_window(results), label="broker down", scale=1000.0)
    ax.set_xlabel("time (s)")
    ax.set_ylabel("so far (orders)")
    ax.legend(fontsize="small", loc="upper left", bbox_to_anchor=(1.01, 1.0))
    if title is None:
        title = "requests answered with an error: " + ", ".join(
            f"{d} {int(r.report['failed_requests'])}" for d, r in results.items())
    ax.set_title(title)
    return ax


def backlog_over_time(results: Mapping[str, RunResult], ax: Axes | None = None, title: str | None = None) -> Axes:
    """Outbox rows waiting to be published, per design with an outbox (others never wait), outage shaded."""
    ax = axes_or_new(ax, (9, 3.5))
    for design, r in results.items():
        b = r.series["backlog"]
        if r.params.get("design") != "sync_core_outbox" and not b["backlog"].any():
            continue  # no outbox: a flat zero line would only hide the others
        ax.step(b["time"] / 1000, b["backlog"], where="post", color=color_for(design), label=str(design))
    shade_windows(ax, _outage_window(results), label="broker down", scale=1000.0)
    ax.set_xlabel("time (s)")
    ax.set_ylabel("outbox rows waiting")
    ax.set_ylim(bottom=0)
    ax.legend(fontsize="small", loc="upper left", bbox_to_anchor=(1.01, 1.0))
    if title is None:
        parts = [f"{d} peaks at {int(r.report['max_backlog'])} rows, drained "
                 f"{r.report['drain_ms'] / 1000:.2g} s after the broker returned"
                 for d, r in results.items() if r.report["max_backlog"] > 0]
        title = "; ".join(parts) if parts else "no outbox: nothing waits"
    ax.set_title(title)
    return ax


def outage_timeline(results: Mapping[str, RunResult], axes: Sequence[Axes] | None = None) -> tuple[Axes, Axes]:
    """Failed requests (top) and outbox backlog (bottom) over time, per design, broker outage shaded.

    ``results`` maps design -> :func:`~simkit.scenarios.outage` run (one seed, one
    window). Returns the two axes; the top title counts failures and losses.
    """
    fig = None
    if axes is None:
        fig, made = plt.subplots(2, 1, figsize=(11, 6), sharex=True)
        axes = list(made)
    if len(axes) != 2:
        raise ConfigError("axes", axes, "two matplotlib axes, for failures and backlog")
    top, bottom = axes
    top_window = _outage_window(results)[0]
    failures_over_time(results, ax=top)
    backlog_over_time(results, ax=bottom)
    top.set_xlabel("")
    top.set_title(f"broker down {top_window[0] / 1000:g}-{top_window[1] / 1000:g} s: " + "; ".join(
        f"{d} {int(r.report['failed_requests'])} failed, {int(r.report['lost'])} lost"
        for d, r in results.items()))
    if fig is not None:  # fixed margins, room for the legends on the right: no layout pass at each redraw
        fig.subplots_adjust(left=0.07, right=0.78, bottom=0.09, top=0.94, hspace=0.25)
    return top, bottom


