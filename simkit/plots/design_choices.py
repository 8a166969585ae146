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
from matplotlib.ticker import MaxNLocator

from ..results import RunResult
from ._base import axes_or_new, color_for, outcome_bars

__all__ = [
    "deployment_latency", "infrastructure_parts", "inversion_bars", "outage_impact", "partition_lag",
    "partition_load",
]

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


#: what each ordering metric counts, for legends and titles
_ORDER_METRICS: dict[str, tuple[str, str]] = {
    "out_of_order": ("changes", "changes applied out of order"),
    "stale_writes": ("changes", "older changes applied after a newer one"),
    "wrong_final": ("users", "users left with an older address"),
    "duplicates": ("changes", "changes applied twice"),
    "cross_type_inversions": ("events", "events applied before an earlier event of their user"),
}


def inversion_bars(df: pd.DataFrame, ax: Axes | None = None, by: str = "design",
                   metrics: Sequence[str] = ("out_of_order", "wrong_final"), title: str | None = None,
                   colors: Mapping[str, str] | None = None) -> Axes:
    """Ordering anomalies per design (mean over seeds, whiskers from the lowest to the highest run).

    The legend says what each metric counts (changes or users). ``colors`` maps values
    of ``by`` that are not design names (e.g. producer settings) to bar colours. The
    default title names the worst design's first metric against the changes produced
    and the designs that had none of any metric.
    """
    metrics = list(metrics)
    if title is None:
        means = df.groupby(by, sort=False)[metrics].mean()
        clean = [str(d) for d, row in means.iterrows() if (row == 0).all()]
        worst = means[metrics[0]].idxmax()
        what = _ORDER_METRICS.get(metrics[0], ("", metrics[0].replace("_", " ")))[1]
        of = f" of {df['produced'].mean():.0f}" if "produced" in df and _ORDER_METRICS.get(
            metrics[0], ("",))[0] == "changes" else ""
        title = (f"{worst}: {means.loc[worst, metrics[0]]:.3g}{of} {what} per run"
                 + (f";\n{', '.join(clean)}: none" if clean else ""))
    ax = outcome_bars(df, metrics, by=by, ax=ax, title=title, ylabel="per run (mean, min-max over seeds)")
    if colors:
        designs = list(dict.fromkeys(df[by]))
        for bars in ax.containers:
            for patch, d in zip(getattr(bars, "patches", []), designs):
                if d in colors:
                    patch.set_facecolor(colors[d])
    legend = ax.get_legend()
    if legend is not None:
        for text in legend.get_texts():
            unit = _ORDER_METRICS.get(text.get_text(), ("",))[0]
            if unit:
                text.set_text(f"{text.get_text()} ({unit})")
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
