"""Figures that follow one run of the sync-or-async lessons (01, read your own writes; 02, request-response).

:func:`stale_read_timeline` follows one profile update from the user's request to the
commit that made it readable, and marks the read that came too early.
:func:`request_timeline` follows one request (by default the slowest) through every
component it crossed and labels each hop with the milliseconds it cost.
:func:`lag_and_reads` puts every read of a profile-update run on the writer's lag curve.
All of them read the trace only, return their axes and title the figure with what
happened, computed from the run.
"""

from __future__ import annotations

from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.lines import Line2D
from matplotlib.patches import Patch

from ..errors import ConfigError
from ..results import RunResult
from ._base import color_for

__all__ = ["lag_and_reads", "request_timeline", "stale_read_timeline"]

#: bookkeeping steps left out of a followed path (they repeat a step already drawn)
_QUIET = frozenset({"commit", "processed", "fetch", "outbox_read", "outbox_marked"})


def _span(ms: float) -> str:
    """A duration for a title: ms below 2 s, else seconds."""
    return f"{ms / 1000:.1f} s" if abs(ms) >= 2000 else f"{ms:.0f} ms"


def _lanes(ax: Axes, trace: pd.DataFrame, path: pd.DataFrame, lanes: list[str], t0: float, scale: float,
           window: tuple[float, float], line: pd.DataFrame | None = None) -> dict[str, int]:
    """Draw the lanes: other messages' steps as grey dots, the followed path circled in red and joined.

    ``line`` (default ``path``) are the rows the red line joins, in time order. Returns lane numbers.
    """
    lane = {c: i for i, c in enumerate(lanes)}
    lo, hi = window
    comp = trace["component"].astype(str)
    other = trace[(trace["time"] >= lo) & (trace["time"] <= hi) & comp.isin(lanes)
                  & ~trace.index.isin(path.index) & ~trace["event"].isin(_QUIET)]
    ax.scatter((other["time"] - t0) / scale, other["component"].astype(str).map(lane), s=6, color="#b0b0b0",
               zorder=1, linewidths=0)
    line = path if line is None else line
    ax.plot((line["time"] - t0) / scale, line["component"].astype(str).map(lane), color="red", linewidth=1.2,
            zorder=3)
    ax.scatter((path["time"] - t0) / scale, path["component"].astype(str).map(lane), facecolors="white",
               edgecolors="red", s=45, zorder=4)
    ax.set_yticks(range(len(lanes)), lanes)
    ax.set_ylim(len(lanes) - 0.4, -0.9)
    ax.set_xlim((lo - t0) / scale, (hi - t0) / scale)
    ax.grid(axis="x", color="#eeeeee", zorder=0)
    return lane


