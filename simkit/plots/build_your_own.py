"""Figures for the lesson where learners wire a system of their own from simkit's parts."""

from __future__ import annotations

from typing import Iterable

import numpy as np
from matplotlib.axes import Axes

from ..results import RunResult
from ._base import axes_or_new, color_for

__all__ = ["handled_by_component"]


def handled_by_component(result: RunResult, components: Iterable[str], ax: Axes | None = None,
                         title: str | None = None, event: str = "processed") -> Axes:
    """Messages each component has handled so far (its first ``event`` row per message), over time.

    A reader that joins late shows as a line that starts late and climbs steeply while it
    catches up on history; the dotted line is what the producer had sent by then. Each component's line is
    wider than the next one's, so a reader that caught up does not hide the line it lies on.
    """
    ax = axes_or_new(ax)
    trace = result.trace
    sent = trace[trace["event"] == "send"].drop_duplicates("msg_id")
    end = float(trace["time"].max()) / 1000.0 if len(trace) else 0.0
    ax.step(np.concatenate([[0.0], sent["time"].to_numpy() / 1000.0, [end]]),
            np.concatenate([[0], np.arange(1, len(sent) + 1), [len(sent)]]), where="post", color="black",
            linestyle=":", linewidth=1.5, zorder=3, label="sent by the producer")
    summary = []
    components = list(components)
    for i, name in enumerate(components):
        done = trace[(trace["component"] == name) & (trace["event"] == event)].drop_duplicates("msg_id")
        x = np.concatenate([[0.0], done["time"].to_numpy() / 1000.0, [end]])
        y = np.concatenate([[0], np.arange(1, len(done) + 1), [len(done)]])
        # a reader that has caught up lies on the others' line: each is drawn wider than the ones after it, so
        # every colour shows as a band of the stack instead of the last one hiding the others
        ax.step(x, y, where="post", color=color_for(name), linewidth=2 + 2.5 * (len(components) - 1 - i),
                solid_capstyle="butt", zorder=2, label=name)
        summary.append(f"{name} handled {len(done)} of {len(sent)}")
    ax.set_xlabel("time (s)")
    ax.set_ylabel("messages (cumulative)")
    ax.set_ylim(bottom=0)
    ax.legend(fontsize="small", loc="upper left")
    ax.set_title(title if title is not None else "; ".join(summary))
    return ax


