"""Figures of the hot-key half of lesson 05, read from :func:`simkit.scenarios.hot_keys` runs.

* :func:`partition_load`: each partition's share of the records, per design.
* :func:`partition_lag`: the worst consumer lag each partition reached, per design.
* :func:`consumers_vs_partitions`: how many members of a consumer group get work, and the
  latency they achieve, as the group grows past the number of partitions (a
  :func:`simkit.scenarios.throughput` sweep, shown in the same lesson).
"""

from __future__ import annotations

from typing import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.axes import Axes

from ..results import RunResult
from ._base import BLUE, GREEN, LIGHT_GREY, axes_or_new, color_for

__all__ = ["consumers_vs_partitions", "partition_lag", "partition_load"]


def _per_partition(results: Mapping[str, RunResult], values: Mapping[str, pd.Series], ax: Axes,
                   ylabel: str) -> None:
    designs = list(results)
    n = max(int(r.params.get("partitions", 0) or 0) for r in results.values())
    n = max(n, max((int(v.index.max()) + 1 for v in values.values() if len(v)), default=1))
    x = np.arange(n)
    width = 0.8 / len(designs)
    for i, d in enumerate(designs):
        v = values[d].reindex(x, fill_value=0)
        ax.bar(x + (i - (len(designs) - 1) / 2) * width, v.to_numpy(), width, color=color_for(d), label=str(d),
               edgecolor="black", linewidth=0.5)
    ax.set_xticks(x, [str(p) for p in x])
    ax.set_xlabel("partition")
    ax.set_ylabel(ylabel)
    ax.legend(title="design")


def partition_load(results: Mapping[str, RunResult], ax: Axes | None = None, title: str | None = None) -> Axes:
    """Share of all records each partition carried, per design (from the ``load`` series of :func:`hot_keys`)."""
    ax = axes_or_new(ax)
    shares = {d: r.series["load"].set_index("partition")["share"] * 100 for d, r in results.items()}
    _per_partition(results, shares, ax, "share of records (%)")
    n = max(int(r.params.get("partitions", 0) or 0) for r in results.values())
    if n:
        ax.axhline(100 / n, color="black", linestyle=":", linewidth=1, label=f"even share ({100 / n:.0f}%)")
        ax.legend(title="design")
    if title is None:
        parts = ", ".join(f"{d} {s.max():.0f}%" for d, s in shares.items() if len(s))
        title = f"busiest partition's share of the traffic: {parts}" + (f" (even: {100 / n:.0f}%)" if n else "")
    ax.set_title(title)
    return ax


def partition_lag(results: Mapping[str, RunResult], ax: Axes | None = None, title: str | None = None,
                  key: str = "lag") -> Axes:
    """The worst backlog (records) each partition reached, per design (from ``series[key]``)."""
    ax = axes_or_new(ax)
    peaks = {d: r.series[key].groupby("partition")["lag"].max() for d, r in results.items()}
    _per_partition(results, peaks, ax, "peak consumer lag (records)")
    if title is None:
        parts = ", ".join(f"{d} {int(p.max()) if len(p) else 0}" for d, p in peaks.items())
        title = f"worst partition backlog (records): {parts}"
    ax.set_title(title)
    return ax


def _span(values: np.ndarray) -> str:
    lo, hi = f"{values.min():.3g}", f"{values.max():.3g}"
    return lo if lo == hi else f"{lo}-{hi}"


def consumers_vs_partitions(
    df: pd.DataFrame,
    axes: Sequence[Axes] | None = None,
    by: str = "consumers",
    latency: str = "latency_p99",
    title: str | None = None,
) -> Sequence[Axes]:
    """Busy and idle members (left) and latency (right, ms, log scale) per consumer-group size.

    ``df`` is :func:`simkit.sweep` of :func:`simkit.scenarios.throughput` over ``consumers``
    (with a fixed ``partitions``): its ``idle_consumers`` counts members that never got a
    record. Bars are means over seeds; latency whiskers span the lowest to the highest
    run. A dashed line marks the number of partitions. Returns the two axes.
    """
    if axes is None:
        _, axes = plt.subplots(1, 2, figsize=(13, 4.2), layout="constrained")
    left, right = axes
    g = df.groupby(by, sort=True)
    sizes = np.array(list(g.groups), dtype=int)
    idle = g["idle_consumers"].mean().to_numpy()
    busy = sizes - idle
    left.bar(sizes, busy, 0.6, color=GREEN, edgecolor="black", linewidth=0.5, label="busy (own a partition)")
    left.bar(sizes, idle, 0.6, bottom=busy, color=LIGHT_GREY, edgecolor="black", linewidth=0.5, hatch="//",
             label="idle (no partition left)")
    parts = int(df["partitions"].iloc[0]) if "partitions" in df else None
    left.set_xticks(sizes)
    left.set_xlabel("consumers in the group")
    left.set_ylabel("consumers")
    left.legend(loc="upper left", fontsize="small")
    mean, lo, hi = (g[latency].agg(f).to_numpy() for f in ("mean", "min", "max"))
    right.errorbar(sizes, mean, yerr=np.vstack([mean - lo, hi - mean]), marker="o", capsize=3, color=BLUE,
                   label=f"{latency.replace('latency_', '')} latency (mean, min-max over seeds)")
    right.set_yscale("log")
    right.set_xticks(sizes)
    right.set_xlabel("consumers in the group")
    right.set_ylabel(f"{latency.replace('latency_', '')} latency (ms, log scale)")
    if parts is not None:
        for a in (left, right):
            a.axvline(parts + 0.5, color="black", linestyle="--", linewidth=1, label=f"{parts} partitions")
        right.legend(loc="upper right", fontsize="small")
    if title is None:
        lat = latency.replace("latency_", "")
        if parts is not None:
            most = int(idle.max())
            left.set_title(f"{parts} partitions keep at most {parts} consumers busy;\n"
                           + (f"the other {most} of {sizes.max()} sit idle" if most else "no consumer sits idle"))
            at = mean[sizes == parts]
            after = mean[sizes > parts]
            right.set_title(f"{lat} latency: {mean[0]:.3g} ms with {sizes[0]} consumer{'s' if sizes[0] != 1 else ''}"
                            + (f", {at[0]:.3g} ms with {parts};" if len(at) else ";")
                            + (f"\n{sizes[sizes > parts].min()}-{sizes.max()} consumers change nothing "
                               f"({_span(after)} ms)" if len(after) else ""))
        else:
            left.set_title("busy and idle consumers per group size")
            right.set_title(f"{lat} latency per group size")
    else:
        left.get_figure().suptitle(title)
    return axes
