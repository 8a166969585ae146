"""Plots for the design-choice lessons: ordering and hot keys, workflows, deployment.

Each takes results (a mapping design -> :class:`~simkit.RunResult`, or the DataFrame
of :func:`simkit.compare`) and an optional ``ax``, returns the ``ax``, and titles the
figure with its finding unless given a ``title``.
"""

from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np
import pandas as pd
from matplotlib.axes import Axes

from ..results import RunResult
from ._base import axes_or_new, color_for, outcome_bars

__all__ = [
    "inversion_bars", "partition_lag", "partition_load",
]

def _per_partition(results: Mapping[str, RunResult], values: Mapping[str, pd.Series], ax: Axes,
                   ylabel: str) -> None:
    designs = list(results)
    n = max(int(r.params.get("partitions", 0) or 0) for r in results.values())
    n = max(n, max((int(v.index.max()) + 1 for v in values.values() if len(v)), default=1))
    x = np.arange(n)
    width = 0.8 / len(designs)
    for i, d in enumerate(designs):
        v = values[d].reindex(x, fill_value=0)
        ax.bar(x + (i - (len(designs) - 1) / 2) * width, v.to_numpy(), width, color=color_for(d), label=str(d),
               edgecolor="black", linewidth=0.5)
    ax.set_xticks(x, [str(p) for p in x])
    ax.set_xlabel("partition")
    ax.set_ylabel(ylabel)
    ax.legend(title="design")


def partition_load(results: Mapping[str, RunResult], ax: Axes | None = None, title: str | None = None) -> Axes:
    """Share of all records each partition carried, per design (from the ``load`` series of :func:`hot_keys`)."""
    ax = axes_or_new(ax)
    shares = {d: r.series["load"].set_index("partition")["share"] * 100 for d, r in results.items()}
    _per_partition(results, shares, ax, "share of records (%)")
    n = max(int(r.params.get("partitions", 0) or 0) for r in results.values())
    if n:
        ax.axhline(100 / n, color="black", linestyle=":", linewidth=1, label=f"even share ({100 / n:.0f}%)")
        ax.legend(title="design")
    if title is None:
        parts = ", ".join(f"{d} {s.max():.0f}%" for d, s in shares.items() if len(s))
        title = f"busiest partition's share of the traffic: {parts}" + (f" (even: {100 / n:.0f}%)" if n else "")
    ax.set_title(title)
    return ax


def partition_lag(results: Mapping[str, RunResult], ax: Axes | None = None, title: str | None = None,
                  key: str = "lag") -> Axes:
    """The worst backlog (records) each partition reached, per design (from ``series[key]``)."""
    ax = axes_or_new(ax)
    peaks = {d: r.series[key].groupby("partition")["lag"].max() for d, r in results.items()}
    _per_partition(results, peaks, ax, "peak consumer lag (records)")
    if title is None:
        parts = ", ".join(f"{d} {int(p.max()) if len(p) else 0}" for d, p in peaks.items())
        title = f"worst partition backlog (records): {parts}"
    ax.set_title(title)
    return ax


#: what each ordering metric counts, for legends and titles
_ORDER_METRICS: dict[str, tuple[str, str]] = {
    "out_of_order": ("changes", "changes applied out of order"),
    "stale_writes": ("changes", "older changes applied after a newer one"),
    "wrong_final": ("users", "users left with an older address"),
    "duplicates": ("changes", "changes applied twice"),
    "cross_type_inversions": ("events", "events applied before an earlier event of their user"),
}


def inversion_bars(df: pd.DataFrame, ax: Axes | None = None, by: str = "design",
                   metrics: Sequence[str] = ("out_of_order", "wrong_final"), title: str | None = None,
                   colors: Mapping[str, str] | None = None) -> Axes:
    """Ordering anomalies per design (mean over seeds, whiskers from the lowest to the highest run).

    The legend says what each metric counts (changes or users). ``colors`` maps values
    of ``by`` that are not design names (e.g. producer settings) to bar colours. The
    default title names the worst design's first metric against the changes produced
    and the designs that had none of any metric.
    """
    metrics = list(metrics)
    if title is None:
        means = df.groupby(by, sort=False)[metrics].mean()
        clean = [str(d) for d, row in means.iterrows() if (row == 0).all()]
        worst = means[metrics[0]].idxmax()
        what = _ORDER_METRICS.get(metrics[0], ("", metrics[0].replace("_", " ")))[1]
        of = f" of {df['produced'].mean():.0f}" if "produced" in df and _ORDER_METRICS.get(
            metrics[0], ("",))[0] == "changes" else ""
        title = (f"{worst}: {means.loc[worst, metrics[0]]:.3g}{of} {what} per run"
                 + (f";\n{', '.join(clean)}: none" if clean else ""))
    ax = outcome_bars(df, metrics, by=by, ax=ax, title=title, ylabel="per run (mean, min-max over seeds)")
    if colors:
        designs = list(dict.fromkeys(df[by]))
        for bars in ax.containers:
            for patch, d in zip(getattr(bars, "patches", []), designs):
                if d in colors:
                    patch.set_facecolor(colors[d])
    legend = ax.get_legend()
    if legend is not None:
        for text in legend.get_texts():
            unit = _ORDER_METRICS.get(text.get_text(), ("",))[0]
            if unit:
                text.set_text(f"{text.get_text()} ({unit})")
    return ax
