"""Timelines that follow one message through an outage (lessons 09, broker outage, and 11, deployment).

:func:`follow_timeline` draws one lane per component, every other message's steps as
background dots, the outage shaded, and the followed message's steps circled in red,
joined and named. :func:`lost_event_timeline` and :func:`failed_request_timeline` pick
the message from a run's checks and write a title that says what happened to it,
read from the trace.
"""

from __future__ import annotations

from typing import Any, Iterable, Sequence

import matplotlib.pyplot as plt
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.lines import Line2D
from matplotlib.patches import Patch

from ..errors import ConfigError
from ..results import RunResult
from ._base import axes_or_new, color_for, shade_windows

__all__ = ["failed_request_timeline", "follow_timeline", "loss_and_drain_vs_outage", "lost_event_timeline"]

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
    ax.scatter(x[~bad], y[~bad], marker=".", s=10, color="#b0b0b0", zorder=2, linewidths=0)
    ax.scatter(x[bad], y[bad], marker="x", s=12, color="#ff7f0e", zorder=2, linewidths=0.8)

    shown = mine[mine["component"].astype(str).isin(comps)]
    mx = shown["time"].to_numpy(dtype=float) / 1000.0
    my = shown["component"].astype(str).map(lane).to_numpy(dtype=float)
    ax.plot(mx, my, color="red", linewidth=1.2, zorder=4)
    ax.scatter(mx, my, facecolors="white", edgecolors="red", s=70, linewidths=1.5, zorder=5)
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
    handles = [Line2D([], [], color="red", marker="o", markerfacecolor="white", label=f"{msg_id}'s steps"),
               Line2D([], [], color="#b0b0b0", marker=".", linestyle="", label="other messages' steps"),
               Line2D([], [], color="#ff7f0e", marker="x", linestyle="", label="refused, retried or failed")]
    if windows:
        handles.append(Patch(facecolor="grey", alpha=0.2, label=outage_label))
    ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize="small")
    ax.set_title(title if title is not None else f"{msg_id}: {', '.join(mine['event'].astype(str))}")
    return ax


def _example(result: RunResult, scenario: str, check: str, msg_id: Any, needed: str) -> Any:
    """``msg_id``, or the first example of ``result.checks[check]``; a clear ConfigError for the wrong run."""
    if result.scenario != scenario:
        raise ConfigError("result", result.scenario, f"a run of sk.scenarios.{scenario}")
    if msg_id is not None:
        return msg_id
    examples = result.checks[check].examples
    if not examples:
        raise ConfigError("result", f"{result.params['design']} seed {result.seed}", needed)
    return examples[0]


def lost_event_timeline(result: RunResult, msg_id: Any = None, ax: Axes | None = None,
                        title: str | None = None) -> Axes:
    """Follow one order of an :func:`~simkit.scenarios.outage` run whose event was lost, broker outage shaded.

    ``msg_id`` defaults to the first example of the run's ``lost`` check; a run that lost
    nothing raises :class:`~simkit.ConfigError`. The title says when the order was stored
    and answered and when its event was given up, read from the trace.
    """
    msg_id = _example(result, "outage", "lost", msg_id,
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


def failed_request_timeline(result: RunResult, msg_id: Any = None, ax: Axes | None = None,
                            title: str | None = None) -> Axes:
    """Follow one failed request of a :func:`~simkit.scenarios.deployment` run, outages shaded.

    ``msg_id`` defaults to the first example of the run's ``failed`` check; a run in
    which no request failed raises :class:`~simkit.ConfigError`. The lanes are the
    client, the boundaries and databases the request touched, the producers and the
    broker. The title names the databases the request wrote to before it failed and
    the error the client got, read from the trace.
    """
    msg_id = _example(result, "deployment", "failed", msg_id,
                      "a run in which a request failed (services with a broker_outage or a db_outage)")
    failed = result.checks["failed"]
    t = result.trace
    mine = t[t["msg_id"] == msg_id]
    if mine.empty:
        raise ConfigError("msg_id", msg_id, "the id of a request in this run's trace")
    comps = list(dict.fromkeys(mine["component"].astype(str)))
    if "broker" in set(t["component"].astype(str)) and result.params.get("broker_outage") is not None:
        comps.append("broker")
    outages, label = [], "outage"
    if result.params.get("broker_outage") is not None:
        s, d = result.params["broker_outage"]
        outages, label = [(s, s + d)], "broker down"
    elif result.params.get("db_outage") is not None:
        b, s, d = result.params["db_outage"]
        outages, label = [(s, s + d)], f"{b} database down"
    lo_m, hi_m = float(mine["time"].min()), float(mine["time"].max())
    margin = max(0.15 * (hi_m - lo_m), 100.0)
    ax = follow_timeline(result, msg_id, ax=ax, components=comps, window=(max(lo_m - margin, 0.0), hi_m + margin),
                         outages=outages, outage_label=label)
    if title is None:
        wrote = list(dict.fromkeys(mine.loc[mine["event"] == "db_commit", "component"].astype(str)))
        kind = mine.loc[mine["event"] == "request", "detail"]
        why = mine.loc[mine["event"] == "request_failed", "detail"]
        asked = float(mine["time"].min())
        answered = float(mine.loc[mine["event"] == "request_failed", "time"].max()) if len(why) else hi_m
        did = f"committed to {_and(wrote)}, then" if wrote else "wrote nothing, then"
        title = (f"{result.params['design']}: {msg_id} ({kind.iloc[0] if len(kind) else 'request'}) {did} "
                 f"failed after {(answered - asked) / 1000.0:.2f} s:\n"
                 f"the client got an error ({why.iloc[0] if len(why) else 'no answer'}); "
                 f"{failed.count} of {int(result.report['requests'])} requests failed in this run")
    ax.set_title(title)
    return ax


def _and(items: Sequence[str]) -> str:
    items = list(items)
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]



def loss_and_drain_vs_outage(df: pd.DataFrame, axes: Sequence[Axes] | None = None,
                             publish_timeout: float | None = None) -> tuple[Axes, Axes]:
    """How an outage's length shows in each design: events lost (left) and time to drain (right).

    ``df`` is a :func:`simkit.sweep` of :func:`~simkit.scenarios.outage` over its
    ``duration`` (and ``design``); the outage's length is read from each row's
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
    queued = set(d.loc[d.get("max_backlog", pd.Series(0, index=d.index)) > 0, "design"])
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
