"""Lesson 17's figure: what a crash repeated, over time, read from a :func:`simkit.scenarios.exactly_once` run."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.ticker import MaxNLocator

from ..results import RunResult
from ._base import GREY, ORANGE, PURPLE, RED, axes_or_new

__all__ = ["repeats_over_time"]


def _second_times(rows: pd.DataFrame) -> np.ndarray:
    """For each msg_id seen twice or more in ``rows``, the time of its second row, in order."""
    second = rows.groupby("msg_id", sort=False)["time"].nth(1)
    return np.sort(second.to_numpy(dtype=float))


def repeats_over_time(result: RunResult, ax: Axes | None = None, title: str | None = None) -> Axes:
    """Three running counts over the run, with the invoicer's crashes as dotted lines.

    * invoices the ledger read more than once (a step when an invoice is read the second
      time; ends at ``duplicates_in_output``);
    * invoices of aborted transactions the ledger read (ends at ``aborted_read``);
    * orders whose customer was emailed more than once (ends at ``repeated_side_effects``).

    Counts that stay at zero share the zero line: each is drawn wider than the zero lines after it, so all
    their colours show, stacked.
    """
    from ..scenarios.exactly_once import APP, READER, aborted_offsets

    ax = axes_or_new(ax, (10, 4))
    t = result.trace
    end = float(t["time"].max()) / 1000.0 if len(t) else 0.0
    read = t[(t["component"] == READER) & (t["event"] == "processed")]
    void = aborted_offsets(t)
    aborted = read[[(tp, int(p), int(o)) in void for tp, p, o in zip(read["topic"], read["partition"],
                                                                      read["offset"])]]
    emails = t[t["event"] == "email_sent"]
    lines: list[tuple[str, Any, np.ndarray]] = [
        ("invoices read more than once", RED, _second_times(read)),
        ("aborted invoices read", ORANGE, np.sort(aborted["time"].to_numpy(dtype=float))),
        ("orders emailed more than once", PURPLE, _second_times(emails)),
    ]
    # Counts that stay at zero lie on one line; each is drawn wider than the zero lines after it, so every
    # colour shows as a band of the stack instead of the last one hiding the others.
    zeros = [i for i, (_, _, times) in enumerate(lines) if len(times) == 0]
    for i, (label, colour, times) in enumerate(lines):
        xs = np.concatenate(([0.0], times / 1000.0, [end]))
        ys = np.concatenate(([0], np.arange(1, len(times) + 1), [len(times)]))
        width = 2 + 2.5 * sum(1 for j in zeros if j > i) if i in zeros else 2
        ax.step(xs, ys, where="post", color=colour, label=f"{label} ({len(times)})", linewidth=width,
                solid_capstyle="butt", zorder=2 + i)
    crashes = t[(t["component"] == APP) & (t["event"] == "crash")]["time"].to_numpy(dtype=float) / 1000.0
    for i, when in enumerate(crashes):
        ax.axvline(when, color=GREY, linestyle=":", linewidth=1, label="invoicer crash" if i == 0 else None)
    ax.set_xlabel("time (s)")
    ax.set_ylabel("orders (running count)")
    ax.set_xlim(0, end)
    # a line that stays at zero shows above the axis; with nothing repeated the axis still counts whole orders
    # (0 and 1, not -0.4 to 0.05) and the zero lines lie under the legend's bottom edge, not behind it
    ax.set_ylim(-0.4, max(max(len(times) for _, _, times in lines), 1) * 1.05)
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    ax.legend(loc="upper left", fontsize="small")
    if title is None:
        r, p = result.report, result.params
        title = (f"{p.get('design')}, ledger {p.get('isolation_level')}: {len(crashes)} crashes, "
                 f"{r.get('duplicates_in_output', 0):g} invoices read more than once,\n"
                 f"{r.get('aborted_read', 0):g} aborted invoices read, {r.get('repeated_side_effects', 0):g} customers "
                 f"emailed more than once")
    ax.set_title(title)
    return ax
