"""Plots for the design-choice lessons: ordering and hot keys, workflows, deployment.

Each takes results (a mapping design -> :class:`~simkit.RunResult`, or the DataFrame
of :func:`simkit.compare`) and an optional ``ax``, returns the ``ax``, and titles the
figure with its finding unless given a ``title``.
"""

from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np
import pandas as pd
from matplotlib.axes import Axes

from ..results import RunResult
from ._base import _ax, color_for, outcome_bars

__all__ = [
    "STATE_COLORS", "deployment_latency", "infrastructure_parts", "inversion_bars", "outage_impact",
    "partition_lag", "partition_load", "workflow_outcomes",
]

#: one colour per business state of an order
STATE_COLORS: dict[str, str] = {
    "completed": "#2ca02c", "declined_customer_contacted": "#1f77b4", "cancelled": "#ff7f0e",
    "rolled_back": "#7f7f7f", "open": "#c7c7c7",
}


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
    ax = _ax(ax)
    shares = {d: r.series["load"].set_index("partition")["share"] * 100 for d, r in results.items()}
    _per_partition(results, shares, ax, "share of records (%)")
    if title is None:
        parts = ", ".join(f"{d} {s.max():.0f}%" for d, s in shares.items() if len(s))
        title = f"busiest partition's share of the traffic: {parts}"
    ax.set_title(title)
    return ax


def partition_lag(results: Mapping[str, RunResult], ax: Axes | None = None, title: str | None = None,
                  key: str = "lag") -> Axes:
    """The worst backlog (records) each partition reached, per design (from ``series[key]``)."""
    ax = _ax(ax)
    peaks = {d: r.series[key].groupby("partition")["lag"].max() for d, r in results.items()}
    _per_partition(results, peaks, ax, "peak consumer lag (records)")
    if title is None:
        parts = ", ".join(f"{d} {int(p.max()) if len(p) else 0}" for d, p in peaks.items())
        title = f"worst partition backlog (records): {parts}"
    ax.set_title(title)
    return ax


def inversion_bars(df: pd.DataFrame, ax: Axes | None = None, by: str = "design",
                   metrics: Sequence[str] = ("out_of_order", "wrong_final"), title: str | None = None) -> Axes:
    """Ordering anomalies per design (mean over seeds, bars from the lowest to the highest run)."""
    if title is None:
        means = df.groupby(by, sort=False)[list(metrics)].mean()
        clean = [str(d) for d, row in means.iterrows() if (row == 0).all()]
        worst = means[metrics[0]].idxmax()
        title = (f"{worst}: {means.loc[worst, metrics[0]]:.3g} changes applied out of order per run"
                 + (f"; {', '.join(clean)}: none" if clean else ""))
    return outcome_bars(df, list(metrics), by=by, ax=ax, title=title, ylabel="changes / users per run")


def workflow_outcomes(df: pd.DataFrame, ax: Axes | None = None, by: str = "design",
                      states: Sequence[str] | None = None, title: str | None = None) -> Axes:
    """Orders per business state, stacked, per design (mean over seeds), with the inconsistent ones beside.

    ``df`` is :func:`simkit.compare` over :func:`simkit.scenarios.order_workflow`.
    """
    from ..scenarios.order_workflow import STATES

    ax = _ax(ax, (8, 4.5))
    states = [s for s in (states or STATES) if s in df.columns]
    means = df.groupby(by, sort=False)[states + ["inconsistent"]].mean()
    x = np.arange(len(means))
    bottom = np.zeros(len(means))
    for s in states:
        v = means[s].to_numpy()
        if not v.any():
            continue
        ax.bar(x - 0.15, v, 0.5, bottom=bottom, color=STATE_COLORS.get(s, "#bbbbbb"), label=s,
               edgecolor="black", linewidth=0.5)
        bottom += v
    ax.bar(x + 0.3, means["inconsistent"].to_numpy(), 0.2, color="#d62728", hatch="xx", edgecolor="black",
           linewidth=0.5, label="inconsistent (charge or label wrong)")
    ax.set_xticks(x, [str(d) for d in means.index])
    for tick, d in zip(ax.get_xticklabels(), means.index):
        tick.set_color(color_for(d))
    ax.set_xlabel(by)
    ax.set_ylabel("orders per run")
    ax.legend(fontsize="small", loc="upper left", bbox_to_anchor=(1.0, 1.0))
    if title is None:
        bad = means["inconsistent"]
        title = ", ".join(f"{d}: {v:.3g}" for d, v in bad.items()) + " orders per run left inconsistent"
    ax.set_title(title)
    return ax


