"""Figures of the idempotent-consumer lesson (06), read from :func:`simkit.scenarios.dedupe` runs.

* :func:`dedupe_table_size`: a dedupe table's size over time, bounded by its TTL.
* :func:`late_copies`: how many late copies of a message get through, per design, as
  the copies come later and later against the dedupe table's TTL.
"""

from __future__ import annotations

from typing import Mapping

import numpy as np
import pandas as pd
from matplotlib.axes import Axes

from ..results import RunResult
from ._base import BLUE, GREEN, GREY, ORANGE, PURPLE, axes_or_new, color_for, design_of

__all__ = ["dedupe_table_size", "late_copies"]

def dedupe_table_size(
    results: RunResult | Mapping[str, RunResult],
    ax: Axes | None = None,
    title: str | None = None,
) -> Axes:
    """Size of the dedupe table over time (ids), from ``series["dedupe_table_size"]``.

    ``results`` is one run or a mapping label -> run (for instance one run per TTL).
    """
    ax = axes_or_new(ax)
    runs = {"": results} if isinstance(results, RunResult) else dict(results)
    peaks = {}
    # runs usually differ only in their TTL: distinct colours and dashes keep overlapping lines apart
    palette, dashes = (BLUE, ORANGE, GREEN, GREY, PURPLE), ("-", "--", "-.", ":")
    for i, (label, r) in enumerate(runs.items()):
        frame = r.series["dedupe_table_size"]
        name = label or f"ttl={_ttl(r)}"
        ax.step(frame["time"] / 1000.0, frame["dedupe_table_size"], where="post", linewidth=1.6,
                color=palette[i % len(palette)] if len(runs) > 1 else color_for(design_of(r)),
                linestyle=dashes[i % len(dashes)], label=name)
        peaks[name] = int(frame["dedupe_table_size"].max()) if len(frame) else 0
    ax.set_xlabel("time (s)")
    ax.set_ylabel("ids in the dedupe table")
    ax.legend(title="run")
    if title is None and peaks:
        parts = ", ".join(f"{k}: {v}" for k, v in peaks.items())
        title = f"the TTL bounds the dedupe table; peak ids held: {parts}"
    ax.set_title(title or "")
    return ax


def _ttl(result: RunResult) -> str:
    ttl = result.params.get("ttl")
    return "none" if ttl is None else f"{ttl / 1000:g} s"


def late_copies(
    df: pd.DataFrame,
    x: str = "redeliver_after",
    metric: str = "duplicates",
    by: str = "design",
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
    # outside, on the right: inside it covered the TTL line it explains
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0, fontsize="small")
    if title is None:
        leaky = {k: v for k, v in worst.items() if v > 0}
        safe = [k for k, v in worst.items() if v == 0]
        title = ("late copies counted twice: " + ", ".join(f"{k} up to {v:.3g} per run" for k, v in leaky.items())
                 if leaky else "no late copy was counted twice")
        if safe:
            title += f"; {', '.join(safe)}: none"
    ax.set_title(title)
    return ax
