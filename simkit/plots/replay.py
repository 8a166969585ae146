"""Figures of the replay half of lesson 08, read from :func:`simkit.scenarios.replay` runs.

* :func:`replay_timeline`: which version of a consumer handled which offset when, so a
  reset and the reprocessing after it are visible.
"""

from __future__ import annotations

from matplotlib.axes import Axes

from ..results import RunResult
from ._base import BLUE, GREEN, GREY, RED, axes_or_new

__all__ = ["replay_timeline"]


_VERSION_COLORS = {"v1": GREY, "v2": RED, "v3": GREEN}
_VERSION_NAMES = {"v1": "v1 (correct)", "v2": "v2 (bug)", "v3": "v3 (fixed)"}


def replay_timeline(result: RunResult, ax: Axes | None = None, title: str | None = None) -> Axes:
    """Each handled record as a dot (time, offset), coloured by the consumer version that handled it.

    After the reset the fixed version goes back to an older offset and works its way
    forward again: every dot it draws below the others' is a record handled again.
    """
    ax = axes_or_new(ax, (9, 4.5))
    t = result.trace
    done = t[t["event"] == "processed"]
    version = done["component"].astype(str).str.extract(r"-(v\d)")[0]
    markers = ["o", "s", "^", "D"]
    for v in sorted(version.dropna().unique()):
        rows = done[version == v]
        for p, g in rows.groupby("partition"):
            ax.scatter(g["time"] / 1000.0, g["offset"], s=10, color=_VERSION_COLORS.get(v, BLUE),
                       marker=markers[int(p) % len(markers)],
                       label=f"{_VERSION_NAMES.get(v, v)}, partition {p}")
    for i, (_, row) in enumerate(t[t["event"] == "deployed"].iterrows()):
        ax.axvline(row["time"] / 1000.0, color="grey", linestyle=":", linewidth=1,
                   label="deploy" if i == 0 else None)
    resets = t[(t["event"] == "seek") & (t["detail"] == "reset offsets")]
    if len(resets):
        ax.axvline(resets["time"].iloc[0] / 1000.0, color="black", linewidth=1.5, label="offsets reset")
    ax.set_xlabel("time (s)")
    ax.set_ylabel("offset in partition")
    ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize="small")
    if title is None:
        r, p = result.report, result.params
        state = "correct" if r.get("projection_correct") else "still wrong"
        title = (f"{p.get('design')}, reset to {p.get('reset_to')!r}: {r.get('reprocessed', 0):g} records "
                 f"handled again,\nprojection {state}, {r.get('side_effects_repeated', 0):g} receipts sent twice")
    ax.set_title(title)
    return ax