def deployment_latency(df: pd.DataFrame, ax: Axes | None = None, by: str = "design",
                       title: str | None = None) -> Axes:
    """Request latency p50 and p99 (ms) per design, mean over seeds."""
    ax = _ax(ax)
    means = df.groupby(by, sort=False)[["latency_p50", "latency_p99"]].mean()
    x = np.arange(2)
    width = 0.8 / len(means)
    for i, (d, row) in enumerate(means.iterrows()):
        ax.bar(x + (i - (len(means) - 1) / 2) * width, row.to_numpy(), width, color=color_for(d), label=str(d),
               edgecolor="black", linewidth=0.5)
    ax.set_xticks(x, ["p50", "p99"])
    ax.set_ylabel("request latency (ms)")
    ax.legend(title=by)
    if title is None and len(means) >= 2:
        fast, slow = means["latency_p99"].idxmin(), means["latency_p99"].idxmax()
        ratio = means.loc[slow, "latency_p99"] / means.loc[fast, "latency_p99"]
        title = f"p99 latency: {slow} is {ratio:.1f}x {fast}\n(every network hop between boundaries adds up)"
    ax.set_title(title or "")
    return ax


def infrastructure_parts(df: pd.DataFrame, ax: Axes | None = None, by: str = "design",
                         title: str | None = None) -> Axes:
    """Things to run per design: app instances, databases and broker nodes, stacked."""
    ax = _ax(ax)
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
    ax.legend(fontsize="small")
    if title is None:
        title = " vs ".join(f"{d}: {int(v)}" for d, v in first["infrastructure_parts"].items()) + " things to run"
    ax.set_title(title)
    return ax


def outage_impact(df: pd.DataFrame, ax: Axes | None = None, by: str = "outage", hue: str = "design",
                  title: str | None = None) -> Axes:
    """Failed requests per outage (x) and design (bars), labelled with how many boundaries were affected."""
    ax = _ax(ax, (8, 4))
    means = df.groupby([by, hue], sort=False)[["failed_requests", "affected_boundaries"]].mean()
    outages = list(dict.fromkeys(df[by]))
    designs = list(dict.fromkeys(df[hue]))
    x = np.arange(len(outages))
    width = 0.8 / len(designs)
    for i, d in enumerate(designs):
        rows = means.xs(d, level=hue).reindex(outages)
        pos = x + (i - (len(designs) - 1) / 2) * width
        ax.bar(pos, rows["failed_requests"].fillna(0).to_numpy(), width, color=color_for(d), label=str(d),
               edgecolor="black", linewidth=0.5)
        for p, (failed, hit) in zip(pos, rows[["failed_requests", "affected_boundaries"]].to_numpy()):
            if not np.isnan(failed):
                ax.text(p, failed, f"{hit:.0f} hit", ha="center", va="bottom", fontsize="small")
    ax.set_xticks(x, [str(o) for o in outages])
    ax.set_xlabel(by)
    ax.set_ylabel("failed requests per run")
    ax.legend(title=hue)
    if title is None:
        hit = means["failed_requests"].unstack(hue).reindex(outages)
        hit = hit[hit.fillna(0).sum(axis=1) > 0]
        title = "failed requests (label: boundaries hit)\n" + "; ".join(
            f"{o}: " + ", ".join(f"{d} {v:.0f}" for d, v in row.dropna().items()) for o, row in hit.iterrows())
    ax.set_title(title)
    return ax
