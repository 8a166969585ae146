"""Figures for lesson 18: a team added later, told by direct calls or reading events, catching up or not."""

from __future__ import annotations

import math
from collections.abc import Mapping

from matplotlib.axes import Axes
from matplotlib.ticker import MaxNLocator

from ..errors import ConfigError
from ..results import RunResult
from ._base import DARK, axes_or_new, color_for, design_of, format_ms, shade_windows

__all__ = ["behind_over_time", "behind_title"]


def _runs(results: RunResult | Mapping[str, RunResult]) -> dict[str, RunResult]:
    if isinstance(results, RunResult):
        return {design_of(results): results}
    return dict(results)


def behind_title(results: RunResult | Mapping[str, RunResult], team: str = "crm") -> str:
    """The finding of :func:`behind_over_time`, one line per design, built from the runs' reports and series."""
    lines = []
    for design, run in _runs(results).items():
        r = run.report
        if team == "crm":
            if math.isfinite(r.caught_up_at):
                lines.append(f"{design}: crm caught up {format_ms(r.caught_up_at - run.params['joins_at'])} after "
                             f"it arrived, {r.new_reader_lag_max} sign-ups behind at worst")
            else:
                lines.append(f"{design}: crm never caught up, {r.new_reader_missed} sign-ups never reached it")
        else:
            b = run.series["behind"]
            b = b[b["team"] == team]
            lines.append(f"{design}: {team} {int(b['behind'].max())} sign-ups behind at worst, "
                         f"{int(b['behind'].iloc[-1])} at the end")
    return "\n".join(lines)


def behind_over_time(results: RunResult | Mapping[str, RunResult], team: str = "crm", ax: Axes | None = None,
                     title: str | None = None) -> Axes:
    """How many sign-ups ``team`` is behind over time, one line per design (``series["behind"]``).

    The first design is drawn widest, so a line that runs under another still shows. For crm
    a dashed line marks when it arrived (for ``direct_calls``, the deploy of the sign-up
    service that calls it); the email team's outage, if the runs had one, is shaded. The
    title states, per design, whether crm caught up and when (or how far behind ``team``
    fell), from :func:`behind_title`.
    """
    runs = _runs(results)
    if not runs:
        raise ConfigError("results", results, "a RunResult of add_consumer, or a mapping of design -> RunResult")
    teams = set().union(*(set(run.series["behind"]["team"]) for run in runs.values()))
    if team not in teams:
        raise ConfigError("team", team, sorted(teams))
    ax = axes_or_new(ax, (10, 4))
    for n, (design, run) in enumerate(runs.items()):  # the first drawn widest, so none hides under another
        b = run.series["behind"]
        b = b[b["team"] == team]
        ax.step(b["time"] / 1000.0, b["behind"], where="post", color=color_for(design), linewidth=4 if n == 0 else 1.8,
                zorder=2 + n, label=design)
    first = next(iter(runs.values()))
    if team == "crm":
        ax.axvline(first.params["joins_at"] / 1000.0, color=DARK, linestyle="--", linewidth=1,
                   label="crm arrives (direct_calls: the producer's deploy)")
    outage = first.params.get("outage")
    if outage:
        shade_windows(ax, [(outage[0], outage[0] + outage[1])], label="email unreachable", scale=1000.0)
    ax.set_xlabel("time (s)")
    ax.set_ylabel(f"sign-ups {team} has not handled")
    ax.set_ylim(bottom=0)
    ax.set_xlim(left=0)
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_ylim(top=max(ax.get_ylim()[1], 1) * 1.35)  # headroom for the legend, inside the axes
    ax.legend(fontsize="small", loc="upper right", ncols=2)
    ax.set_title(behind_title(runs, team) if title is None else title)
    return ax
