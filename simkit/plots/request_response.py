"""Figures of lesson 02, request-response (:func:`~simkit.scenarios.request_response` and call chains).

:func:`request_timeline` follows one request (by default the slowest) through every
component it crossed and labels each hop with the milliseconds it cost;
:func:`latency_comparison` sets the designs' latency CDFs beside their percentiles.
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.lines import Line2D

from ..errors import ConfigError
from ..results import RunResult
from ._base import FOLLOWED, OTHER_STEPS, QUIET_EVENTS, follow_lanes, latency_cdf, latency_series, percentile_bars

__all__ = ["latency_comparison", "request_timeline"]


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
        a, b = designs[0], designs[1]
        va, vb = (np.percentile(latency_series(results[d], start, end).to_numpy(), percentiles)
                  for d in (a, b))
        every = "at every percentile" if (vb > va).all() else "at some percentiles"
        title = f"{b} is slower than {a} {every}: " + ", ".join(
            f"p{p:g} {y:.0f} vs {x:.0f} ms" for p, x, y in zip(percentiles, va, vb))
    if title:
        cdf.figure.suptitle(title)
    return cdf, bars


def _causal_rows(rows: list[Any]) -> list[Any]:
    """The request's rows in the order its hops happened, for drawing the path between them.

    A service commits its own database and answers in one instant, and records nothing
    when the call reaches it: time order alone would join the caller to the service's
    database lane before the service. Here the call goes to the service, the service to
    its database and back (``service-0`` -> ``service-0-db`` -> ``service-0``).
    """
    out: list[Any] = []
    i = 0
    while i < len(rows):
        row = rows[i]
        nxt = rows[i + 1] if i + 1 < len(rows) else None
        if (row.event == "db_commit" and nxt is not None and nxt.event == "served" and nxt.time == row.time
                and str(row.component) == f"{nxt.component}-db"):
            out += [nxt, row, nxt]
            i += 2
            continue
        out.append(row)
        i += 1
    return out


def request_timeline(result: RunResult, msg_id: Any = None, ax: Axes | None = None,
                     title: str | None = None, min_label: float = 0.04) -> Axes:
    """Follow one request through every component it crossed, each hop labelled with its ms.

    For runs of :func:`~simkit.scenarios.request_response` and
    :func:`~simkit.scenarios.call_chain`: the path is every step of ``msg_id`` and of
    the messages made for it (``msg_id/reply``), time from the request. ``msg_id``
    defaults to the slowest answered request. Hops that took at least ``min_label`` of
    the request's time carry their duration; waits between a record's ``append`` and a
    consumer's ``process`` (time in a topic until a poll picked it up) are drawn
    dashed. Other messages' steps in the same lanes are grey dots.
    """
    from ..checks import latencies

    trace = result.trace
    lat = latencies(trace, "request", "responded")
    if msg_id is None:
        if lat.empty:
            raise ConfigError("result", result.scenario, "a run with at least one answered request")
        msg_id = lat.idxmax()
    ids = trace["msg_id"].astype(str)
    mine = trace[(ids == str(msg_id)) | ids.str.startswith(f"{msg_id}/")]
    starts = mine.loc[mine["event"] == "request", "time"]
    if starts.empty:
        raise ConfigError("msg_id", msg_id, "the id of a request in this run, e.g. 'req-0'")
    t0 = float(starts.iloc[0])
    path = mine[~mine["event"].isin(QUIET_EVENTS)].sort_values("time", kind="stable")
    rows = _causal_rows(list(path.itertuples(index=False)))
    lanes = list(dict.fromkeys(str(r.component) for r in rows))
    answered = mine.loc[mine["event"] == "responded", "time"]
    t_answer = float(answered.iloc[0]) if len(answered) else None
    end = float(path["time"].max())
    total = max(end - t0, 1e-9)
    window = (t0 - 0.03 * total, end + 0.05 * total)
    if ax is None:
        _, ax = plt.subplots(figsize=(11, 0.5 * len(lanes) + 2.2), layout="constrained")
    lane = follow_lanes(ax, trace, path, lanes, t0, 1.0, window,
                        line=pd.DataFrame(rows, columns=path.columns))

    waited = 0.0
    longest = (0.0, "")
    for a, b in zip(rows, rows[1:]):
        dur = float(b.time - a.time)
        if dur > longest[0] and (t_answer is None or b.time <= t_answer):
            # name the service whose work ended the step (a commit is recorded just before its "served")
            same = path[(path["time"] == b.time) & (path["event"] == "served")]
            longest = (dur, str(same["component"].iloc[0]) if len(same) else str(b.component))
        polled = a.event == "append" and b.event == "process"
        if polled:
            waited += dur
            ax.plot([a.time - t0, b.time - t0], [lane[str(a.component)], lane[str(b.component)]],
                    color="white", linewidth=2.2, linestyle=(0, (2, 2)), zorder=3)
        if dur >= min_label * total:
            xm = (a.time + b.time) / 2 - t0
            ym = (lane[str(a.component)] + lane[str(b.component)]) / 2
            ax.annotate(f"{dur:.0f} ms", (xm, ym), xytext=(0, 4), textcoords="offset points", ha="center",
                        va="bottom", fontsize="small", color="darkred",
                        bbox=dict(boxstyle="round,pad=0.15", facecolor="white", edgecolor="none", alpha=0.8),
                        zorder=6)
    if t_answer is not None:
        ax.axvline(t_answer - t0, color="black", linestyle=":", linewidth=1, zorder=2)
    handles = [Line2D([], [], color=FOLLOWED, marker="o", markerfacecolor="white", label=f"{msg_id}'s steps"),
               Line2D([], [], color=FOLLOWED, linestyle=(0, (2, 2)), label="in a topic, until a consumer took it"),
               Line2D([], [], color=OTHER_STEPS, marker=".", linestyle="", label="other messages' steps"),
               Line2D([], [], color="black", linestyle=":", label="caller has the answer")]
    if not waited:
        del handles[1]
    ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize="small")
    ax.set_xlabel(f"time since {msg_id} was sent (ms)")

    if title is None:
        design = result.params.get("design", result.scenario)
        n = int((trace["event"] == "request").sum())
        which = f"slowest of {n} requests" if msg_id == (lat.idxmax() if len(lat) else None) else str(msg_id)
        served = path.loc[path["event"] == "served", "component"].nunique()
        title = f"{design}, {which}: {msg_id}"
        title += f" waited {t_answer - t0:.0f} ms for its answer" if t_answer is not None else " was never answered"
        if served:
            title += f", {served} service{'s' if served > 1 else ''} did work for it"
        extra = []
        if served > 1 and t_answer is not None and longest[0] > 0.3 * (t_answer - t0):
            extra.append(f"its step into {longest[1]} alone took {longest[0]:.0f} ms")
        if waited:
            extra.append(f"{waited:.0f} ms of it sat in topics until a consumer picked it up")
        if t_answer is not None and end > t_answer + 1e-9:
            extra.append(f"the last service finished {end - t_answer:.0f} ms after the answer")
        if extra:
            title += "\n" + "; ".join(extra)
    ax.set_title(title)
    return ax