def stale_read_timeline(result: RunResult, update_id: Any = None, ax: Axes | None = None,
                        title: str | None = None) -> Axes:
    """Follow one profile update of a :func:`~simkit.scenarios.profile_update` run, its read marked.

    One lane per component the update crossed (client, profile API, broker, the
    writer, the database), time from the user's request. The update's steps are
    circled in red and joined; other messages' steps are grey dots (in the writer's
    lane: the records it handled first). The user's read is a large cross (red when it
    returned the old profile, green when it saw the change), the commit that made the
    change readable a star, and the time between a stale read and that commit is
    shaded. ``update_id`` defaults to the run's first stale read, or its first update.
    """
    from ..scenarios.profile_update import PROFILES, stale_reads

    trace = result.trace
    if update_id is None:
        stale = stale_reads(trace)
        requests = trace.loc[(trace["event"] == "request") & (trace["component"] == "client"), "msg_id"]
        if not stale.count and requests.empty:
            raise ConfigError("result", result.scenario, "a profile_update run with at least one update")
        update_id = stale.examples[0] if stale.count else requests.iloc[0]
    mine = trace[trace["msg_id"] == update_id]
    if mine.empty or not (mine["event"] == "request").any():
        raise ConfigError("update_id", update_id, "the id of an update in this run, e.g. 'update-0'")
    t0 = float(mine.loc[mine["event"] == "request", "time"].iloc[0])
    path = mine[~mine["event"].isin(_QUIET)].sort_values("time", kind="stable")
    read = mine[mine["event"] == "profile_read"]
    commits = mine[(mine["event"] == "db_commit")
                   & mine["detail"].map(lambda d: isinstance(d, str) and PROFILES in d.split(","))]
    answered = mine.loc[mine["event"] == "responded", "time"]
    visible = float(commits["time"].iloc[0]) if len(commits) else None
    t_read = float(read["time"].iloc[0]) if len(read) else None
    was_stale = bool(len(read)) and read["detail"].iloc[0] != update_id

    lanes = list(dict.fromkeys(path["component"].astype(str)))
    end = max(float(path["time"].max()), t0 + 1.0)
    total = end - t0
    seconds = total >= 2000
    scale, unit = (1000.0, "s") if seconds else (1.0, "ms")
    window = (t0 - 0.04 * total, end + 0.06 * total)
    if ax is None:
        _, ax = plt.subplots(figsize=(11, 0.55 * len(lanes) + 2.2), layout="constrained")
    # the line follows the change itself (request, produce, append, apply, commit); the answer and the
    # read are circles on the client's lane
    journey = path[~path["event"].isin(["responded", "profile_read"])]
    lane = _lanes(ax, trace, path, lanes, t0, scale, window, line=journey)
    appended, applied = journey[journey["event"] == "append"], journey[journey["event"] == "process"]
    if len(appended) and len(applied):
        a, b = appended.iloc[0], applied.iloc[0]
        ax.plot([(a["time"] - t0) / scale, (b["time"] - t0) / scale], [lane[str(a["component"])],
                lane[str(b["component"])]], color="white", linewidth=2.2, linestyle=(0, (2, 2)), zorder=3)
    middle = (window[0] + window[1]) / 2

    handles: list[Any] = [Line2D([], [], color="red", marker="o", markerfacecolor="white", label=f"{update_id}'s steps"),
                          Line2D([], [], color="#b0b0b0", marker=".", linestyle="", label="other messages' steps")]
    if len(appended) and len(applied):
        handles.insert(1, Line2D([], [], color="red", linestyle=(0, (2, 2)), label="in the topic, until the writer got to it"))
    if t_read is not None:
        colour = "red" if was_stale else "#2ca02c"
        ax.scatter([(t_read - t0) / scale], [lane["client"]], marker="X", s=260, color=colour, edgecolor="black",
                   zorder=5)
        what = "the read returned the OLD profile" if was_stale else "the read saw the change"
        right = t_read > middle
        ax.annotate(what, ((t_read - t0) / scale, lane["client"]), xytext=(-12 if right else 12, -14),
                    textcoords="offset points", color=colour, fontweight="bold", va="top",
                    ha="right" if right else "left")
    if visible is not None:
        comp = str(commits["component"].iloc[0])
        ax.scatter([(visible - t0) / scale], [lane[comp]], marker="*", s=320, color="#2ca02c", edgecolor="black",
                   zorder=5)
        right = visible > middle
        ax.annotate("change committed: readable from here", ((visible - t0) / scale, lane[comp]),
                    xytext=(-12 if right else 12, 12), textcoords="offset points", ha="right" if right else "left",
                    color="#2ca02c", fontweight="bold")
    if was_stale and t_read is not None:
        ax.axvspan((t_read - t0) / scale, ((visible if visible is not None else end) - t0) / scale,
                   color="red", alpha=0.08, zorder=0)
        handles.append(Patch(color="red", alpha=0.15, label="user already looked; change not there yet"))
    ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize="small")
    ax.set_xlabel(f"time since the user's update request ({unit})")

    if title is None:
        user = str(mine["key"].dropna().iloc[0]) if mine["key"].notna().any() else str(update_id)
        after = _span(t_read - float(answered.iloc[0])) if t_read is not None and len(answered) else "?"
        if was_stale:
            writer = mine[mine["event"] == "process"]
            ahead = 0
            if len(writer):
                appended = mine.loc[mine["event"] == "append", "time"]
                start = float(appended.iloc[0]) if len(appended) else t0
                comp = str(writer["component"].iloc[0])
                ahead = int(((trace["component"] == comp) & (trace["event"] == "process")
                             & (trace["time"] > start) & (trace["time"] < float(writer["time"].iloc[0]))).sum())
            late = (f"the change became readable only {_span(visible - t_read)} after that read"
                    if visible is not None else "the change was never applied")
            title = (f"stale read: {user} looked again {after} after the 'saved' answer and got the old profile;\n"
                     f"{late}, once the writer had handled {ahead} other records first")
        elif t_read is not None:
            title = (f"{user} looked again {after} after the answer and saw the change "
                     f"(readable {_span(visible - t0) if visible is not None else '?'} after the request)")
        else:
            title = f"{update_id}: no read in this run"
    ax.set_title(title)
    return ax


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
    path = mine[~mine["event"].isin(_QUIET)].sort_values("time", kind="stable")
    lanes = list(dict.fromkeys(path["component"].astype(str)))
    answered = mine.loc[mine["event"] == "responded", "time"]
    t_answer = float(answered.iloc[0]) if len(answered) else None
    end = float(path["time"].max())
    total = max(end - t0, 1e-9)
    window = (t0 - 0.03 * total, end + 0.05 * total)
    if ax is None:
        _, ax = plt.subplots(figsize=(11, 0.5 * len(lanes) + 2.2), layout="constrained")
    lane = _lanes(ax, trace, path, lanes, t0, 1.0, window)

    waited = 0.0
    longest = (0.0, "")
    rows = list(path.itertuples(index=False))
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
    handles = [Line2D([], [], color="red", marker="o", markerfacecolor="white", label=f"{msg_id}'s steps"),
               Line2D([], [], color="red", linestyle=(0, (2, 2)), label="in a topic, until a consumer took it"),
               Line2D([], [], color="#b0b0b0", marker=".", linestyle="", label="other messages' steps"),
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


def lag_and_reads(result: RunResult, ax: Axes | None = None, title: str | None = None) -> Axes:
    """The writer's consumer lag over time, with every user's read placed on it (a :func:`profile_update` run).

    Stale reads are red crosses, reads that saw the change green dots, each at the lag
    sampled when the read happened. The title counts the stale reads and says how many
    came while the writer was still working off its starting backlog.
    """
    if "consumer_lag" not in result.series:
        raise ConfigError("result", result.scenario, "a profile_update run (it has a consumer_lag series)")
    lag = result.series["consumer_lag"]
    trace = result.trace
    reads = trace[trace["event"] == "profile_read"]
    stale_mask = (reads["msg_id"].to_numpy() != reads["detail"].to_numpy())
    if ax is None:  # a fixed layout, no layout engine: a control redraws this figure, so it must be quick
        fig, ax = plt.subplots(figsize=(9.5, 4.2))
        fig.subplots_adjust(left=0.09, right=0.76, top=0.84, bottom=0.13)
    ax.step(lag["time"] / 1000, lag["lag"], where="post", color="#7f7f7f", linewidth=1.2,
            label="writer's lag (records)")
    times = lag["time"].to_numpy()
    values = lag["lag"].to_numpy()
    at = values[np.clip(np.searchsorted(times, reads["time"].to_numpy(), side="right") - 1, 0, None)] \
        if len(times) else np.zeros(len(reads))
    rt = reads["time"].to_numpy() / 1000
    ax.scatter(rt[~stale_mask], at[~stale_mask], marker="o", s=22, color=color_for("sync"), edgecolor="black",
               linewidth=0.3, zorder=3, label="read saw the change")
    ax.scatter(rt[stale_mask], at[stale_mask], marker="X", s=40, color=color_for("async"), edgecolor="black",
               linewidth=0.3, zorder=4, label="stale read (old profile)")
    ax.set_xlabel("time (s)")
    ax.set_ylabel("records the writer is behind")
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize="small")
    if title is None:
        n_stale, n = int(stale_mask.sum()), len(reads)
        peak = int(values.max()) if len(values) else 0
        if n_stale == 0:
            title = f"none of {n} reads was stale, though the writer was up to {peak} records behind"
        else:
            ipk = int(np.argmax(values))
            low = np.nonzero(values[ipk:] <= max(0.05 * peak, 5))[0]
            caught = float(times[ipk + low[0]]) if len(low) else float(times[-1])
            early = int((reads["time"].to_numpy()[stale_mask] <= caught).sum())
            some = "all" if early == n_stale else f"{early}"
            title = (f"{n_stale} of {n} reads were stale, {some} of them "
                     f"before {caught / 1000:.1f} s,\nwhile the writer worked down from {peak} records behind")
    ax.set_title(title)
    return ax
