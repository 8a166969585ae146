"""Figures for the first lesson: how latency grows with load, and consumers versus partitions."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.axes import Axes

__all__ = ["latency_vs_load"]


def latency_vs_load(df: pd.DataFrame, ax: Axes | None = None, title: str | None = None) -> Axes:
    """Measured mean latency against utilisation, beside M/M/1 theory, from a throughput sweep.

    ``df`` has columns ``arrival_rate``, ``service_rate``, ``latency_mean`` and
    ``theory_latency_mean`` (one row per run, as :func:`simkit.sweep` returns).
    """
    if ax is None:
        _, ax = plt.subplots(figsize=(7, 4))
    d = df.assign(load=df["arrival_rate"] / df["service_rate"])
    g = d.groupby("load")
    mean, lo, hi = g["latency_mean"].mean(), g["latency_mean"].min(), g["latency_mean"].max()
    ax.errorbar(mean.index, mean, yerr=np.vstack([mean - lo, hi - mean]), fmt="o", color="#1f77b4",
                capsize=3, label="simulated (mean, min-max over seeds)")
    if "theory_latency_mean" in d:
        theory = g["theory_latency_mean"].mean()
        ax.plot(theory.index, theory, "-", color="black", label="M/M/1 theory 1/(mu - lambda)")
    ax.set_xlabel("utilisation (arrival rate / service rate)")
    ax.set_ylabel("mean latency, send to processed (ms)")
    ax.legend()
    if title is None:
        low, high = mean.iloc[0], mean.iloc[-1]
        title = (f"latency grows {high / low:.0f}x from {mean.index[0]:.0%} to {mean.index[-1]:.0%} load: "
                 "queues, not the broker, set the delay")
    ax.set_title(title)
    return ax
