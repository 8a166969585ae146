"""Figures of the idempotent-consumer lesson beyond the dedupe table's size (in :mod:`.consuming`).

* :func:`late_copies`: how many late copies of a message get through, per strategy, as
  the copies come later and later against the dedupe table's TTL.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.axes import Axes

from ._base import axes_or_new, color_for

__all__ = ["late_copies"]


def late_copies(
    df: pd.DataFrame,
    x: str = "redeliver_after",
    metric: str = "duplicates",
    by: str = "strategy",
    ax: Axes | None = None,
    title: str | None = None,
    ylabel: str = "sign-ups counted twice per run",
) -> Axes:
    """``metric`` per run against the delay of the late copies (s), one line per ``by`` value.

    ``df`` is :func:`simkit.sweep` of :func:`simkit.scenarios.dedupe` over ``by`` and ``x``
    (ms) with a fixed ``ttl`` (ms) and ``cleanup_interval``: lines are means over seeds,
    the shaded bands span the lowest to the highest run. The TTL is a dashed line; the
    band after it is the time a cleanup job may still take to delete an expired id.
    """
    ax = axes_or_new(ax, (8, 4))
    ttl = float(df["ttl"].iloc[0]) if "ttl" in df and pd.notna(df["ttl"].iloc[0]) else None
    cleanup = float(df["cleanup_interval"].iloc[0]) if "cleanup_interval" in df else None
    worst: dict[str, float] = {}
    for name, rows in df.groupby(by, sort=False):
        g = rows.groupby(x, sort=True)[metric]
        xs = np.asarray(list(g.groups), dtype=float) / 1000.0
        mean, lo, hi = g.mean().to_numpy(), g.min().to_numpy(), g.max().to_numpy()
        ax.plot(xs, mean, marker="o", color=color_for(name), label=str(name))
        ax.fill_between(xs, lo, hi, color=color_for(name), alpha=0.2, linewidth=0)
        worst[str(name)] = float(mean.max())
    if ttl is not None:
        ax.axvline(ttl / 1000.0, color="black", linestyle="--", linewidth=1, label=f"TTL {ttl / 1000:g} s")
        if cleanup:
            ax.axvspan(ttl / 1000.0, (ttl + cleanup) / 1000.0, color="grey", alpha=0.15,
                       label=f"TTL + one cleanup interval ({cleanup / 1000:g} s)")
    ax.set_xlabel("late copy arrives after the first (s)")
    ax.set_ylabel(ylabel)
    ax.set_ylim(bottom=0)
    ax.legend(loc="upper left", fontsize="small")
    if title is None:
        leaky = {k: v for k, v in worst.items() if v > 0}
        safe = [k for k, v in worst.items() if v == 0]
        title = ("late copies counted twice: " + ", ".join(f"{k} up to {v:.3g} per run" for k, v in leaky.items())
                 if leaky else "no late copy was counted twice")
        if safe:
            title += f"; {', '.join(safe)}: none"
    ax.set_title(title)
    return ax
