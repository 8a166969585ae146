"""Figures for the welcome lesson and the throughput lesson: where a record's time goes, how latency grows
with load, and what consumers do (or do not do) for a topic's partitions.

All read a run of :func:`simkit.scenarios.throughput` (or a sweep of it); times are in ms.
"""

from __future__ import annotations

import math
from typing import Any, Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.ticker import MaxNLocator

from ..results import RunResult
from ._base import message_path

__all__ = ["latency_vs_load", "load_panels", "message_timeline", "utilisation_bars"]

_MEAN, _P99 = "#1f77b4", "#ff7f0e"
_WAIT, _AHEAD, _OTHER, _OWN = "#f4b6b6", "#ff9f4a", "#c7c7c7", "#d62728"


def latency_vs_load(df: pd.DataFrame, ax: Axes | None = None, title: str | None = None,
                    p99: bool = True) -> Axes:
    """Simulated latency against utilisation, beside queueing theory, from a throughput sweep.

    ``df`` has one row per run (as :func:`simkit.sweep` returns) with columns ``arrival_rate``,
    ``service_rate``, ``latency_mean`` and, if ``p99``, ``latency_p99``; ``partitions`` and
    ``consumers`` when the sweep set them (utilisation is then the load on each busy consumer,
    ``arrival_rate / (service_rate * min(partitions, consumers))``). Dots are the mean over
    seeds, whiskers the lowest and highest seed. The theory lines use ``theory_latency_mean``
    and, for one partition (M/M/1, where the time in system is exponential), p99 =
    ln(100) / (mu - lambda).
    """
    if ax is None:
        _, ax = plt.subplots(figsize=(8, 4.5), layout="constrained")
    parts = df["partitions"] if "partitions" in df else pd.Series(1, index=df.index)
    cons = df["consumers"] if "consumers" in df else pd.Series(1, index=df.index)
    d = df.assign(load=df["arrival_rate"] / (df["service_rate"] * np.minimum(parts, cons)))
    g = d.groupby("load")
    single = bool((parts == 1).all())

    def dots(col: str, color: str, label: str) -> pd.Series:
        mean, lo, hi = g[col].mean(), g[col].min(), g[col].max()
        ax.errorbar(mean.index * 100, mean, yerr=np.vstack([mean - lo, hi - mean]), fmt="o", color=color,
                    capsize=3, label=label)
        return mean

    mean = dots("latency_mean", _MEAN, "simulated mean (dot: average of seeds; bar: lowest to highest seed)")
    if "theory_latency_mean" in d and d["theory_latency_mean"].notna().any():
        theory = g["theory_latency_mean"].mean().dropna()
        x, y = _smooth(theory, d, single)
        name = "M/M/1 theory: mean = 1 / (mu - lambda)" if single else "queueing theory: mean"
        ax.plot(x * 100, y, "-", color=_MEAN, linewidth=1.2, label=name)
    tail = None
    if p99 and "latency_p99" in d:
        tail = dots("latency_p99", _P99, "simulated p99 (same seeds)")
        if single:
            x = np.linspace(float(tail.index.min()), float(tail.index.max()), 200)
            mu = float(d["service_rate"].iloc[0])
            ax.plot(x * 100, math.log(100) / (mu * (1 - x)), "--", color=_P99, linewidth=1.2,
                    label="M/M/1 theory: p99 = ln(100) / (mu - lambda)")
    ax.set_xlabel("utilisation: share of time each consumer is busy (%)")
    ax.set_ylabel("latency, send to processed (ms)")
    ax.set_ylim(bottom=0)
    ax.legend(loc="upper left", fontsize="small")
    if title is None:
        lo_load, hi_load = mean.index[0], mean.index[-1]
        title = (f"mean latency {mean.iloc[0]:.1f} ms at {lo_load:.0%} busy, {mean.iloc[-1]:.1f} ms at "
                 f"{hi_load:.0%} ({mean.iloc[-1] / mean.iloc[0]:.0f}x)")
        if tail is not None:
            title += f"; p99 {tail.iloc[-1]:.0f} ms"
        title += "\nthe extra time is queueing, and it explodes as utilisation nears 100%"
    ax.set_title(title)
    return ax


def _smooth(theory: pd.Series, d: pd.DataFrame, single: bool) -> tuple[np.ndarray, np.ndarray]:
    """The M/M/1 line drawn smoothly between the swept loads (other theories: through the points)."""
    if not single:
        return theory.index.to_numpy(), theory.to_numpy()
    mu = float(d["service_rate"].iloc[0])
    x = np.linspace(float(theory.index.min()), float(theory.index.max()), 200)
    return x, 1.0 / (mu * (1 - x))


