"""Figures of lesson 09, the broker outage (:func:`~simkit.scenarios.outage`).

:func:`follow_timeline` draws one lane per component, every other message's steps as
background dots, the outage shaded, and the followed message's steps circled in red,
joined and named (lesson 11's failed-request timeline builds on it).
:func:`lost_event_timeline` picks a lost event from a run's checks and says what
happened to it; :func:`failures_over_time`, :func:`backlog_over_time` and
:func:`outage_timeline` set the designs side by side over the run, and
:func:`loss_and_drain_vs_outage` over the outage's length. Each returns its axes and
titles the figure with its finding unless given a ``title``.
"""

from __future__ import annotations

from typing import Any, Iterable, Mapping, Sequence

import matplotlib.pyplot as plt
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.lines import Line2D
from matplotlib.patches import Patch
from matplotlib.ticker import MaxNLocator

from ..errors import ConfigError
from ..results import RunResult
from ._base import (
    FAILURE,
    FOLLOWED,
    NEUTRAL,
    OTHER_STEPS,
    axes_or_new,
    color_for,
    example_id,
    message_path,
    shade_windows,
)

__all__ = [
    "FAILURE_EVENTS", "backlog_over_time", "failures_over_time", "follow_timeline", "loss_and_drain_vs_outage",
    "lost_event_timeline", "outage_timeline",
]

#: steps that mean something was refused, retried or given up on (drawn warm in the background)
FAILURE_EVENTS = frozenset({"rejected", "retry", "send_failed", "event_dropped", "request_failed", "step_failed",
                            "commit_failed", "db_unavailable"})


