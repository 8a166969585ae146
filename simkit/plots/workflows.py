"""Plots for lesson 10: one order's workflow (:func:`simkit.scenarios.order_workflow`), and business facts
against row changes (:func:`simkit.scenarios.facts_vs_crud`).

Each takes a result (or the DataFrame of :func:`simkit.sweep`) and an optional ``ax``,
returns the ``ax``, and titles the figure with its finding unless given a ``title``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.ticker import MaxNLocator

from ..results import RunResult
from ._base import axes_or_new, color_for, timeline

__all__ = ["capture_timeline", "missed_vs", "order_timeline", "paid_window"]

_ORDER_LANES = ("customer", "orders", "inventory", "payments", "payment-provider", "shipping", "carrier",
                "notifications")
_OUTSIDE = {"charged": "refunded", "label_created": "label_voided"}  # an outside-world fact and its undoing


def order_timeline(result: RunResult, order: Any, ax: Axes | None = None, title: str | None = None,
                   margin: float = 400) -> Axes:
    """The life of one ``order`` of :func:`~simkit.scenarios.order_workflow`, one lane per component.

    Every row of the order is a labelled dot (a run of the same row in one lane is one
    label with a count, e.g. ``carrier: unavailable x8``); the carrier's outage is
    shaded. An outside-world fact still standing when the run ends without the order
    being completed (a charge never refunded, a label never voided) is ringed in red:
    that is the anomaly. ``margin`` is ms shown either side of the order's rows.
    """
    from ..scenarios.order_workflow import order_states

    trace = result.trace
    rows = trace[(trace["msg_id"] == order) & (trace["component"].astype(str).isin(_ORDER_LANES))]
    if rows.empty:
        from ..errors import ConfigError
        raise ConfigError("order", order, "an order id of this run, e.g. a check's example")
    comps = set(rows["component"].astype(str))
    lanes = [c for c in _ORDER_LANES if c in comps]
    y = {c: i for i, c in enumerate(lanes)}
    ax = axes_or_new(ax, (10, 0.6 * len(lanes) + 1.6))
    start, end = float(rows["time"].min()) - margin, float(rows["time"].max()) + margin
    times = rows["time"].to_numpy(dtype=float) / 1000
    ys = rows["component"].astype(str).map(y).to_numpy(dtype=float)
    ax.plot(times, ys, color="#d62728", linewidth=0.8, alpha=0.6, zorder=2)
    ax.scatter(times, ys, color="black", s=14, zorder=3)
    # one label per run of the same row in a lane
    for comp, g in rows.groupby(rows["component"].astype(str), sort=False):
        labels = g["detail"].where(g["event"] == "call_failed", g["event"]).astype(str).tolist()
        t = g["time"].to_numpy(dtype=float) / 1000
        i = 0
        below = False
        last = -np.inf
        while i < len(labels):
            j = i
            while j + 1 < len(labels) and labels[j + 1] == labels[i]:
                j += 1
            text = labels[i] + (f" x{j - i + 1}" if j > i else "")
            below = (not below) if (t[i] - last) * 1000 < 0.15 * (end - start) else False  # near the last label
            ax.annotate(text, (t[i], y[comp]), xytext=(4, -5 if below else 5), textcoords="offset points",
                        fontsize=7.5, ha="left", va="top" if below else "bottom")
            last = t[i]
            i = j + 1
    # the carrier's outage windows, from its own rows
    down = trace[(trace["component"] == "carrier") & trace["event"].isin(["service_down", "service_up"])]
    opened = None
    first = True
    for ev, t in zip(down["event"], down["time"]):
        if ev == "service_down":
            opened = float(t)
        elif opened is not None:
            ax.axvspan(opened / 1000, float(t) / 1000, color="grey", alpha=0.2, label="carrier down" if first else None)
            first, opened = False, None
    if opened is not None:
        ax.axvspan(opened / 1000, end / 1000, color="grey", alpha=0.2, label="carrier down" if first else None)
    # the anomaly: an outside-world fact that still stands although the order did not complete
    state = order_states(trace).loc[order, "state"]
    standing = []
    for fact, undo in _OUTSIDE.items():
        n_fact = int((rows["event"] == fact).sum())
        n_undo = int((rows["event"] == undo).sum())
        if n_fact > n_undo and state != "completed":
            standing.append(fact)
            hit = rows[rows["event"] == fact]
            ax.scatter(hit["time"] / 1000, hit["component"].astype(str).map(y), s=220, facecolors="none",
                       edgecolors="#d62728", linewidths=2, zorder=4,
                       label="still standing at the end: nobody undid it" if len(standing) == 1 else None)
    ax.set_yticks(range(len(lanes)), lanes)
    ax.set_ylim(-0.7, len(lanes) - 0.3)
    ax.invert_yaxis()
    ax.set_xlim(start / 1000, end / 1000)
    ax.set_xlabel("time (s)")
    handles, _ = ax.get_legend_handles_labels()
    if handles:
        ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize="small")
    if title is None:
        design = result.params.get("design", "")
        if standing:
            what = " and ".join({"charged": "the charge", "label_created": "the label"}[f] for f in standing)
            title = f"{design}: {order} ended {state.replace('_', ' ')}, yet {what} still stands"
        else:
            title = f"{design}: {order} ended {state.replace('_', ' ')}; charge and label agree with it"
    ax.set_title(title)
    ax.figure.tight_layout()
    return ax


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
        ax.axvline(t / 1000, color="#555555", linestyle=":", linewidth=1, label="capture polls" if i == 0 else None)
    if pd.notna(steps["paid_at"]) and pd.notna(steps["shipped_at"]):
        ax.axvspan(steps["paid_at"] / 1000, steps["shipped_at"] / 1000, color="#ff7f0e", alpha=0.2,
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
    ax.stairs(n_all, edges, baseline=n_missed, fill=True, color="#2ca02c", label="receipt sent")
    ax.stairs(n_missed, edges, fill=True, color="#d62728", label="receipt missed")
    ax.stairs(n_all, edges, color="black", linewidth=0.6)
    ax.set_ylim(0, max(1, int(n_all.max())) * 1.1)
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