def _lane_order(names: Sequence[str]) -> list[str]:
    def key(name: str) -> tuple[int, Any]:
        if name == "producer":
            return (0, 0)
        if name == "broker":
            return (1, 0)
        tail = name.rsplit("-", 1)[-1]
        return (2, int(tail) if tail.isdigit() else name)
    return sorted(dict.fromkeys(names), key=key)


def message_timeline(result: RunResult, msg_id: Any = None, ax: Axes | None = None,
                     title: str | None = None, pad: float | None = None) -> Axes:
    """One record's life on a timeline: its steps circled in red, the queue it waited in shaded.

    Lanes are the producer, the broker and the consumers; grey dots are other records' sends
    and appends, grey bars other records being handled. The records the marked one's consumer
    handled while it waited are orange, so the queue it found is visible and counted. With
    ``msg_id=None`` the record that waited longest is marked. ``pad`` (ms) widens the window
    on both sides (default: a tenth of the record's life, at least 0.5 ms). Reads the trace
    via :func:`simkit.scenarios.throughput.message_waits`; the x axis is in ms.
    """
    from ..errors import ConfigError
    from ..scenarios.throughput import message_waits

    trace = result.trace
    waits = message_waits(trace)
    if waits.empty:
        raise ConfigError("result", result, "a run that handled at least one record")
    if msg_id is None:
        msg_id = waits["waited_ms"].idxmax()
    if msg_id not in waits.index:
        raise ConfigError("msg_id", msg_id, "None (the record that waited longest) or the id of a handled record")
    if pad is not None and not (isinstance(pad, (int, float)) and not isinstance(pad, bool) and pad >= 0):
        raise ConfigError("pad", pad, "None or a number of ms >= 0")
    me = waits.loc[msg_id]
    end = me["commit"] if not np.isnan(me["commit"]) else me["processed"]
    pad = max((end - me["send"]) / 10, 0.5) if pad is None else pad
    t0, t1 = me["send"] - pad, end + pad
    consumers = [c for c in _lane_order(waits["consumer"].unique())
                 if c == me["consumer"] or ((waits["consumer"] == c) & (waits["processed"] >= t0)
                                            & (waits["process"] <= t1)).any()]
    lanes = ["producer", "broker", *consumers]
    y = {name: i for i, name in enumerate(lanes)}
    if ax is None:  # fixed margins in inches (cheaper to draw than a layout engine, so controls stay fast)
        height = 1.0 * len(lanes) + 1.8
        fig, ax = plt.subplots(figsize=(11, height))
        fig.subplots_adjust(left=1.1 / 11, right=1 - 3.0 / 11, bottom=0.6 / height, top=1 - 0.75 / height)

    ax.axvspan(me["send"], me["process"], color=_WAIT, alpha=0.5, zorder=0,
               label=f"message {msg_id} waiting ({me['waited_ms']:.1f} ms)")
    near = waits[(waits["processed"] >= t0) & (waits["send"] <= t1) & (waits.index != msg_id)]
    for col, lane in (("send", "producer"), ("append", "broker")):
        pts = near[(near[col] >= t0) & (near[col] <= t1)][col]
        ax.scatter(pts, np.full(len(pts), y[lane]), s=14, color="#7f7f7f", zorder=2,
                   label="other records' steps" if lane == "producer" else None)
    ahead = ((waits["consumer"] == me["consumer"]) & (waits["processed"] > me["append"])
             & (waits["process"] < me["process"]))
    is_ahead = ahead.reindex(near.index, fill_value=False)
    for flag, colour, label in ((False, _OTHER, "handling another record"),
                                (True, _AHEAD, f"handled while {msg_id} waited")):
        first = True
        for consumer, rows in near[is_ahead == flag].groupby("consumer", sort=False):
            if consumer not in y:
                continue
            ax.broken_barh(list(zip(rows["process"], rows["handled_ms"])), (y[consumer] - 0.18, 0.36),
                           facecolor=colour, edgecolor="white", linewidth=0.5, zorder=2,
                           label=label if first else None)
            first = False
    ax.broken_barh([(me["process"], me["handled_ms"])], (y[me["consumer"]] - 0.18, 0.36),
                   facecolor=_OWN, edgecolor="white", linewidth=0.5, zorder=3,
                   label=f"message {msg_id} being handled ({me['handled_ms']:.1f} ms)")

    steps = [("send", "producer"), ("append", "broker"), ("fetch", me["consumer"]), ("process", me["consumer"]),
             ("processed", me["consumer"]), ("commit", me["consumer"])]
    steps = [(name, lane, me[name]) for name, lane in steps if not np.isnan(me[name])]
    path = pd.DataFrame({"component": [lane for _, lane, _ in steps], "event": [name for name, *_ in steps]})
    for i, j, _repeat in message_path(path):  # along its hand-offs, never merely in time order
        ax.plot([steps[i][2], steps[j][2]], [y[steps[i][1]], y[steps[j][1]]], color=_OWN, linewidth=1.2, zorder=4)
    ax.scatter([t for *_, t in steps], [y[lane] for _, lane, _ in steps], s=110, facecolors="white",
               edgecolors=_OWN, linewidths=1.8, zorder=5, label=f"message {msg_id}'s steps")
    # name each step; steps at (nearly) the same time on one lane get stacked labels
    span = t1 - t0
    placed: dict[str, list[float]] = {}
    for name, lane, t in steps:
        clash = sum(1 for s in placed.get(lane, []) if abs(s - t) < span * 0.06)
        placed.setdefault(lane, []).append(t)
        ax.annotate(name, (t, y[lane]), xytext=(4, -12 - 11 * clash), textcoords="offset points",
                    fontsize=8.5, color=_OWN, ha="left", va="top", zorder=6)

    ax.set_xlim(t0, t1)
    ax.set_yticks(range(len(lanes)), lanes)
    ax.set_ylim(len(lanes) - 0.4, -0.6)
    ax.set_xlabel("time since the run started (ms)")
    ax.grid(axis="x", alpha=0.3)
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize="small", frameon=False)
    if title is None:
        n = int(me["ahead"])
        why = (f"queued behind {n} record{'s' if n != 1 else ''} that {me['consumer']} handled first" if n
               else "it found its consumer free")
        title = (f"message {msg_id} waited {me['waited_ms']:.1f} ms before its handler started: {why};\n"
                 f"its own handling took {me['handled_ms']:.1f} ms of its {me['latency_ms']:.1f} ms latency")
    ax.set_title(title, loc="left")
    return ax


