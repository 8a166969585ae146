"""The figure of a fix that works: the faults that struck a run, each marked as absorbed.

When a check finds nothing, an empty axes teaches nothing: the learner needs to see that
the crashes, redeliveries and retries really happened and did no harm.
:func:`harmless_timeline` draws the whole run as swimlanes with those faults marked and
states the zero in its title. :func:`simkit.plots.anomaly_timeline` (lessons 04, 06) and
:func:`simkit.plots.inversion_timeline` (lesson 05) fall back to it when there is no
anomaly to follow.
"""

from __future__ import annotations

import pandas as pd
from matplotlib.axes import Axes

from ..results import RunResult
from ._base import GREEN, ORANGE, shade_windows, timeline, windows_between

__all__ = ["harmless_timeline", "lane_rank", "strikes"]

_LANES = ("producer", "upstream", "broker", "group:", "consumer", "db", "email")
#: rows where a part of the system recognised a repeat and did nothing with it
_ABSORBED = ("duplicate_skipped", "duplicate_dropped", "email_ignored")


def lane_rank(component: str) -> tuple[int, str]:
    """Sort key that puts lanes in the order a message travels: producer, broker, group, consumers, stores."""
    for i, prefix in enumerate(_LANES):
        if component.startswith(prefix):
            return i, component
    return len(_LANES), component


def strikes(trace: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """The faults in a trace, by kind: ``crashes``, ``redeliveries`` (second and later ``process``
    rows of a message), ``retries`` (a producer sending a batch again) and ``absorbed`` (rows where
    a repeat was recognised and skipped: a dedupe table, the broker's idempotence, an email provider's
    idempotency key)."""
    process = trace[(trace["event"] == "process") & trace["msg_id"].notna()]
    return {
        "crashes": trace[trace["event"] == "crash"],
        "redeliveries": process[process["msg_id"].duplicated()],
        "retries": trace[trace["event"] == "retry"],
        "absorbed": trace[trace["event"].isin(_ABSORBED)],
    }


def _count(n: int, one: str, many: str) -> str:
    return f"{n} {one if n == 1 else many}"


def harmless_timeline(result: RunResult, check: str, ax: Axes | None = None, title: str | None = None) -> Axes:
    """The whole run as swimlanes, with every fault that struck it marked, when ``check`` found nothing.

    Crashes are black crosses; a message delivered again is a green ring on its second
    ``process`` row; a repeat that something recognised and skipped is a green diamond;
    a producer's retry is an orange cross; leader elections and lost answers are shaded.
    The title counts what struck and states the zero of ``check`` (a report field or
    check of the run), so a learner sees the fix at work rather than an empty figure.
    """
    trace = result.trace
    names = [c for c in dict.fromkeys(trace["component"].astype(str)) if c != "monitor" and "->" not in c]
    comps = sorted(names, key=lane_rank)
    ax = timeline(result, ax=ax, components=comps, title="")
    lane = {c: i for i, c in enumerate(comps)}
    found = strikes(trace)
    marks = (("redeliveries", "o", GREEN, 90, "delivered again: absorbed"),
             ("absorbed", "D", GREEN, 50, "repeat recognised and skipped"),
             ("retries", "x", ORANGE, 60, "producer retries a batch"))
    for kind, marker, color, size, label in marks:
        rows = found[kind][found[kind]["component"].astype(str).isin(lane)]
        if len(rows):
            ax.scatter(rows["time"] / 1000.0, rows["component"].astype(str).map(lane).astype(float), marker=marker,
                       s=size, linewidths=1.5, zorder=5, label=label,
                       **({"facecolors": "none", "edgecolors": color} if marker == "o" else {"color": color}))
    elections = windows_between(trace, "broker_down", "broker_up")
    cuts = windows_between(trace, "link_down", "link_up", component="->producer")
    shade_windows(ax, elections, label="leader election: writes refused", scale=1000.0)
    shade_windows(ax, cuts, label="broker's answers lost", scale=1000.0, color=ORANGE)
    ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize="small")
    if title is None:
        n = {kind: len(rows) for kind, rows in found.items()}
        struck = [text for k, text in (
            (n["crashes"], _count(n["crashes"], "crash", "crashes")),
            (len(elections), _count(len(elections), "leader election", "leader elections")),
            (len(cuts), _count(len(cuts), "window of lost answers", "windows of lost answers")),
            (n["retries"], _count(n["retries"], "producer retry", "producer retries")),
        ) if k]
        after = [text for k, text in (
            (n["redeliveries"], _count(n["redeliveries"], "delivery again", "deliveries again")),
            (n["absorbed"], _count(n["absorbed"], "repeat recognised and skipped", "repeats recognised and skipped")),
        ) if k]
        zero = f"{check} = {result.report[check]:g}" if check in result.report else f"no {check}"
        if struck:
            title = f"{zero} in this run: {', '.join(struck)} struck" + (
                f";\n{' and '.join(after)}, all harmless" if after else ", all harmless")
        else:
            title = f"{zero} in this run, and nothing struck it: no crash, redelivery or retry"
    ax.set_title(title)
    return ax
