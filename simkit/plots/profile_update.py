"""Figures of lesson 01, read your own writes (:func:`~simkit.scenarios.profile_update`).

:func:`stale_read_timeline` follows one profile update from the user's request to the
commit that made it readable, and marks the read that came too early.
:func:`lag_and_reads` puts every read of a run on the writer's lag curve.
:func:`visibility_cdf` and :func:`stale_reads_vs_lag` compare designs and runs. All of
them read the trace or the reports only, return their axes and title the figure with
what happened, computed from the run.
"""

from __future__ import annotations

import warnings
from typing import Any, Mapping

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.lines import Line2D
from matplotlib.patches import Patch

from ..errors import ConfigError
from ..glossary import RENAMED
from ..results import RunResult
from ._base import (
    FOLLOWED,
    GOOD,
    NEUTRAL,
    OTHER_STEPS,
    QUIET_EVENTS,
    color_for,
    follow_lanes,
    format_ms,
    latency_cdf,
)

__all__ = ["LAG_AXES", "lag_and_reads", "stale_read_timeline", "stale_reads_vs_lag", "visibility_cdf"]


def _span(ms: float) -> str:
    """A duration for a title: ms below 2 s, else seconds."""
    return f"{ms / 1000:.1f} s" if abs(ms) >= 2000 else f"{ms:.0f} ms"



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
    path = mine[~mine["event"].isin(QUIET_EVENTS)].sort_values("time", kind="stable")
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
    lane = follow_lanes(ax, trace, path, lanes, t0, scale, window, line=journey)
    appended, applied = journey[journey["event"] == "append"], journey[journey["event"] == "process"]
    if len(appended) and len(applied):
        a, b = appended.iloc[0], applied.iloc[0]
        ax.plot([(a["time"] - t0) / scale, (b["time"] - t0) / scale], [lane[str(a["component"])],
                lane[str(b["component"])]], color="white", linewidth=2.2, linestyle=(0, (2, 2)), zorder=3)
    middle = (window[0] + window[1]) / 2

    handles: list[Any] = [Line2D([], [], color=FOLLOWED, marker="o", markerfacecolor="white",
                                 label=f"{update_id}'s steps"),
                          Line2D([], [], color=OTHER_STEPS, marker=".", linestyle="", label="other messages' steps")]
    if len(appended) and len(applied):
        handles.insert(1, Line2D([], [], color=FOLLOWED, linestyle=(0, (2, 2)),
                                 label="in the topic, until the writer got to it"))
    if t_read is not None:
        colour = FOLLOWED if was_stale else GOOD
        ax.scatter([(t_read - t0) / scale], [lane["client"]], marker="X", s=260, color=colour, edgecolor="black",
                   zorder=5)
        what = "the read returned the OLD profile" if was_stale else "the read saw the change"
        right = t_read > middle
        ax.annotate(what, ((t_read - t0) / scale, lane["client"]), xytext=(-12 if right else 12, -14),
                    textcoords="offset points", color=colour, fontweight="bold", va="top",
                    ha="right" if right else "left")
    if visible is not None:
        comp = str(commits["component"].iloc[0])
        ax.scatter([(visible - t0) / scale], [lane[comp]], marker="*", s=320, color=GOOD, edgecolor="black",
                   zorder=5)
        right = visible > middle
        ax.annotate("change committed: readable from here", ((visible - t0) / scale, lane[comp]),
                    xytext=(-12 if right else 12, 12), textcoords="offset points", ha="right" if right else "left",
                    color=GOOD, fontweight="bold")
    if was_stale and t_read is not None:
        ax.axvspan((t_read - t0) / scale, ((visible if visible is not None else end) - t0) / scale,
                   color=FOLLOWED, alpha=0.08, zorder=0)
        handles.append(Patch(color=FOLLOWED, alpha=0.15, label="user already looked; change not there yet"))
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
    ax.step(lag["time"] / 1000, lag["lag"], where="post", color=NEUTRAL, linewidth=1.2,
            label="writer's lag (records)")
    times = lag["time"].to_numpy()
    values = lag["lag"].to_numpy()
    at = values[np.clip(np.searchsorted(times, reads["time"].to_numpy(), side="right") - 1, 0, None)] \
        if len(times) else np.zeros(len(reads))
    rt = reads["time"].to_numpy() / 1000
    # a kind of read that never happened gets no legend entry (the title says "none of ... was stale")
    ax.scatter(rt[~stale_mask], at[~stale_mask], marker="o", s=22, color=color_for("sync"), edgecolor="black",
               linewidth=0.3, zorder=3, label="read saw the change" if (~stale_mask).any() else None)
    ax.scatter(rt[stale_mask], at[stale_mask], marker="X", s=40, color=color_for("async"), edgecolor="black",
               linewidth=0.3, zorder=4, label="stale read (old profile)" if stale_mask.any() else None)
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


#: x columns :func:`stale_reads_vs_lag` knows, with their axis label and the factor to its unit
LAG_AXES: dict[str, tuple[str, float]] = {
    "delay_mean": ("mean wait from append to applied (s)", 1000.0),
    "delay_p99": ("p99 wait from append to applied (s)", 1000.0),
    "lag_mean": ("mean consumer lag (records)", 1.0),
    "lag_max": ("peak consumer lag (records)", 1.0),
}
#: how :func:`stale_reads_vs_lag`'s title names a value of each x column
_LAG_PHRASES: dict[str, str] = {
    "delay_mean": "at a mean wait of {}", "delay_p99": "at a p99 wait of {}",
    "lag_mean": "at a mean lag of {}", "lag_max": "at a peak lag of {}",
}


def stale_reads_vs_lag(df: pd.DataFrame, x: str = "delay_mean", ax: Axes | None = None,
                       by: str | None = None, title: str | None = None) -> Axes:
    """Stale-read rate (%) against how far the applying consumer is behind, one dot per run.

    ``df`` holds :func:`~simkit.scenarios.profile_update` reports (from ``sk.sweep`` or
    ``sk.compare``) with a ``design`` column. ``x`` is one of :data:`LAG_AXES`. With
    ``by`` (the swept parameter, e.g. ``"backlog"``) a line joins each design's means.
    An old field name for ``x`` (``consumer_delay_mean``) still works, with a warning.
    """
    if x in RENAMED and RENAMED[x] in LAG_AXES:
        warnings.warn(f"report field {x!r} is now called {RENAMED[x]!r}", DeprecationWarning, stacklevel=2)
        x = RENAMED[x]
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
        at_lo = phrase.format(f"{lo[x] / scale:.2g} {unit}")
        title = (f"{calm.idxmax()}: {lo['stale_read_rate']:.0%} of reads stale {at_lo}"
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