def utilisation_bars(runs: Mapping[str, RunResult], ax: Axes | None = None, title: str | None = None) -> Axes:
    """How busy each consumer was, one group of bars per run (from ``series["utilisation"]``).

    ``runs`` maps a label (e.g. ``"3 consumers"``) to a throughput run. Each bar is one consumer;
    a consumer that handled nothing is a grey cross on the baseline marked "idle" (0 %). Bars are labelled
    with the partitions each consumer owned and its share of time busy.
    """
    if ax is None:
        _, ax = plt.subplots(figsize=(10, 4.2), layout="constrained")
    labels = list(runs)
    widest = max(len(r.series["utilisation"]) for r in runs.values())
    width = 0.84 / widest
    idle_total, overloaded = {}, {}
    for gi, label in enumerate(labels):
        u = runs[label].series["utilisation"]
        n = len(u)
        for j, row in enumerate(u.itertuples()):
            x = gi + (j - (n - 1) / 2) * width
            pct = 100 * row.utilisation
            if row.records == 0:  # 0 % busy: a mark on the baseline, not a bar that reads as full
                ax.plot([x], [0], marker="x", color="#7f7f7f", markersize=7, clip_on=False, zorder=3)
                ax.text(x, 2, "idle\n0%\n0p", ha="center", va="bottom", fontsize=7.5, color="#7f7f7f")
                continue
            colour = "#d62728" if pct >= 97 else "#1f77b4"
            ax.bar(x, pct, width * 0.9, color=colour, edgecolor="black", linewidth=0.5)
            ax.text(x, pct + 1.5, f"{pct:.0f}%\n{row.partitions}p", ha="center", va="bottom", fontsize=7.5)
        idle_total[label] = int((u["records"] == 0).sum())
        overloaded[label] = int((100 * u["utilisation"] >= 97).sum())
    ax.set_xticks(range(len(labels)), labels)
    ax.set_ylim(0, 125)
    ax.set_ylabel("time spent handling records (%)")
    ax.set_xlabel("consumers in the group (label over each bar: % busy, partitions owned)")
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch
    ax.legend(handles=[Patch(color="#d62728", label="saturated (busy all the time: lag grows)"),
                       Patch(color="#1f77b4", label="keeping up"),
                       Line2D([], [], marker="x", color="#7f7f7f", linestyle="none", label="idle (no partition): 0 %")],
              loc="upper right", fontsize="small", ncols=3)
    if title is None:
        most = max(labels, key=lambda lab: idle_total[lab])
        sat = [lab for lab in labels if overloaded[lab]]
        parts = []
        if sat:
            parts.append(f"{' and '.join(sat)}: a consumer is saturated and its lag grows")
        if idle_total[most]:
            parts.append(f"{most}: {idle_total[most]} sit idle, because partitions cap the useful group size")
        title = ";\n".join(parts) if parts else "every consumer keeps up"
    ax.set_title(title)
    return ax


