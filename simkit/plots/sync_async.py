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
from ._base import _ax, color_for, latency_cdf, percentile_bars, shade_windows

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
    ax = _ax(ax)
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
        worst = df.loc[df["stale_read_rate"].idxmax()]
        calm = df.groupby("design")["stale_read_rate"].max()
        safe = [str(d) for d, v in calm.items() if v == 0]
        title = (f"{worst['design']}: up to {worst['stale_read_rate']:.0%} stale reads at "
                 f"{worst[x] / scale:.3g} {label.rsplit('(', 1)[-1].rstrip(')')} behind")
        if safe:
            title += f"; {', '.join(safe)}: none at any lag"
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
        parts = [f"{d} {_ms(np.percentile(s, 99))}" for d, s in samples.items() if len(s)]
        title = "99% of updates readable within: " + ", ".join(parts)
    ax.set_title(title)
    return ax


def latency_comparison(results: Mapping[str, Any], axes: Sequence[Axes] | None = None,
                       start: str = "request", end: str = "responded",
                       percentiles: Sequence[float] = (50, 95, 99)) -> tuple[Axes, Axes]:
    """Latency CDF (left) and percentile bars (right) for each design, from ``start`` to ``end`` rows.

    ``results`` maps design -> RunResult (or a latency series in ms). Returns the two axes.
    """
    if axes is None:
        _, made = plt.subplots(1, 2, figsize=(13, 4.2), layout="constrained")
        axes = list(made)
    if len(axes) != 2:
        raise ConfigError("axes", axes, "two matplotlib axes, for the CDF and the bars")
    cdf, bars = axes
    latency_cdf(results, ax=cdf, start=start, end=end)
    percentile_bars(results, percentiles, ax=bars, start=start, end=end)
    return cdf, bars


def chain_latency(df: pd.DataFrame, ax: Axes | None = None, title: str | None = None) -> Axes:
    """Mean (solid) and p99 (dashed) latency against the number of hops, per design (s).

    ``df`` holds :func:`~simkit.scenarios.call_chain` reports with ``design`` and
    ``hops`` columns (e.g. from ``sk.sweep``); seeds are averaged.
    """
    for column in ("design", "hops", "latency_mean", "latency_p99"):
        if column not in df.columns:
            raise ConfigError("df", sorted(df.columns), f"a frame of call_chain reports with {column!r}")
    ax = _ax(ax)
    m = df.groupby(["design", "hops"], sort=False)[["latency_mean", "latency_p99"]].mean().reset_index()
    for design, g in m.groupby("design", sort=False):
        g = g.sort_values("hops")
        color = color_for(design)
        ax.plot(g["hops"], g["latency_mean"] / 1000, "o-", color=color, label=f"{design} mean")
        ax.plot(g["hops"], g["latency_p99"] / 1000, "s--", color=color, label=f"{design} p99")
    ax.set_xlabel("services the request's work lies in (hops)")
    ax.set_ylabel("latency until the user has an answer (s)")
    ax.set_xticks(sorted(m["hops"].unique()))
    ax.legend(fontsize="small")
    if title is None:
        parts = []
        for design, g in m.groupby("design", sort=False):
            g = g.sort_values("hops")
            lo, hi = g.iloc[0], g.iloc[-1]
            parts.append(f"{design}: mean {_ms(lo['latency_mean'])} to {_ms(hi['latency_mean'])}, "
                         f"p99 {_ms(lo['latency_p99'])} to {_ms(hi['latency_p99'])}")
        hops = sorted(m["hops"].unique())
        title = f"from {hops[0]} to {hops[-1]} hops\n" + "\n".join(parts)
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
    ax = _ax(ax, (9, 3.5))
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
    ax.set_ylabel("so far (count)")
    ax.legend(fontsize="small")
    if title is None:
        title = "requests answered with an error: " + ", ".join(
            f"{d} {int(r.report['failed_requests'])}" for d, r in results.items())
    ax.set_title(title)
    return ax


def backlog_over_time(results: Mapping[str, RunResult], ax: Axes | None = None, title: str | None = None) -> Axes:
    """Outbox rows waiting to be published, per design (zero without an outbox), outage shaded."""
    ax = _ax(ax, (9, 3.5))
    for design, r in results.items():
        b = r.series["backlog"]
        ax.step(b["time"] / 1000, b["backlog"], where="post", color=color_for(design), label=str(design))
    shade_windows(ax, _outage_window(results), label="broker down", scale=1000.0)
    ax.set_xlabel("time (s)")
    ax.set_ylabel("outbox rows waiting")
    ax.legend(fontsize="small")
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
    if axes is None:
        _, made = plt.subplots(2, 1, figsize=(10, 6), sharex=True, layout="constrained")
        axes = list(made)
    if len(axes) != 2:
        raise ConfigError("axes", axes, "two matplotlib axes, for failures and backlog")
    top, bottom = axes
    failures_over_time(results, ax=top)
    backlog_over_time(results, ax=bottom)
    top.set_xlabel("")
    top.set_title("during the outage: " + "; ".join(
        f"{d} {int(r.report['failed_requests'])} failed, {int(r.report['lost'])} lost"
        for d, r in results.items()))
    return top, bottom


def _ms(v: float) -> str:
    return f"{v / 1000:.2g} s" if v >= 1000 else f"{v:.0f} ms"
