"""Figures of the commit-policy lesson (04), read from :func:`simkit.scenarios.consume` runs.

* :func:`commit_vs_processed`: the committed offset against the record being handled,
  with the gap between them shaded: red where the commit runs ahead (a crash there
  loses records), orange where it trails (a crash there repeats them).
* :func:`anomaly_timeline`: the swimlane timeline zoomed on one lost or duplicated
  message, with the crash that caused it and the commit that covered it (lesson 06 uses it too,
  for :func:`simkit.scenarios.dedupe` runs); with no such message, the faults that struck, marked harmless.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.ticker import MaxNLocator

from ..results import RunResult
from ._base import ORANGE, RED, axes_or_new, color_for, design_of, timeline
from .harmless import harmless_timeline, lane_rank

__all__ = ["anomaly_timeline", "commit_vs_processed"]


def commit_vs_processed(
    result: RunResult,
    ax: Axes | None = None,
    partition: int = 0,
    title: str | None = None,
    window: tuple[float, float] | None = None,
) -> Axes:
    """How far the committed offset runs ahead of (or behind) the work, over time, crashes marked.

    The line is *committed offset minus handled offset* in one partition, in records.
    "Handled" is the offset after the record whose side effect happened last, so it
    drops back when a consumer restarts from an older commit. Above zero (red) the
    group has committed records nobody has handled yet: a crash there loses them.
    Below zero (orange) records are handled and not committed: a crash there repeats
    them. ``window`` (ms) zooms in.
    """
    ax = axes_or_new(ax, (9, 3.5))
    t = result.trace
    part = t[t["partition"] == partition]
    commits = part[part["event"] == "commit"]
    effect = "side_effect" if (part["event"] == "side_effect").any() else "processed"
    handled = part[part["event"] == effect]
    grid = np.unique(np.concatenate([[0.0], commits["time"].to_numpy(), handled["time"].to_numpy()]))
    c = pd.Series(commits["offset"].to_numpy(dtype=float), index=commits["time"].to_numpy())
    h = pd.Series(handled["offset"].to_numpy(dtype=float) + 1, index=handled["time"].to_numpy())
    c = c.groupby(level=0).last().reindex(grid, method="ffill").fillna(0).to_numpy()
    h = h.groupby(level=0).last().reindex(grid, method="ffill").fillna(0).to_numpy()
    gap = c - h
    # the step curve as explicit corners, so each shaded area starts and ends exactly at a step
    x = np.repeat(grid / 1000.0, 2)[1:]
    y = np.repeat(gap, 2)[:-1]
    # a side of zero the line never reaches (in the window shown) has no area to see, so no legend entry
    seen = y if window is None else y[(x >= window[0] / 1000.0) & (x <= window[1] / 1000.0)]
    ax.fill_between(x, y, 0, where=y > 0, color=RED, alpha=0.35, linewidth=0,
                    label="committed, not yet handled: lost if it crashes" if (seen > 0).any() else None)
    ax.fill_between(x, y, 0, where=y < 0, color=ORANGE, alpha=0.35, linewidth=0,
                    label="handled, not yet committed: repeated if it crashes" if (seen < 0).any() else None)
    ax.plot(x, y, color=color_for(design_of(result)), linewidth=1, label=design_of(result))
    ax.axhline(0, color="black", linewidth=0.8)
    crashes = t[t["event"] == "crash"]["time"].to_numpy() / 1000.0
    for i, ct in enumerate(crashes):
        ax.axvline(ct, color="black", linestyle=":", linewidth=1.2, label="crash" if i == 0 else None)
    if window is not None:
        ax.set_xlim(window[0] / 1000.0, window[1] / 1000.0)
    ax.set_xlabel("time (s)")
    ax.set_ylabel("committed minus handled\n(records)")
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))  # whole records: no "7.5 records" tick
    # outside the plot, on the right: the shaded areas fill the whole height, nowhere inside is empty
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0, fontsize="small")
    if title is None:
        ahead, behind = int(max(0.0, gap.max())), int(max(0.0, -gap.min()))
        r = result.report
        title = (f"{design_of(result)}: commit up to {ahead} records ahead of the work" if ahead
                 else f"{design_of(result)}: commit never ahead of the work (at most {behind} behind)")
        if "lost" in r and "duplicates" in r:
            title += f"; {len(crashes)} crashes: {r['lost']:g} lost, {r['duplicates']:g} repeated"
    ax.set_title(title)
    return ax


_EFFECTS = ("side_effect", "counter_incremented", "email_sent", "processed")
def _anomaly(trace: pd.DataFrame, msg_id: Any) -> tuple[str, float, float, float | None, str | None]:
    """What happened to ``msg_id``, the window (ms) to show, the commit that covered it if lost, and
    the side-effect event that ran twice if duplicated.

    For a lost message the window runs from its append to the moment the crashed consumer, restarted,
    handles its first record again: the offset it resumed at, past the lost one, is in the title."""
    rows = trace[trace["msg_id"] == msg_id]
    crashes = trace[trace["event"] == "crash"]
    for event in _EFFECTS:
        effects = rows[rows["event"] == event]
        if len(effects) >= 2:
            t1, t2 = float(effects["time"].iloc[0]), float(effects["time"].iloc[1])
            between = crashes[(crashes["time"] >= t1) & (crashes["time"] <= t2)]
            point = f"a crash at {between['detail'].iloc[0]}" if len(between) else "a second delivery"
            what = f"message {msg_id!r}: {event} twice, after {point} (offset not yet committed)"
            return what, t1, t2, None, event
    appended = rows[rows["event"] == "append"]
    start = float(appended["time"].iloc[0]) if len(appended) else float(rows["time"].min())
    after = crashes[crashes["time"] >= start]
    crash_t = float(after["time"].iloc[0]) if len(after) else float(rows["time"].max())
    point = str(after["detail"].iloc[0]) if len(after) else "?"
    end = max(crash_t, float(rows["time"].max()))
    commit_at = None
    resumed = ""
    if len(appended):
        p, off = int(appended["partition"].iloc[0]), int(appended["offset"].iloc[0])
        covering = trace[(trace["event"] == "commit") & (trace["partition"] == p) & (trace["offset"] > off)]
        if len(covering):
            commit_at = float(covering["time"].iloc[0])
        if len(after):  # the crashed consumer's restart, and the first record it handled afterwards
            who = after["component"].iloc[0]
            back = trace[(trace["event"] == "restart") & (trace["component"] == who) & (trace["time"] >= crash_t)]
            if len(back):
                again = trace[(trace["event"] == "process") & (trace["partition"] == p)
                              & (trace["time"] >= float(back["time"].iloc[0]))]
                if len(again):
                    end = max(end, float(again["time"].iloc[0]))
                    resumed = f"; resumed at offset {int(again['offset'].iloc[0])}"
    what = f"message {msg_id!r} lost: offset committed, then a crash ({point}) before handling it{resumed}"
    return what, start, end, commit_at, None


def anomaly_timeline(
    result: RunResult,
    check: str = "lost",
    example: int = 0,
    ax: Axes | None = None,
    components: Sequence[str] | None = None,
    margin: float = 100,
    title: str | None = None,
) -> Axes:
    """The timeline around one anomaly: message ``result.checks[check].examples[example]``.

    For a lost message the window runs from its append past the crash that lost it to
    the restarted consumer's first record (the title names that offset); for a
    duplicate, from its first to its second side effect; ``margin`` ms either side.
    The message's rows are circled in red; the commit that covered a lost message is a
    dashed red line. The legend sits outside the plot, on the right. When the run has no
    such message, the figure is :func:`~simkit.plots.harmless_timeline`: the crashes and
    redeliveries that struck, marked as harmless, and the zero in the title.
    """
    found = result.checks.get(check)
    if found is None or not found.examples:
        return harmless_timeline(result, check, ax=ax, title=title)
    msg_id = found.examples[min(example, len(found.examples) - 1)]
    trace = result.trace
    what, t0, t1, commit_at, twice = _anomaly(trace, msg_id)
    window = (t0 - margin, t1 + margin)
    if components is None:
        inside = trace[(trace["time"] >= window[0]) & (trace["time"] <= window[1])]
        components = sorted((c for c in dict.fromkeys(inside["component"]) if c != "monitor"), key=lane_rank)
    components = list(components)
    ax = timeline(result, ax=ax, components=components, highlight=[msg_id], title=title or what, window=window)
    effects = trace[(trace["msg_id"] == msg_id) & (trace["event"] == twice) & trace["component"].isin(components)]
    if twice is not None and len(effects) >= 2:
        for (_, row), label in zip(effects.head(2).iterrows(), ("first time", "again")):
            ax.annotate(label, (row["time"] / 1000.0, components.index(row["component"])), color="red",
                        xytext=(0, -14), textcoords="offset points", ha="center", fontsize="small")
    if commit_at is not None:
        ax.axvline(commit_at / 1000.0, color=RED, linestyle="--", linewidth=1,
                   label="its offset committed")
        ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize="small")
    return ax