def _lag_finding(lag: pd.DataFrame, stop: float, peak: int, worst: Any) -> str:
    """The lag panel's title: whether the lag kept coming back to zero while the producer was still
    sending (the last fifth of the sending window), or when the busiest partition last emptied."""
    g = lag[(lag["partition"] == worst) & (lag["time"] <= stop)]
    emptied = g.loc[g["lag"] == 0, "time"]
    at_stop = int(g["lag"].iloc[-1]) if len(g) else 0
    head = f"lag peaks at {peak} record{'' if peak == 1 else 's'} (partition {worst});\n"
    if len(emptied) and float(emptied.max()) >= 0.8 * stop:
        return head + f"it keeps coming back to 0 while the producer sends ({at_stop} waiting when it stops)"
    last = float(emptied.max()) if len(emptied) else 0.0
    since = f"since {last:.0f} ms" if last > 0.05 * stop else "once it started"
    return head + f"never back to 0 {since} while the producer sends: {at_stop} waiting when it stops"


def load_panels(result: RunResult, axes: Sequence[Axes] | None = None) -> Sequence[Axes]:
    """Two panels for one throughput run: lag per partition over time, and each record's latency.

    Left: records appended but not yet processed, per partition (from ``series["lag"]``), in ms,
    with the moment the producer stops; its title says whether the lag kept returning to zero
    while the producer was still sending.
    Right: every record's latency against the time it was sent, with the p99 as a line. The
    figure title (when the panels are drawn on a new figure) states each consumer's utilisation.
    """
    from ..checks import latencies

    fig = None
    if axes is None:  # fixed margins: cheaper to draw than a layout engine, so a control redraws fast
        fig, axes = plt.subplots(1, 2, figsize=(12, 4.2))
        fig.subplots_adjust(left=0.06, right=0.98, bottom=0.13, top=0.8, wspace=0.2)
    left, right = axes
    lag = result.series["lag"]
    peaks = {}
    for partition, g in lag.groupby("partition", sort=True):
        left.step(g["time"], g["lag"], where="post", label=f"partition {partition}")
        peaks[partition] = int(g["lag"].max())
    left.set_xlabel("time (ms)")
    left.set_ylabel("lag: records waiting (records)")
    worst = max(peaks, key=peaks.get)
    trace = result.trace
    stop = float(trace.loc[trace["event"] == "send", "time"].max())
    left.axvline(stop, color="black", linestyle=":", linewidth=1, label="producer stops")
    left.set_title(_lag_finding(lag, stop, peaks[worst], worst), fontsize="medium")
    # the legend sits in the top left, in at most 3 rows, with headroom above the highest peak: it covers no line
    rows = min(len(peaks) + 1, 3)
    left.set_ylim(0, max(peaks[worst], 1) * (1.15 + 0.1 * rows))
    left.yaxis.set_major_locator(MaxNLocator(integer=True))  # records waiting: no 0.2 of a record

    lat = latencies(trace)
    sent = trace[trace["event"] == "send"].drop_duplicates("msg_id").set_index("msg_id")["time"]
    right.scatter(sent.reindex(lat.index), lat, s=6, color=_MEAN, alpha=0.6, label="one record")
    p99 = float(np.percentile(lat, 99))
    right.axhline(p99, color=_P99, linestyle="--", label=f"p99 = {p99:.1f} ms")
    if len(peaks) <= 6:
        left.legend(fontsize="small", loc="upper left", ncol=-(-(len(peaks) + 1) // 3))
    right.set_xlabel("time the record was sent (ms)")
    right.set_ylabel("latency, send to processed (ms)")
    right.set_ylim(0, max(float(lat.max()), p99, 1.0) * 1.3)  # the legend sits above the highest dot
    right.legend(fontsize="small", loc="upper left")
    right.set_title(f"median {np.median(lat):.1f} ms, p99 {p99:.1f} ms")
    if fig is not None:
        u = result.series["utilisation"]
        busy = ", ".join(f"{row.consumer} {100 * row.utilisation:.0f}%" if row.records else f"{row.consumer} idle"
                         for row in u.itertuples())
        fig.suptitle(f"{result.params['arrival_rate']:g} records/ms over {result.params['partitions']} partition(s); "
                     f"busy: {busy}", fontsize=11)
    return axes