def follow_timeline(
    result: RunResult,
    msg_id: Any,
    ax: Axes | None = None,
    components: Sequence[str] | None = None,
    window: tuple[float, float] | None = None,
    outages: Iterable[tuple[float, float]] = (),
    outage_label: str = "broker down",
    title: str | None = None,
) -> Axes:
    """Follow ``msg_id`` through ``result``'s trace: one lane per component, its steps circled and named.

    The steps are joined along the hand-offs that happened (:func:`~simkit.plots.message_path`),
    not merely in time order; a redelivery or a second write of the same step is dashed.

    ``components`` are the lanes, top to bottom (default: the components the message
    touches, in order of first appearance). ``window`` (ms) limits the time shown
    (default: the message's first to last step, with a margin). ``outages`` are
    (start, end) windows in ms, shaded and labelled ``outage_label``. Other messages'
    steps in the same lanes are small dots: grey for normal steps, orange crosses for
    refusals, retries and failures (:data:`FAILURE_EVENTS`).
    """
    trace = result.trace
    mine = trace[trace["msg_id"] == msg_id]
    if mine.empty:
        raise ConfigError("msg_id", msg_id, "the id of a message in this run's trace")
    comps = list(components) if components is not None else list(dict.fromkeys(mine["component"].astype(str)))
    if window is None:
        lo, hi = float(mine["time"].min()), float(mine["time"].max())
        margin = max(0.1 * (hi - lo), 50.0)
        window = (max(lo - margin, 0.0), hi + margin)
    lo, hi = window
    rows = trace[(trace["time"] >= lo) & (trace["time"] <= hi) & trace["component"].astype(str).isin(comps)]
    lane = {c: i for i, c in enumerate(comps)}
    ax = axes_or_new(ax, (11, 0.55 * len(comps) + 1.8))

    others = rows[rows["msg_id"] != msg_id]
    bad = others["event"].astype(str).isin(FAILURE_EVENTS).to_numpy()
    y = others["component"].astype(str).map(lane).to_numpy(dtype=float)
    x = others["time"].to_numpy(dtype=float) / 1000.0
    ax.scatter(x[~bad], y[~bad], marker=".", s=10, color=OTHER_STEPS, zorder=2, linewidths=0)
    ax.scatter(x[bad], y[bad], marker="x", s=12, color=FAILURE, zorder=2, linewidths=0.8)

    shown = mine[mine["component"].astype(str).isin(comps)]
    mx = shown["time"].to_numpy(dtype=float) / 1000.0
    my = shown["component"].astype(str).map(lane).to_numpy(dtype=float)
    repeats = False
    for i, j, repeat in message_path(shown):  # along the hand-offs that happened, never merely in time order
        ax.plot([mx[i], mx[j]], [my[i], my[j]], color=FOLLOWED, linewidth=1.2, zorder=4,
                linestyle="--" if repeat else "-")
        repeats = repeats or repeat
    ax.scatter(mx, my, facecolors="white", edgecolors=FOLLOWED, s=70, linewidths=1.5, zorder=5)
    # name the steps; steps close together on one lane share one label, so labels do not overlap
    close = 0.04 * (hi - lo) / 1000.0
    for c in comps:
        on = shown[shown["component"].astype(str) == c]
        groups: list[tuple[float, list[str]]] = []
        for t, event in zip(on["time"].to_numpy(dtype=float) / 1000.0, on["event"].astype(str)):
            if groups and t - groups[-1][0] < close:
                if event not in groups[-1][1]:
                    groups[-1][1].append(event)
            else:
                groups.append((t, [event]))
        for t, events in groups:
            ax.annotate(", ".join(events), (t, lane[c]), xytext=(0, 8), textcoords="offset points",
                        ha="center", va="bottom", fontsize="small", color="darkred", zorder=6,
                        bbox=dict(boxstyle="round,pad=0.15", facecolor="white", edgecolor="none", alpha=0.8))

    windows = [(max(s, lo), min(e, hi)) for s, e in outages if e > lo and s < hi]
    shade_windows(ax, windows, label=outage_label, scale=1000.0)
    ax.set_yticks(range(len(comps)), comps)
    ax.set_ylim(-0.6, len(comps) - 0.2)
    ax.invert_yaxis()
    ax.set_xlim(lo / 1000.0, hi / 1000.0)
    ax.set_xlabel("time (s)")
    handles = [Line2D([], [], color=FOLLOWED, marker="o", markerfacecolor="white", label=f"{msg_id}'s steps")]
    if (~bad).any():  # a legend entry only for what is drawn
        handles.append(Line2D([], [], color=OTHER_STEPS, marker=".", linestyle="", label="other messages' steps"))
    if bad.any():
        handles.append(Line2D([], [], color=FAILURE, marker="x", linestyle="", label="refused, retried or failed"))
    if repeats:
        handles.insert(1, Line2D([], [], color=FOLLOWED, linestyle="--", label="delivered or written again"))
    if windows:
        handles.append(Patch(facecolor="grey", alpha=0.2, label=outage_label))
    ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize="small")
    ax.set_title(title if title is not None else f"{msg_id}: {', '.join(mine['event'].astype(str))}")
    return ax


def lost_event_timeline(result: RunResult, msg_id: Any = None, ax: Axes | None = None,
                        title: str | None = None) -> Axes:
    """Follow one order of an :func:`~simkit.scenarios.outage` run whose event was lost, broker outage shaded.

    ``msg_id`` defaults to the first example of the run's ``lost`` check; a run that lost
    nothing raises :class:`~simkit.ConfigError`. The title says when the order was stored
    and answered and when its event was given up, read from the trace.
    """
    msg_id = example_id(result, "outage", "lost", msg_id,
                      "a run that lost an event (direct_publish with an outage longer than publish_timeout)")
    lost = result.checks["lost"]
    start, end = float(result.report["outage_start"]), float(result.report["outage_end"])
    t = result.trace
    mine = t[t["msg_id"] == msg_id]
    comps = [c for c in ["client", "orders-db", "orders-producer", "broker", "order-service"]
             if c in set(t["component"].astype(str))]
    lo = max(min(start, float(mine["time"].min())) - 500.0, 0.0)
    hi = max(end, float(mine["time"].max())) + 500.0
    ax = follow_timeline(result, msg_id, ax=ax, components=comps, window=(lo, hi), outages=[(start, end)])
    if title is None:
        def at(event: str) -> float:
            hit = mine.loc[mine["event"] == event, "time"]
            return float(hit.iloc[0]) / 1000.0 if len(hit) else float("nan")

        gave_up = at("send_failed")
        during = "while the broker was still down" if start / 1000.0 <= gave_up < end / 1000.0 else "after the outage"
        title = (f"{result.params['design']}: {msg_id} was stored and answered at {at('responded'):.2f} s,\n"
                 f"but the producer gave up on its event at {gave_up:.2f} s, {during}: event lost\n"
                 f"({lost.count} of {int(result.report['requests'])} orders' events lost in this run)")
    ax.set_title(title)
    return ax


