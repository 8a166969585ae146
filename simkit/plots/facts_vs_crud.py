"""Figures of lesson 10's business facts against row changes (:func:`~simkit.scenarios.facts_vs_crud`).

:func:`capture_timeline` follows one order's rows and what change capture saw of them,
:func:`paid_window` shows how long orders stayed paid against the capture's polls, and
:func:`missed_vs` sets missed reactions against a swept parameter. Each returns its axes
and titles the figure with its finding unless given a ``title``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.ticker import MaxNLocator

from ..results import RunResult
from ._base import BAD, DARK, FAILURE, GOOD, axes_or_new, color_for, timeline

__all__ = ["capture_timeline", "missed_vs", "paid_window"]

_LANES = ("orders", "orders-db", "change-capture", "relay", "producer", "broker", "notifications")


def capture_timeline(result: RunResult, order: Any, ax: Axes | None = None, title: str | None = None,
                     margin: float = 300) -> Axes:
    """The life of one ``order`` across the lanes, with the row poller's polls as dotted lines.

    The order's rows are circled in red (:func:`~simkit.plots.timeline`); the time it
    stayed ``paid`` is shaded. (The outbox relay writes no poll rows: its reads show as
    the rows on its lane.) A paid window with no poll inside it is a step the row
    stream never carried. ``margin`` is ms shown before the order was placed and after
    its last row.
    """
    trace = result.trace
    rows = trace[trace["msg_id"] == order]
    if rows.empty:
        from ..errors import ConfigError
        raise ConfigError("order", order, "an order id of this run, e.g. a check's example")
    start, end = float(rows["time"].min()) - margin, float(rows["time"].max()) + margin
    lanes = [c for c in _LANES if c in set(trace["component"].astype(str))]
    steps = result.series["orders"].loc[order]
    if title is None:
        seen = steps["seen"] or "nothing"
        verdict = "receipt sent" if steps["receipt"] else "no receipt sent"
        title = (f"{result.params['design']}: {order} stayed paid for {steps['paid_for'] / 1000:.2f} s; "
                 f"the consumer saw {seen}: {verdict}")
    if ax is None:
        ax = axes_or_new(None, (10, 0.6 * len(lanes) + 2))
    ax = timeline(result, ax=ax, components=lanes, highlight=[order], title=title, window=(start, end))
    polls = trace[(trace["event"] == "poll") & (trace["time"] >= start) & (trace["time"] <= end)]["time"]
    for i, t in enumerate(polls):
        ax.axvline(t / 1000, color=DARK, linestyle=":", linewidth=1, label="capture polls" if i == 0 else None)
    if pd.notna(steps["paid_at"]) and pd.notna(steps["shipped_at"]):
        ax.axvspan(steps["paid_at"] / 1000, steps["shipped_at"] / 1000, color=FAILURE, alpha=0.2,
                   label="order is paid")
    ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize="small")
    ax.set_xlim(start / 1000, end / 1000)
    ax.figure.tight_layout()
    return ax


def paid_window(result: RunResult, ax: Axes | None = None, title: str | None = None, bins: int = 30) -> Axes:
    """How long each order stayed ``paid`` (s), stacked by whether its receipt was sent.

    The dashed line is the mean gap between two polls of the row poller, measured from
    its ``poll`` rows (the poll interval plus the time to publish what the poll found);
    for the outbox relay, which writes no poll rows, it is the poll interval.
    """
    own = ax is None
    ax = axes_or_new(ax, (9, 4))
    table = result.series["orders"].dropna(subset=["paid_for"])
    polls = result.trace.loc[result.trace["event"] == "poll", "time"].to_numpy(dtype=float)
    gap = float(np.diff(polls).mean()) if len(polls) > 1 else float(result.params["poll_interval"])
    secs = table["paid_for"] / 1000
    edges = np.linspace(0, max(float(np.percentile(secs, 95)), 3 * gap / 1000), bins + 1)
    clipped = secs.clip(upper=edges[-1])
    missed = clipped[~table["receipt"]]
    n_missed = np.histogram(missed, bins=edges)[0]
    n_all = np.histogram(clipped, bins=edges)[0]
    # two filled step outlines (one artist each, quick to redraw): missed at the bottom, sent stacked on top
    ax.stairs(n_all, edges, baseline=n_missed, fill=True, color=GOOD, label="receipt sent")
    # no legend entry for a colour no bar has: with no receipt missed, the title says so
    ax.stairs(n_missed, edges, fill=True, color=BAD, label="receipt missed" if len(missed) else None)
    ax.stairs(n_all, edges, color="black", linewidth=0.6)
    ax.set_ylim(0, max(1, int(n_all.max())) * 1.45)  # headroom: the legend, top right, covers no bar
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlim(edges[0], edges[-1])
    ax.axvline(gap / 1000, color="black", linestyle="--", linewidth=1,
               label=f"mean gap between two polls ({gap / 1000:.2f} s)" if len(polls) > 1
               else f"poll interval ({gap / 1000:g} s)")
    ax.set_xlabel("time the order stayed paid (s; longer stays are counted in the last bar)")
    ax.set_ylabel("orders")
    ax.legend(loc="upper right")
    if title is None:
        n = len(missed)
        design = result.params["design"]
        if n:
            worst = float(table.loc[~table["receipt"], "paid_for"].max()) / 1000
            title = (f"{design}: {n} of {len(table)} receipts missed;\n"
                     f"every one of them for an order that stayed paid under {worst:.2f} s")
        else:
            title = f"{design}: every one of the {len(table)} paid orders got its receipt"
    ax.set_title(title)
    if own:
        ax.figure.tight_layout()
    return ax


def missed_vs(df: pd.DataFrame, x: str = "poll_interval", metric: str = "missed_receipts", by: str = "design",
              ax: Axes | None = None, title: str | None = None, xscale: float = 1000, xlabel: str | None = None,
              ylabel: str = "missed receipts per run") -> Axes:
    """``metric`` against ``x`` per design: the mean over seeds as a line, the lowest to highest run shaded.

    ``df`` is :func:`simkit.sweep` over ``x`` and ``by``; ``x`` is divided by ``xscale``
    (ms to s by default).
    """
    ax = axes_or_new(ax, (9, 4))
    worst_at: dict[Any, tuple[float, float]] = {}
    for design, g in df.groupby(by, sort=False):
        stats = g.groupby(x)[metric].agg(["mean", "min", "max"]).sort_index()
        xs = stats.index.to_numpy(dtype=float) / xscale
        if (stats["max"] == 0).all():  # nothing to shade: say the zero in the legend instead of a band
            ax.plot(xs, stats["mean"], marker="o", color=color_for(design), label=f"{design} (0 in every run)",
                    clip_on=False, zorder=3)
        else:
            ax.plot(xs, stats["mean"], marker="o", color=color_for(design), label=f"{design} (mean)")
            ax.fill_between(xs, stats["min"], stats["max"], color=color_for(design), alpha=0.2,
                            label=f"{design} (lowest to highest seed)")
        worst_at[design] = (float(stats.index[-1]) / xscale, float(stats["mean"].iloc[-1]))
    ax.set_xlabel(xlabel or (f"{x.replace('_', ' ')} (s)" if xscale == 1000 else x.replace("_", " ")))
    ax.set_ylabel(ylabel)
    ax.set_ylim(bottom=0)
    ax.legend(loc="upper left", fontsize="small")
    if title is None:
        parts = ", ".join(f"{d} {v:.3g}" for d, (_, v) in worst_at.items())
        at = max(v[0] for v in worst_at.values())
        title = f"{metric.replace('_', ' ')} per run with {x.replace('_', ' ')} {at:g} s:\n{parts}"
    ax.set_title(title)
    ax.figure.tight_layout()
    return ax
