"""Figures of lesson 02's call chains (:func:`~simkit.scenarios.call_chain`).

:func:`chain_latency` sets each design's answer time against the number of services
the request's work lies in; one request's path is :func:`~simkit.plots.request_timeline`.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.patches import Patch

from ..errors import ConfigError
from ._base import color_for, format_ms

__all__ = ["chain_latency"]


def chain_latency(df: pd.DataFrame, ax: Axes | None = None, title: str | None = None) -> Axes:
    """Mean (solid) and p99 (dashed) latency against the number of hops, per design (s).

    ``df`` holds :func:`~simkit.scenarios.call_chain` reports with ``design`` and
    ``hops`` columns (e.g. from ``sk.sweep``); the lines join the means over seeds and
    a shaded band spans each line's lowest to highest seed.
    """
    for column in ("design", "hops", "latency_mean", "latency_p99"):
        if column not in df.columns:
            raise ConfigError("df", sorted(df.columns), f"a frame of call_chain reports with {column!r}")
    if ax is None:
        _, ax = plt.subplots(figsize=(10, 4.2), layout="constrained")
    grouped = df.groupby(["design", "hops"], sort=False)[["latency_mean", "latency_p99"]]
    m = grouped.mean().reset_index()
    lo_hi = grouped.agg(["min", "max"])
    for design, g in m.groupby("design", sort=False):
        g = g.sort_values("hops")
        color = color_for(design)
        spread = lo_hi.loc[design].reindex(g["hops"])
        for metric, style in (("latency_mean", "o-"), ("latency_p99", "s--")):
            ax.plot(g["hops"], g[metric] / 1000, style, color=color, label=f"{design} {metric.split('_')[1]}")
            ax.fill_between(g["hops"], spread[(metric, "min")] / 1000, spread[(metric, "max")] / 1000,
                            color=color, alpha=0.12, linewidth=0)
    ax.set_xlabel("services the request's work lies in (hops)")
    ax.set_ylabel("latency until the user has an answer (s)")
    ax.set_xticks(sorted(m["hops"].unique()))
    ax.set_ylim(bottom=0)
    handles, _ = ax.get_legend_handles_labels()
    handles.append(Patch(color="grey", alpha=0.25, label="lowest to highest seed"))
    ax.legend(handles=handles, fontsize="small", loc="upper left", bbox_to_anchor=(1.01, 1.0))
    if title is None:
        hops = sorted(m["hops"].unique())
        parts = []
        for design, g in m.groupby("design", sort=False):
            g = g.sort_values("hops")
            lo, hi = g.iloc[0], g.iloc[-1]
            verb = "grows" if hi["latency_mean"] > 1.5 * lo["latency_mean"] else "stays"
            parts.append(f"{design}: mean {verb} {format_ms(lo['latency_mean'])} \u2192 "
                         f"{format_ms(hi['latency_mean'])}, "
                         f"p99 {format_ms(lo['latency_p99'])} \u2192 {format_ms(hi['latency_p99'])}")
        title = f"answer time from {hops[0]} to {hops[-1]} hops\n" + "\n".join(parts)
    ax.set_title(title)
    return ax