def loss_and_drain_vs_outage(df: pd.DataFrame, axes: Sequence[Axes] | None = None,
                             publish_timeout: float | None = None) -> tuple[Axes, Axes]:
    """How an outage's length shows in each design: events lost (left) and time to drain (right).

    ``df`` is a :func:`simkit.sweep` of :func:`~simkit.scenarios.outage` over its
    ``outage_ms`` (and ``design``); the outage's length is read from each row's
    ``outage_end - outage_start``. Every run is a dot, the line joins the means.
    ``publish_timeout`` (ms) draws the producer's delivery timeout on the left panel.
    """
    need = {"design", "outage_start", "outage_end", "lost", "drain_ms"}
    if not need <= set(df.columns):
        raise ConfigError("df", sorted(df.columns), f"a sweep of sk.scenarios.outage with columns {sorted(need)}")
    if axes is None:
        _, made = plt.subplots(1, 2, figsize=(12, 4), layout="constrained")
        axes = list(made)
    if len(axes) != 2:
        raise ConfigError("axes", axes, "two matplotlib axes, for lost events and drain time")
    left, right = axes
    d = df.assign(outage_s=(df["outage_end"] - df["outage_start"]) / 1000.0, drain_s=df["drain_ms"] / 1000.0)
    longest = float(d["outage_s"].max())
    queued = set(d.loc[d.get("outbox_lag_max", pd.Series(0, index=d.index)) > 0, "design"])
    ends: dict[str, dict[str, float]] = {"lost": {}, "drain_s": {}}
    for ax, col in ((left, "lost"), (right, "drain_s")):
        for design, g in d.groupby("design", sort=False):
            if col == "drain_s" and design not in queued:
                continue  # nothing waited: an event that never arrives does not drain
            ax.scatter(g["outage_s"], g[col], color=color_for(design), s=14, alpha=0.6)
            m = g.groupby("outage_s")[col].mean()
            ax.plot(m.index, m.to_numpy(), color=color_for(design), marker="o", label=f"{design} (mean)")
            ends[col][str(design)] = float(m.iloc[-1])
        ax.set_xlabel("broker outage (s)")
        ax.set_ylim(bottom=0)
    if publish_timeout is not None:
        left.axvline(publish_timeout / 1000.0, color="black", linestyle="--", linewidth=1,
                     label="producer's delivery timeout")
    left.set_ylabel("events lost per run")
    right.set_ylabel("time to drain after recovery (s)")
    left.legend(fontsize="small", loc="upper left")
    right.legend(fontsize="small", loc="upper left")
    left.set_title(f"events lost per run after {longest:g} s down (dots: one run each):\n"
                   + ", ".join(f"{k} {v:.0f}" for k, v in ends["lost"].items()))
    if ends["drain_s"]:
        right.set_title(f"after a {longest:g} s outage the backlog needs\n"
                        + ", ".join(f"{v:.2f} s ({k})" for k, v in ends["drain_s"].items()) + " to drain")
    else:
        right.set_title("no outbox: nothing waited to drain")
    return left, right


