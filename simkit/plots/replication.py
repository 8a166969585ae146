"""Lesson 16's figure: each replica's log growing over time, its crashes shaded and its truncations marked."""

from __future__ import annotations

from typing import Any

import numpy as np
from matplotlib.axes import Axes

from ..results import RunResult
from ._base import RED, axes_or_new, windows_between

__all__ = ["replica_logs"]

_COLOURS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#9467bd", "#8c564b")
_HATCHES = ("//", "\\\\", "..", "||", "--")  # one per broker: where two are down at once, both stay readable


def replica_logs(result: RunResult, ax: Axes | None = None, window: tuple[float, float] | None = None,
                 title: str | None = None) -> Axes:
    """Each broker's log end offset over time (read from its ``append``, ``replicate`` and ``truncate`` rows).

    Each broker's line is wider than the next one's, so replicas in step do not hide each other.
    While a broker is down its line stops and its outage is hatched in its colour (each broker its own hatch, so
    two outages at once stay apart);
    red crosses are records a replica cut from its log to follow a new leader
    (``truncate`` rows). ``window`` (ms) zooms in on part of the run.
    """
    trace = result.trace
    ax = axes_or_new(ax, (9, 4))
    brokers = sorted(c for c in trace["component"].dropna().unique() if str(c).startswith("broker-"))
    end = float(trace["time"].max())
    labelled = False  # one legend entry for the truncations of every broker
    for i, broker in enumerate(brokers):
        colour = _COLOURS[i % len(_COLOURS)]
        rows = trace[(trace["component"] == broker) & trace["event"].isin(("append", "replicate", "truncate"))]
        if len(rows):
            # replicas in step lie on one line: each is drawn wider than the next, so none hides another
            ax.step(rows["time"] / 1000.0, _log_ends(rows), where="post", color=colour, label=f"{broker} log end",
                    linewidth=1.5 + 1.5 * (len(brokers) - 1 - i), solid_capstyle="butt")
        down = windows_between(trace, "broker_down", "broker_up", end=end, component=broker)
        for k, (start, stop) in enumerate(down):  # hatched, not filled: overlapping fills would blend into a colour
            ax.axvspan(start / 1000.0, stop / 1000.0, facecolor="none", edgecolor=colour, alpha=0.45, linewidth=0,
                       hatch=_HATCHES[i % len(_HATCHES)], label=None if k else f"{broker} down")
        cut = trace[(trace["component"] == broker) & (trace["event"] == "truncate")]
        if len(cut):
            ax.scatter(cut["time"] / 1000.0, cut["offset"], marker="x", color=RED, s=18, zorder=4,
                       label=None if labelled else "truncated")
            labelled = True
    if window is not None:
        ax.set_xlim(window[0] / 1000.0, window[1] / 1000.0)
        shown = trace[trace["time"].between(*window) & trace["event"].isin(("append", "replicate", "truncate"))]
        if len(shown):
            ax.set_ylim(shown["offset"].min() - 5, shown["offset"].max() + 5)
    ax.set_xlabel("time (s)")
    ax.set_ylabel("log end offset")
    ax.set_title(title or _title(result))
    ax.legend(loc="upper left", fontsize="small")
    return ax


def _log_ends(rows: Any) -> np.ndarray:
    """The log end after each row: a write ends the log after its offset, a truncation cuts it back to it."""
    ends = np.empty(len(rows))
    end = 0.0
    for i, (event, offset) in enumerate(zip(rows["event"], rows["offset"])):
        end = min(end, float(offset)) if event == "truncate" else max(end, float(offset) + 1)
        ends[i] = end
    return ends


def _title(result: RunResult) -> Any:
    report = result.report
    return (f"{result.params.get('design', result.scenario)}: {report['lost_acknowledged']:.0f} acknowledged "
            f"records lost, {report['truncated']:.0f} truncated, {report['failovers']:.0f} failover(s)")
