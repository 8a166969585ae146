"""Lesson 13's comparison figure: every run of simkit beside every run of the live lab, one dot per run."""

from __future__ import annotations

import pandas as pd
from matplotlib.axes import Axes
from matplotlib.lines import Line2D
from matplotlib.ticker import MaxNLocator

from ._base import DARK, GREY, axes_or_new, color_for

__all__ = ["engine_spread"]


def engine_spread(table: pd.DataFrame, field: str, ax: Axes | None = None) -> Axes:
    """One column of dots per design: simkit's runs as grey circles, the live lab's as triangles in the design's
    colour, side by side, so where the two clouds overlap the model holds and where they part it does not.

    ``table`` has one row per run with columns ``design``, ``engine`` ("simkit" or "live") and ``field``, as
    :func:`simkit.live.side_by_side` returns it. The legend names the two engines by their marker (the live
    triangles take each design's colour, so the legend draws them in a neutral one and says so). A field whose
    every value is whole (a count) gets whole ticks from 0, so a design at 0 in every run reads as 0, not -0.04.
    """
    ax = axes_or_new(ax, (6, 4))
    designs = list(dict.fromkeys(table["design"]))
    marks = {"simkit": ("o", -0.12), "live": ("^", 0.12)}
    for x, design in enumerate(designs):
        for engine, (marker, dx) in marks.items():
            values = table[(table["design"] == design) & (table["engine"] == engine)][field].dropna()
            colour = GREY if engine == "simkit" else color_for(design)
            ax.scatter([x + dx] * len(values), values, color=colour, marker=marker, s=40, alpha=0.85,
                       edgecolor=DARK if engine == "live" else "none", linewidth=0.5)
    shown = table.loc[table["design"].isin(designs), field].dropna()
    if len(shown) and (shown % 1 == 0).all():  # a count (lost, crashes): whole ticks, from 0, at least up to 1
        ax.yaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_ylim(min(float(shown.min()), 0.0) - 0.5, max(float(shown.max()), 1.0) + 0.5)
    ax.set_xticks(range(len(designs)), designs, rotation=15)
    ax.set_xlim(-0.5, len(designs) - 0.5)
    ax.set_ylabel(field.replace("_", " "))
    ax.legend(handles=[Line2D([], [], linestyle="", marker="o", color=GREY, markersize=7, label="simkit"),
                       Line2D([], [], linestyle="", marker="^", color="white", markeredgecolor=DARK, markersize=7,
                              label="live (in the design's colour)")], fontsize="small")
    return ax
