"""Figures of the sync-or-async lessons: reading your own writes, answers through a broker, outages.

Each takes results (a mapping design -> :class:`~simkit.RunResult`, or the DataFrame of
:func:`simkit.compare` / :func:`simkit.sweep`) and an optional ``ax``, returns it, and
titles the figure with its finding unless given a ``title``.
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.axes import Axes

from ..errors import ConfigError
from ..results import RunResult
from ._base import axes_or_new, color_for, format_ms, latency_cdf, percentile_bars, shade_windows

__all__ = [
    "backlog_over_time", "chain_latency", "failures_over_time", "latency_comparison", "outage_timeline",
    "stale_reads_vs_lag", "visibility_cdf",
]

#: x columns :func:`stale_reads_vs_lag` knows, with their axis label and the factor to its unit
LAG_AXES: dict[str, tuple[str, float]] = {
    "consumer_delay_mean": ("mean wait from append to applied (s)", 1000.0),
    "consumer_delay_p99": ("p99 wait from append to applied (s)", 1000.0),
    "consumer_lag_mean": ("mean consumer lag (records)", 1.0),
    "consumer_lag_max": ("peak consumer lag (records)", 1.0),
}
#: how :func:`stale_reads_vs_lag`'s title names a value of each x column
_LAG_PHRASES: dict[str, str] = {
    "consumer_delay_mean": "at a mean wait of {}", "consumer_delay_p99": "at a p99 wait of {}",
    "consumer_lag_mean": "at a mean lag of {}", "consumer_lag_max": "at a peak lag of {}",
}


def stale_reads_vs_lag(df: pd.DataFrame, x: str = "consumer_delay_mean", ax: Axes | None = None,
                       by: str | None = None, title: str | None = None) -> Axes:
    """Stale-read rate (%) against how far the applying consumer is behind, one dot per run.

    ``df`` holds :func:`~simkit.scenarios.profile_update` reports (from ``sk.sweep`` or
    ``sk.compare``) with a ``design`` column. ``x`` is one of :data:`LAG_AXES`. With
    ``by`` (the swept parameter, e.g. ``"backlog"``) a line joins each design's means.
    """
    if x not in LAG_AXES:
        raise ConfigError("x", x, tuple(LAG_AXES))
    for column in ("design", "stale_read_rate", x):
        if column not in df.columns:
            raise ConfigError("df", sorted(df.columns), f"a frame of profile_update reports with {column!r}")
    if ax is None:
        _, ax = plt.subplots(figsize=(8.5, 4.2), layout="constrained")
    label, scale = LAG_AXES[x]
    for design, g in df.groupby("design", sort=False):
        ax.scatter(g[x] / scale, g["stale_read_rate"] * 100, color=color_for(design), alpha=0.6, s=25,
                   label=str(design), edgecolor="black", linewidth=0.3)
        if by is not None and by in g.columns:
            m = g.groupby(by, sort=True)[[x, "stale_read_rate"]].mean()
            ax.plot(m[x] / scale, m["stale_read_rate"] * 100, color=color_for(design), linewidth=1.5)
    ax.set_xlabel(label)
    ax.set_ylabel("reads that missed the user's own update (%)")
    ax.set_ylim(-3, 103)
    ax.legend(title="design")
    if title is None and not (df["stale_read_rate"] > 0).any():
        title = "no stale reads at any lag"
    if title is None:
        calm = df.groupby("design", sort=False)["stale_read_rate"].max()
        safe = [str(d) for d, v in calm.items() if v == 0]
        g = df[df["design"] == calm.idxmax()]
        lo, hi = g.loc[g[x].idxmin()], g.loc[g[x].idxmax()]
        unit = label.rsplit("(", 1)[-1].rstrip(")")
        phrase = _LAG_PHRASES[x]
        title = (f"{calm.idxmax()}: {lo['stale_read_rate']:.0%} of reads stale {phrase.format(f'{lo[x] / scale:.2g} {unit}')}"
                 f", {hi['stale_read_rate']:.0%} at {hi[x] / scale:.2g} {unit}")
        if safe:
            title += f"\n{', '.join(safe)}: no stale read at any lag"
    ax.set_title(title)
    return ax


def visibility_cdf(results: Mapping[str, RunResult], ax: Axes | None = None, title: str | None = None) -> Axes:
    """How long after the request an update becomes readable, per design (log time axis).

    Reads each run's ``request`` and profile ``db_commit`` rows
    (:func:`simkit.scenarios.profile_update.visibility`).
    """
    from ..scenarios.profile_update import visibility

    samples = {d: visibility(r.trace) for d, r in results.items()}
    ax = latency_cdf(samples, ax=ax, log=True)
    ax.set_xlabel("time from the update request to visible (ms, log scale)")
    ax.set_ylabel("fraction of updates visible")
    if title is None:
        parts = [f"{d} {format_ms(np.percentile(s, 99))}" for d, s in samples.items() if len(s)]
        title = "99% of updates readable within: " + ", ".join(parts)
    ax.set_title(title)
    return ax


def latency_comparison(results: Mapping[str, Any], axes: Sequence[Axes] | None = None,
                       start: str = "request", end: str = "responded",
                       percentiles: Sequence[float] = (50, 95, 99), title: str | None = None) -> tuple[Axes, Axes]:
    """Latency CDF (left) and percentile bars (right) for each design, from ``start`` to ``end`` rows.

    ``results`` maps design -> RunResult (or a latency series in ms). Returns the two axes.
    The figure's title compares the first two designs at each percentile unless given.
    """
    if axes is None:
        _, made = plt.subplots(1, 2, figsize=(13, 4.6), layout="constrained")
        axes = list(made)
    if len(axes) != 2:
        raise ConfigError("axes", axes, "two matplotlib axes, for the CDF and the bars")
    cdf, bars = axes
    latency_cdf(results, ax=cdf, start=start, end=end, title="share of requests answered within x ms")
    percentile_bars(results, percentiles, ax=bars, start=start, end=end)
    designs = list(results)
    if title is None and len(designs) >= 2:
        from ._base import latency_series
        a, b = designs[0], designs[1]
        va, vb = (np.percentile(latency_series(results[d], start, end).to_numpy(), percentiles)
                  for d in (a, b))
        every = "at every percentile" if (vb > va).all() else "at some percentiles"
        title = f"{b} is slower than {a} {every}: " + ", ".join(
            f"p{p:g} {y:.0f} vs {x:.0f} ms" for p, x, y in zip(percentiles, va, vb))
    if title:
        cdf.figure.suptitle(title)
    return cdf, bars


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
    from matplotlib.patches import Patch
    handles.append(Patch(color="grey", alpha=0.25, label="lowest to highest seed"))
    ax.legend(handles=handles, fontsize="small", loc="upper left", bbox_to_anchor=(1.01, 1.0))
    if title is None:
        hops = sorted(m["hops"].unique())
        parts = []
        for design, g in m.groupby("design", sort=False):
            g = g.sort_values("hops")
            lo, hi = g.iloc[0], g.iloc[-1]
            verb = "grows" if hi["latency_mean"] > 1.5 * lo["latency_mean"] else "stays"
            parts.append(f"{design}: mean {verb} {format_ms(lo['latency_mean'])} \u2192 {format_ms(hi['latency_mean'])}, "
                         f"p99 {format_ms(lo['latency_p99'])} \u2192 {format_ms(hi['latency_p99'])}")
        title = f"answer time from {hops[0]} to {hops[-1]} hops\n" + "\n".join(parts)
    ax.set_title(title)
    return ax


def _outage_window(results: Mapping[str, RunResult]) -> list[tuple[float, float]]:
    r = next(iter(results.values()))
    return [(float(r.report["outage_start"]), float(r.report["outage_end"]))]


def failures_over_time(results: Mapping[str, RunResult], ax: Axes | None = None, title: str | None = None) -> Axes:
    """Failed requests (solid) and lost events (dotted) so far, per design, broker outage shaded.

    ``results`` maps design -> :func:`~simkit.scenarios.outage` run; a design that lost
    nothing draws no dotted line.
    """
    ax = axes_or_new(ax, (9, 3.5))
    for design, r in results.items():
        f = r.series["failed"]
        ax.step(f["time"] / 1000, f["failed"], where="post", color=color_for(design),
                label=f"{design}: failed requests")
        lost = r.series.get("lost")
        if lost is not None and len(lost) and lost["lost"].max() > 0:
            ax.step(lost["time"] / 1000, lost["lost"], where="post", color=color_for(design), linestyle=":",
                    linewidth=2, label=f"{design}: lost events")
    shade_windows(ax, _outage_window(results), label="broker down", scale=1000.0)
    ax.set_xlabel("time (s)")
    ax.set_ylabel("so far (orders)")
    ax.legend(fontsize="small", loc="upper left", bbox_to_anchor=(1.01, 1.0))
    if title is None:
        title = "requests answered with an error: " + ", ".join(
            f"{d} {int(r.report['failed_requests'])}" for d, r in results.items())
    ax.set_title(title)
    return ax


def backlog_over_time(results: Mapping[str, RunResult], ax: Axes | None = None, title: str | None = None) -> Axes:
    """Outbox rows waiting to be published, per design with an outbox (others never wait), outage shaded."""
    ax = axes_or_new(ax, (9, 3.5))
    for design, r in results.items():
        b = r.series["backlog"]
        if r.params.get("design") != "sync_core_outbox" and not b["backlog"].any():
            continue  # no outbox: a flat zero line would only hide the others
        ax.step(b["time"] / 1000, b["backlog"], where="post", color=color_for(design), label=str(design))
    shade_windows(ax, _outage_window(results), label="broker down", scale=1000.0)
    ax.set_xlabel("time (s)")
    ax.set_ylabel("outbox rows waiting")
    ax.set_ylim(bottom=0)
    ax.legend(fontsize="small", loc="upper left", bbox_to_anchor=(1.01, 1.0))
    if title is None:
        parts = [f"{d} peaks at {int(r.report['max_backlog'])} rows, drained "
                 f"{r.report['drain_ms'] / 1000:.2g} s after the broker returned"
                 for d, r in results.items() if r.report["max_backlog"] > 0]
        title = "; ".join(parts) if parts else "no outbox: nothing waits"
    ax.set_title(title)
    return ax


def outage_timeline(results: Mapping[str, RunResult], axes: Sequence[Axes] | None = None) -> tuple[Axes, Axes]:
    """Failed requests (top) and outbox backlog (bottom) over time, per design, broker outage shaded.

    ``results`` maps design -> :func:`~simkit.scenarios.outage` run (one seed, one
    window). Returns the two axes; the top title counts failures and losses.
    """
    fig = None
    if axes is None:
        fig, made = plt.subplots(2, 1, figsize=(11, 6), sharex=True)
        axes = list(made)
    if len(axes) != 2:
        raise ConfigError("axes", axes, "two matplotlib axes, for failures and backlog")
    top, bottom = axes
    top_window = _outage_window(results)[0]
    failures_over_time(results, ax=top)
    backlog_over_time(results, ax=bottom)
    top.set_xlabel("")
    top.set_title(f"broker down {top_window[0] / 1000:g}-{top_window[1] / 1000:g} s: " + "; ".join(
        f"{d} {int(r.report['failed_requests'])} failed, {int(r.report['lost'])} lost"
        for d, r in results.items()))
    if fig is not None:  # fixed margins, room for the legends on the right: no layout pass at each redraw
        fig.subplots_adjust(left=0.07, right=0.78, bottom=0.09, top=0.94, hspace=0.25)
    return top, bottom