def _outage_window(results: Mapping[str, RunResult]) -> list[tuple[float, float]]:
    r = next(iter(results.values()))
    return [(float(r.report["outage_start"]), float(r.report["outage_end"]))]


def failures_over_time(results: Mapping[str, RunResult], ax: Axes | None = None, title: str | None = None) -> Axes:
    """Failed requests (solid) and lost events (dotted) so far, per design, broker outage shaded.

    ``results`` maps design -> :func:`~simkit.scenarios.outage` run; a design that lost
    nothing draws no dotted line, and the designs that failed no request share one grey
    line at zero (one legend entry naming them all, not lines hidden under each other).
    """
    ax = axes_or_new(ax, (9, 3.5))
    never_failed = [d for d, r in results.items() if not r.series["failed"]["failed"].any()]
    for design, r in results.items():
        f = r.series["failed"]
        if design in never_failed:
            continue
        ax.step(f["time"] / 1000, f["failed"], where="post", color=color_for(design),
                label=f"{design}: failed requests")
    if never_failed:
        f = results[never_failed[0]].series["failed"]
        ax.step(f["time"] / 1000, f["failed"], where="post", color=NEUTRAL, linewidth=2.5,
                label="no failed request:\n" + ",\n".join(never_failed))
    for design, r in results.items():
        lost = r.series.get("lost")
        if lost is not None and len(lost) and lost["lost"].max() > 0:
            ax.step(lost["time"] / 1000, lost["lost"], where="post", color=color_for(design), linestyle=":",
                    linewidth=2, label=f"{design}: lost events")
    shade_windows(ax, _outage_window(results), label="broker down", scale=1000.0)
    ax.set_xlabel("time (s)")
    ax.set_ylabel("so far (orders)")
    ax.yaxis.set_major_locator(MaxNLocator(integer=True, steps=[1, 2, 5, 10]))  # whole orders, by 1, 2 or 5
    if len(never_failed) == len(results) and not any(
            r.series.get("lost") is not None and r.series["lost"]["lost"].max() > 0 for r in results.values()):
        ax.set_ylim(-0.5, 5)  # every line at zero: show it as zero on a scale of orders, not of hundredths
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
        parts = [f"{d} peaks at {int(r.report['outbox_lag_max'])} rows, drained "
                 f"{r.report['drain_ms'] / 1000:.2g} s after the broker returned"
                 for d, r in results.items() if r.report["outbox_lag_max"] > 0]
        title = "; ".join(parts) if parts else "no outbox: nothing waits"
    ax.set_title(title)
    return ax


def outage_timeline(results: Mapping[str, RunResult], axes: Sequence[Axes] | None = None) -> tuple[Axes, Axes]:
    """Failed requests (top) and outbox backlog (bottom) over time, per design, broker outage shaded.

    ``results`` maps design -> :func:`~simkit.scenarios.outage` run (one seed, one
    window). Returns the two axes; the top title names the outage and the producers' delivery
    timeout (``publish_timeout``; whether it outlasts the outage decides what fails) and counts
    failures and losses.
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
    start, end = top_window
    timeout = next(iter(results.values())).params.get("publish_timeout")
    gives_up = "" if timeout is None else (
        f", producers give up after {timeout / 1000:g} s"
        + (" (longer than the outage)" if timeout >= end - start else ""))
    top.set_title(f"broker down {start / 1000:g}-{end / 1000:g} s{gives_up}:\n" + "; ".join(
        f"{d} {int(r.report['failed_requests'])} failed, {int(r.report['lost'])} lost"
        for d, r in results.items()))
    if fig is not None:  # fixed margins, room for the legends on the right: no layout pass at each redraw
        fig.subplots_adjust(left=0.07, right=0.75, bottom=0.09, top=0.89, hspace=0.3)
    return top, bottom
