"""Plots for the design-choice lessons: workflows, deployment.

Each takes results (a mapping design -> :class:`~simkit.RunResult`, or the DataFrame
of :func:`simkit.compare`) and an optional ``ax``, returns the ``ax``, and titles the
figure with its finding unless given a ``title``.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.ticker import MaxNLocator

from ._base import axes_or_new, color_for

__all__ = ["STATE_COLORS", "deployment_latency", "infrastructure_parts", "outage_impact", "workflow_outcomes"]

#: one colour per business state of an order
STATE_COLORS: dict[str, str] = {
    "completed": "#2ca02c", "declined_customer_contacted": "#1f77b4", "cancelled": "#ff7f0e",
    "rolled_back": "#7f7f7f", "open": "#c7c7c7",
}


def workflow_outcomes(df: pd.DataFrame, ax: Axes | None = None, by: str = "design",
                      states: Sequence[str] | None = None, title: str | None = None) -> Axes:
    """Orders per business state, stacked, per design (mean over seeds), with the inconsistent ones beside.

    ``df`` is :func:`simkit.compare` over :func:`simkit.scenarios.order_workflow`. The
    inconsistent bar carries a whisker from the lowest to the highest run and one dot per
    run, so the spread over seeds shows; its mean is written above it.
    """
    from ..scenarios.order_workflow import STATES

    ax = axes_or_new(ax, (9, 4.5))
    states = [s for s in (states or STATES) if s in df.columns]
    groups = df.groupby(by, sort=False)
    means = groups[states + ["inconsistent"]].mean()
    lo, hi = groups["inconsistent"].min(), groups["inconsistent"].max()
    x = np.arange(len(means))
    bottom = np.zeros(len(means))
    for s in states:
        v = means[s].to_numpy()
        if not v.any():
            continue
        ax.bar(x - 0.15, v, 0.5, bottom=bottom, color=STATE_COLORS.get(s, "#bbbbbb"), label=s.replace("_", " "),
               edgecolor="black", linewidth=0.5)
        bottom += v
    bad = means["inconsistent"]
    yerr = np.vstack([bad - lo.reindex(bad.index), hi.reindex(bad.index) - bad])
    ax.bar(x + 0.3, bad.to_numpy(), 0.2, yerr=yerr, capsize=4, color="#d62728", hatch="xx", edgecolor="black",
           linewidth=0.5, label="inconsistent: charge or label\ndisagrees with the order")
    for i, d in enumerate(means.index):
        runs = df.loc[df[by] == d, "inconsistent"].to_numpy(dtype=float)
        ax.scatter(np.full(len(runs), x[i] + 0.3), runs, s=12, color="black", zorder=3,
                   label="one run (seed)" if i == 0 else None)
        ax.annotate(f"{bad[d]:.3g}", (x[i] + 0.3, hi[d]), xytext=(0, 4), textcoords="offset points",
                    ha="center", va="bottom", fontsize="small")
    ax.set_xticks(x, [str(d) for d in means.index])
    for tick, d in zip(ax.get_xticklabels(), means.index):
        tick.set_color(color_for(d))
    ax.set_xlabel(by)
    ax.set_ylabel("orders per run (mean over seeds)" if df.groupby(by).size().max() > 1 else "orders")
    handles, labels = ax.get_legend_handles_labels()
    order = sorted(range(len(labels)), key=lambda i: labels[i] == "one run (seed)")  # the dots' entry last
    ax.legend([handles[i] for i in order], [labels[i] for i in order], fontsize="small", loc="upper left",
              bbox_to_anchor=(1.0, 1.0))
    ax.set_ylim(0, max(float(bottom.max()), float(hi.max())) * 1.08)
    if title is None:
        n = len(df[df[by] == means.index[0]])
        total = float(means[states].sum(axis=1).max())
        if n == 1:
            parts = [f"{d} {v:.3g}" for d, v in bad.items()]
            title = f"orders left charged or labelled wrongly, of {total:.0f} in one run:\n" + "; ".join(parts)
        else:
            parts = [f"{d} {v:.3g} ({lo[d]:.3g} to {hi[d]:.3g})" for d, v in bad.items()]
            title = (f"orders left charged or labelled wrongly, of {total:.0f} per run ({n} seeds):\n"
                     + "; ".join(parts))
    ax.set_title(title)
    ax.figure.tight_layout()
    return ax


def deployment_latency(df: pd.DataFrame, ax: Axes | None = None, by: str = "design",
                       title: str | None = None) -> Axes:
    """Request latency p50 and p99 (ms) per design: mean over the runs in ``df``, whiskers from lowest to highest."""
    ax = axes_or_new(ax)
    cols = ["latency_p50", "latency_p99"]
    g = df.groupby(by, sort=False)[cols]
    means, lows, highs = g.mean(), g.min(), g.max()
    x = np.arange(2)
    width = 0.8 / len(means)
    for i, (d, row) in enumerate(means.iterrows()):
        v = row.to_numpy(dtype=float)
        yerr = np.vstack([v - lows.loc[d].to_numpy(dtype=float), highs.loc[d].to_numpy(dtype=float) - v])
        ax.bar(x + (i - (len(means) - 1) / 2) * width, v, width, yerr=yerr, capsize=3, color=color_for(d),
               label=str(d), edgecolor="black", linewidth=0.5)
    ax.set_xticks(x, ["p50 (median)", "p99"])
    ax.set_ylabel("request latency (ms)")
    runs = int(g.size().max()) if len(df) else 0
    ax.legend(title=f"{by} (whiskers: min-max of {runs} runs)" if runs > 1 else by, fontsize="small")
    if title is None and len(means) >= 2:
        fast, slow = means["latency_p99"].idxmin(), means["latency_p99"].idxmax()
        ratio = means.loc[slow, "latency_p99"] / means.loc[fast, "latency_p99"]
        p50 = means.loc[slow, "latency_p50"] / means.loc[fast, "latency_p50"]
        title = (f"p99 latency: {slow} {means.loc[slow, 'latency_p99']:.0f} ms, {ratio:.1f}x {fast}'s "
                 f"{means.loc[fast, 'latency_p99']:.0f} ms\n(the median only {p50:.1f}x: hops between "
                 f"boundaries hurt the tail most)")
    ax.set_title(title or "")
    return ax


def infrastructure_parts(df: pd.DataFrame, ax: Axes | None = None, by: str = "design",
                         title: str | None = None) -> Axes:
    """Things to run per design: app instances, databases and broker nodes, stacked."""
    ax = axes_or_new(ax)
    kinds = [("app_instances", "app instances", "#9ecae1"), ("databases", "databases", "#fdae6b"),
             ("brokers", "broker nodes", "#bcbddc")]
    first = df.groupby(by, sort=False)[[k for k, _, _ in kinds] + ["infrastructure_parts"]].first()
    x = np.arange(len(first))
    bottom = np.zeros(len(first))
    for col, label, color in kinds:
        v = first[col].to_numpy(dtype=float)
        ax.bar(x, v, 0.5, bottom=bottom, color=color, label=label, edgecolor="black", linewidth=0.5)
        bottom += v
    for xi, total in zip(x, first["infrastructure_parts"]):
        ax.text(xi, total, f"{int(total)}", ha="center", va="bottom")
    ax.set_xticks(x, [str(d) for d in first.index])
    for tick, d in zip(ax.get_xticklabels(), first.index):
        tick.set_color(color_for(d))
    ax.set_ylabel("things to run (count)")
    ax.set_xlabel(by)
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_ylim(0, float(first["infrastructure_parts"].max()) * 1.12)
    ax.legend(fontsize="small", loc="upper left")
    if title is None:
        title = " vs ".join(f"{d}: {int(v)}" for d, v in first["infrastructure_parts"].items()) + " things to run"
    ax.set_title(title)
    return ax


def outage_impact(df: pd.DataFrame, ax: Axes | None = None, by: str = "outage", hue: str = "design",
                  title: str | None = None) -> Axes:
    """Failed requests per outage (x) and design (bars), labelled with how many boundaries were affected.

    Bars are the mean over the runs in ``df``, whiskers span the lowest to the highest run.
    """
    ax = axes_or_new(ax, (8, 4))
    g = df.groupby([by, hue], sort=False)[["failed_requests", "affected_boundaries"]]
    means, lows, highs = g.mean(), g.min(), g.max()
    outages = list(dict.fromkeys(df[by]))
    designs = list(dict.fromkeys(df[hue]))
    x = np.arange(len(outages))
    width = 0.8 / len(designs)
    top = float(highs["failed_requests"].max()) if len(highs) else 0.0
    for i, d in enumerate(designs):
        rows = means.xs(d, level=hue).reindex(outages)
        lo = lows.xs(d, level=hue).reindex(outages)["failed_requests"].to_numpy(dtype=float)
        hi = highs.xs(d, level=hue).reindex(outages)["failed_requests"].to_numpy(dtype=float)
        v = rows["failed_requests"].to_numpy(dtype=float)
        pos = x + (i - (len(designs) - 1) / 2) * width
        yerr = np.nan_to_num(np.vstack([v - lo, hi - v]))
        ax.bar(pos, np.nan_to_num(v), width, yerr=yerr, capsize=3, color=color_for(d), label=str(d),
               edgecolor="black", linewidth=0.5)
        for p, failed, high, hit in zip(pos, v, hi, rows["affected_boundaries"].to_numpy(dtype=float)):
            if not np.isnan(failed):
                ax.text(p, high + 0.02 * top, f"{hit:.0f} hit", ha="center", va="bottom", fontsize="small")
    ax.set_xticks(x, [str(o) for o in outages])
    ax.set_xlabel(by)
    ax.set_ylabel("failed requests per run")
    ax.set_ylim(0, top * 1.15 if top > 0 else 1)
    runs = int(g.size().max()) if len(df) else 0
    ax.legend(title=f"{hue} (whiskers: min-max of {runs} runs)" if runs > 1 else hue, fontsize="small")
    if title is None:
        hit = means["failed_requests"].unstack(hue).reindex(outages)
        hit = hit[hit.fillna(0).sum(axis=1) > 0]
        title = "failed requests (label: boundaries hit)\n" + "; ".join(
            f"{o}: " + ", ".join(f"{d} {v:.0f}" for d, v in row.dropna().items()) for o, row in hit.iterrows())
    ax.set_title(title)
    return ax
