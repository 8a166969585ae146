"""Plots that read results: each takes an optional ``ax``, returns it, and never calls ``plt.show()``.

Every plot's title states the finding (computed from the data when not given), axes
carry units, and each design keeps one colour across all lessons (:func:`color_for`).
Importing this module changes no matplotlib settings.
"""

from __future__ import annotations

import hashlib
from typing import Any, Iterable, Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.axes import Axes

from ..errors import ConfigError
from ..results import RunResult
from .labels import wrap_label

__all__ = [
    "BAD", "BLUE", "BROWN", "DARK", "DESIGN_COLORS", "FAILURE", "FAINT_GREY", "FOLLOWED", "GOOD", "GREEN", "GREY",
    "GRID", "HANDOFFS", "LIGHT_GREEN", "LIGHT_GREY", "NEUTRAL", "ORANGE", "OTHER_STEPS", "PART_COLORS", "PURPLE",
    "QUIET_EVENTS", "RED", "STATE_COLORS", "axes_or_new", "color_for", "design_of", "example_id", "follow_lanes",
    "format_ms", "lag_over_time", "latency_cdf", "latency_series", "message_path", "outcome_bars", "percentile_bars",
    "shade_windows", "time_series", "timeline", "windows_between",
]

#: One colour per design name, the same in every lesson. "Broken" designs lean warm, fixes cool.
DESIGN_COLORS: dict[str, str] = {
    # publishing
    "dual_write": "#d62728", "publish_then_commit": "#ff7f0e", "outbox": "#2ca02c",
    # commit policies
    "auto": "#d62728", "auto_on_poll": "#ff7f0e", "auto_on_poll_pool": "#e377c2",
    "before_processing": "#8c564b", "after_processing": "#2ca02c", "store_offsets": "#bcbd22",
    # dedupe strategies
    "none": "#d62728", "natural": "#17becf", "dedupe_table": "#2ca02c",
    "dedupe_table_separate_tx": "#ff7f0e", "business_check": "#1f77b4",
    # sync / async and the rest
    "sync": "#2ca02c", "async": "#d62728", "rpc": "#2ca02c", "broker": "#d62728",
    "round_robin": "#d62728", "key": "#2ca02c", "fine_key": "#1f77b4", "sticky": "#ff7f0e",
    "all_async": "#d62728", "sync_core_outbox": "#2ca02c", "direct_publish": "#ff7f0e",
    "rollback": "#d62728", "saga": "#2ca02c", "monolith": "#2ca02c", "services": "#9467bd",
    "sync_chain": "#d62728", "write_then_events": "#2ca02c",
    "row_changes": "#d62728", "business_facts": "#2ca02c",
    # poison messages, dead letters and replay
    "no_dlq": "#d62728", "skip": "#ff7f0e", "dlq": "#2ca02c", "dlq_park_key": "#1f77b4", "non_idempotent": "#d62728", "idempotent": "#2ca02c",
    # schema changes
    "add_optional_field": "#2ca02c", "add_required_field": "#1f77b4", "remove_field": "#ff7f0e",
    "rename_field": "#d62728",
    # exactly once
    "at_least_once": "#ff7f0e", "transactional": "#1f77b4",
    # adding a reader nobody planned for
    "direct_calls": "#d62728", "events": "#2ca02c",
}
_FALLBACK = plt.get_cmap("tab20").colors

# Named colours for what is not a design (matplotlib's tab10 and a few greys), so no plot spells a hex string.
RED, ORANGE, GREEN, BLUE, PURPLE = "#d62728", "#ff7f0e", "#2ca02c", "#1f77b4", "#9467bd"
BROWN, GREY, LIGHT_GREY, FAINT_GREY, LIGHT_GREEN = "#8c564b", "#7f7f7f", "#c7c7c7", "#bbbbbb", "#98df8a"

#: Colours that are not designs: the message a figure follows, everything else, grid lines,
#: an outcome that went right, a neutral curve.
FOLLOWED = "red"
OTHER_STEPS = "#b0b0b0"
GRID = "#eeeeee"
GOOD = GREEN
NEUTRAL = GREY
#: steps that were refused, retried or given up on, in the background of a followed path
FAILURE = ORANGE
#: an outcome that went wrong
BAD = RED
#: marks of time on a figure: polls, deadlines
DARK = "#555555"
#: one colour per kind of thing to run (lesson 11)
PART_COLORS: dict[str, str] = {"app_instances": "#9ecae1", "databases": "#fdae6b", "brokers": "#bcbddc"}
#: one colour per business state of an order
STATE_COLORS: dict[str, str] = {
    "completed": "#2ca02c", "declined_customer_contacted": "#1f77b4", "cancelled": "#ff7f0e",
    "rolled_back": "#7f7f7f", "open": "#c7c7c7",
}



#: bookkeeping steps a followed path leaves out (they repeat a step already drawn)
QUIET_EVENTS = frozenset({"commit", "processed", "fetch", "outbox_read", "outbox_marked"})


def color_for(design: Any) -> Any:
    """The colour of ``design``: fixed for known names, stable (hash-based) for any other."""
    name = str(design)
    if name in DESIGN_COLORS:
        return DESIGN_COLORS[name]
    h = int(hashlib.md5(name.encode()).hexdigest(), 16)
    return _FALLBACK[h % len(_FALLBACK)]


def design_of(result: RunResult) -> str:
    """The design a run used (every scenario records it as ``params["design"]``), or its scenario's name."""
    return str(result.params.get("design", result.scenario))


def axes_or_new(ax: Axes | None, size: tuple[float, float] = (7, 4)) -> Axes:
    """``ax``, or the axes of a new figure of ``size`` inches when it is None (every plot starts here)."""
    if ax is None:
        _, ax = plt.subplots(figsize=size)
    return ax


def outcome_bars(
    df: pd.DataFrame,
    metrics: str | Sequence[str],
    by: str = "design",
    ax: Axes | None = None,
    title: str | None = None,
    ylabel: str = "count per run",
    colors: Mapping[Any, Any] | None = None,
    wrap: int | None = None,
) -> Axes:
    """Mean of each metric per design over the runs in ``df`` (from :func:`simkit.compare`).

    Error bars span the lowest to the highest run, so the spread over seeds shows; a design at zero in every
    run, which has no bar, is labelled "0" where its bar would stand.
    ``colors`` maps values of ``by`` to bar colours (for values that are not design
    names, e.g. group sizes or producer settings); ``wrap`` breaks tick labels longer
    than that many characters onto two lines (:func:`~simkit.plots.wrap_label`).
    """
    metrics = [metrics] if isinstance(metrics, str) else list(metrics)
    ax = axes_or_new(ax)
    designs = list(dict.fromkeys(df[by]))
    width = 0.8 / len(metrics)
    x = np.arange(len(designs))
    hatches = ["", "//", "..", "xx", "\\\\"]
    for j, metric in enumerate(metrics):
        g = df.groupby(by, sort=False)[metric]
        mean, lo, hi = g.mean().reindex(designs), g.min().reindex(designs), g.max().reindex(designs)
        yerr = np.vstack([mean - lo, hi - mean])
        at = x + (j - (len(metrics) - 1) / 2) * width
        ax.bar(at, mean, width, yerr=yerr, capsize=3,
               color=[(colors or {}).get(d, color_for(d)) for d in designs], hatch=hatches[j % len(hatches)],
               edgecolor="black", linewidth=0.5, label=metric)
        for where, top in zip(at, hi):  # a design at zero in every run has no bar to see: say 0 where it would be
            if top == 0:
                ax.annotate("0", (where, 0), xytext=(0, 2), textcoords="offset points", ha="center", va="bottom",
                            fontsize="small", color="black")
    ax.set_xticks(x, [str(d) if wrap is None else wrap_label(str(d), wrap) for d in designs])
    values = df[metrics].to_numpy(dtype=float)
    if np.all(np.isnan(values) | (values == np.round(values))):  # counts: no "2.5 records" tick
        from matplotlib.ticker import MaxNLocator
        ax.yaxis.set_major_locator(MaxNLocator(integer=True, steps=[1, 2, 5, 10]))  # 0, 20, 40: not 0, 15, 30
    ax.set_ylabel(ylabel)
    ax.set_xlabel(by)
    if len(metrics) > 1:  # the hatching tells metrics apart; colours are the designs'
        from matplotlib.patches import Patch
        # a metric that is zero in every run draws no bar: its legend entry says so rather than promise one
        handles = [Patch(facecolor="white", edgecolor="black", hatch=hatches[j % len(hatches)],
                         label=m if df[m].fillna(0).ne(0).any() else f"{m} (0 in every run: no bar)")
                   for j, m in enumerate(metrics)]
        ax.legend(handles=handles, title="outcome")
    if title is None:
        m = metrics[0]
        means = df.groupby(by, sort=False)[m].mean()
        best, worst = means.idxmin(), means.idxmax()
        title = f"{m}: {worst} averages {means[worst]:.3g} per run, {best} {means[best]:.3g}"
    ax.set_title(title)
    return ax


def latency_series(item: Any, start: str, end: str) -> pd.Series:
    """Per-message latencies (ms) from a RunResult's trace, or ``item`` itself as a float series."""
    if isinstance(item, RunResult):
        from ..checks import latencies
        return latencies(item.trace, start, end)
    return pd.Series(item, dtype=float)


def format_ms(ms: float) -> str:
    """A time for a title or label: "7.6 ms", "450 ms", "2.4 s" (never "2.4e+03 ms"); the one formatter."""
    if ms >= 999.5:
        return f"{ms / 1000:.3g} s"
    return f"{ms:.2g} ms" if ms < 10 else f"{ms:.0f} ms"


def latency_cdf(
    samples: Mapping[str, Any],
    ax: Axes | None = None,
    title: str | None = None,
    start: str = "send",
    end: str = "processed",
    log: bool = False,
) -> Axes:
    """Empirical CDF of latency per design. ``samples`` maps design -> RunResult or latencies (ms).

    With ``log`` the x axis is logarithmic, its ticks plain milliseconds at 1, 2 and 5 of each
    decade (10, 20, 50, 100, ...), not powers of ten; over less than a decade or so, where those
    would give fewer than four ticks, at 1, 2, 3, 5 and 7 (20, 30, 50, 70), else at every whole step.
    """
    ax = axes_or_new(ax)
    p99s = {}
    drawn: list[tuple[Any, np.ndarray, Any]] = []  # (design, latencies, line) of the curves so far
    for design, item in samples.items():
        lat = np.sort(latency_series(item, start, end).to_numpy())
        if lat.size == 0:
            continue
        y = np.arange(1, lat.size + 1) / lat.size
        line, = ax.step(lat, y, where="post", color=color_for(design), label=str(design))
        same = [d for d, earlier, _ in drawn if earlier.shape == lat.shape and np.allclose(earlier, lat)]
        if same:  # this curve lies exactly on an earlier one, which can no longer be seen: one legend entry
            for d, _, hidden in drawn:
                if d in same:
                    hidden.set_label("_nolegend_")
            line.set_label(f"{' = '.join(map(str, same))} = {design}\n(the same latencies)")
        drawn.append((design, lat, line))
        p99s[design] = float(np.percentile(lat, 99))
    ax.axhline(0.99, color="grey", linestyle=":", linewidth=1)
    ax.set_xlabel("latency (ms)")
    ax.set_ylabel("fraction of requests at or below")
    if log:
        from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

        ax.set_xscale("log")
        ax.autoscale_view()
        lo, hi = ax.get_xlim()
        for subs in ((1, 2, 5), (1, 2, 3, 5, 7), tuple(range(1, 10))):  # the sparsest set with four ticks in view
            if sum(lo <= v <= hi for v in LogLocator(subs=subs).tick_values(lo, hi)) >= 4:
                break
        ax.xaxis.set_major_locator(LogLocator(subs=subs))
        ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _pos: f"{v:g}"))
        ax.xaxis.set_minor_formatter(NullFormatter())
        ax.set_xlabel("latency (ms, log scale)")
    ax.legend(title="design")
    if title is None and p99s:
        parts = "; ".join(f"{d}: {format_ms(v)}" for d, v in sorted(p99s.items(), key=lambda kv: kv[1]))
        title = f"99% of requests finish within {parts}" if len(p99s) == 1 else f"p99 latency, {parts}"
    ax.set_title(title or "")
    return ax


def percentile_bars(
    samples: Mapping[str, Any],
    percentiles: Sequence[float] = (50, 95, 99),
    ax: Axes | None = None,
    title: str | None = None,
    start: str = "send",
    end: str = "processed",
) -> Axes:
    """Latency percentiles per design as grouped bars (ms)."""
    ax = axes_or_new(ax)
    designs = list(samples)
    width = 0.8 / len(designs)
    x = np.arange(len(percentiles))
    values = {}
    for i, d in enumerate(designs):
        lat = latency_series(samples[d], start, end).to_numpy()
        v = np.percentile(lat, percentiles) if lat.size else np.zeros(len(percentiles))
        values[d] = v
        ax.bar(x + (i - (len(designs) - 1) / 2) * width, v, width, color=color_for(d), label=str(d))
    ax.set_xticks(x, [f"p{p:g}" for p in percentiles])
    ax.set_ylabel("latency (ms)")
    ax.legend(title="design")
    if title is None and len(designs) >= 2:
        a, b = designs[0], designs[1]
        ratio = values[b][-1] / values[a][-1] if values[a][-1] else float("nan")
        title = f"p{percentiles[-1]:g}: {b} is {ratio:.1f}x {a}"
    ax.set_title(title or "")
    return ax


def windows_between(trace: pd.DataFrame, down: str, up: str, end: float | None = None,
                    component: str | None = None) -> list[tuple[float, float]]:
    """(start, end) pairs in ms from the trace's ``down`` and ``up`` rows (``"broker_down"``, ``"broker_up"``).

    ``component`` keeps only rows of components whose name contains it. A window still open at the end of
    the trace closes at ``end``, or is left out when ``end`` is None.
    """
    rows = trace[trace["event"].isin([down, up])]
    if component is not None:
        rows = rows[rows["component"].astype(str).str.contains(component, regex=False)]
    out: list[tuple[float, float]] = []
    start: float | None = None
    for t, ev in zip(rows["time"], rows["event"]):
        if ev == down and start is None:
            start = float(t)
        elif ev == up and start is not None:
            out.append((start, float(t)))
            start = None
    if start is not None and end is not None:
        out.append((start, end))
    return out


def shade_windows(ax: Axes, windows: Iterable[tuple[float, float]], label: str = "outage",
                  scale: float = 1.0, color: Any = "grey") -> Axes:
    """Shade time windows (ms; divided by ``scale`` for axes in other units) on ``ax``."""
    first = True
    for start, end in windows:
        ax.axvspan(start / scale, end / scale, color=color, alpha=0.2, label=label if first else None)
        first = False
    return ax


def time_series(
    series: Mapping[str, pd.DataFrame],
    y: str,
    ax: Axes | None = None,
    title: str = "",
    ylabel: str | None = None,
    threshold: float | None = None,
    windows: Iterable[tuple[float, float]] = (),
    x: str = "time",
    seconds: bool = True,
) -> Axes:
    """One line per design of column ``y`` over time, with an alert threshold and shaded windows."""
    ax = axes_or_new(ax)
    scale = 1000.0 if seconds else 1.0
    for design, frame in series.items():
        ax.step(frame[x] / scale, frame[y], where="post", color=color_for(design), label=str(design))
    if threshold is not None:
        ax.axhline(threshold, color="black", linestyle="--", linewidth=1, label="alert threshold")
    shade_windows(ax, windows, scale=scale)
    ax.set_xlabel("time (s)" if seconds else "time (ms)")
    ax.set_ylabel(ylabel or y)
    ax.legend()
    ax.set_title(title)
    return ax


def lag_over_time(result: RunResult, ax: Axes | None = None, title: str | None = None,
                  key: str = "lag") -> Axes:
    """Consumer lag per partition over time (records), from ``result.series[key]``."""
    ax = axes_or_new(ax)
    lag = result.series[key]
    peaks = {}
    groups = list(lag.groupby(["topic", "partition"], sort=True))
    # past ten partitions the default colours repeat (partition 10 would look like partition 0): take twenty
    palette = plt.get_cmap("tab20").colors if len(groups) > 10 else None
    for i, ((topic, partition), g) in enumerate(groups):
        ax.step(g["time"] / 1000.0, g["lag"], where="post", label=f"{topic}[{partition}]",
                color=None if palette is None else palette[i % len(palette)])
        peaks[partition] = int(g["lag"].max())
    ax.set_xlabel("time (s)")
    ax.set_ylabel("lag (records)")
    if len(groups) > 6:  # a long legend inside would cover the lines: beside the plot instead
        ax.legend(title="partition", fontsize="small", loc="upper left", bbox_to_anchor=(1.01, 1.0))
    else:
        ax.legend(title="partition", fontsize="small")
    if title is None and peaks:
        worst = max(peaks, key=peaks.get)
        title = f"partition {worst} peaks at {peaks[worst]} records behind"
    ax.set_title(title or "")
    return ax


_MARKS = {
    "crash": ("X", "black", 90), "restart": ("^", "grey", 40),
    "send": (".", "#1f77b4", 12), "append": (".", "#9467bd", 12), "processed": (".", "#2ca02c", 12),
    "db_commit": (".", "#8c564b", 12), "commit": ("|", "#7f7f7f", 20),
}
_OUTLINED = ("crash", "restart")


#: Hand-offs between components that the trace's events stand for: an effect row and the events that can
#: cause it from another lane. A timeline joins two lanes only along these, never merely by time order.
HANDOFFS: dict[str, tuple[str, ...]] = {
    "append": ("send", "retry", "republish"),
    "duplicate_dropped": ("send", "retry"),
    "fetch": ("append",),  # only a record's own poll carries its id (lesson 12's one-record timeline)
    "process": ("append", "fetch"),
    "send": ("outbox_read", "request", "republish"),
    # a user's row commits for its request; the relay's later commit of the mark follows the broker's ack
    "db_commit": ("request", "outbox_published"),
    "outbox_published": ("append",),  # the relay hears the broker's acknowledgement
    "outbox_read": ("db_commit",),
    # a request's own code path: the service crashed, or answered, after its last step
    "crash": ("db_commit", "append", "db_rejected", "send", "outbox_read", "outbox_published"),
    "request_failed": ("crash", "send_failed", "db_rejected", "step_failed"),
    "step_failed": ("send_failed",),  # a boundary's step fails when its publish is given up on
    "event_dropped": ("send_failed",),  # the service logs the event its producer gave up on
    "responded": ("db_commit", "append"),
    "acked": ("append",),  # the application hears the broker's acknowledgement (lesson 16)
}
#: Rows that start something new: never joined to an earlier row of another lane.
ORIGINS = ("request", "republish")
_DELIVERY_ENDS = ("processed", "crash", "handler_error", "dead_lettered")
#: Rows that read one record: joined to the ``append`` (or ``fetch``) of that record, found by its offset.
_READS = ("fetch", "process")


def _record_keys(rows: pd.DataFrame) -> list[tuple[str, int, int] | None]:
    """Each row's record as ``(topic, partition, offset)``, or None where the trace gives no offset."""
    if not {"topic", "partition", "offset"} <= set(rows.columns):
        return [None] * len(rows)
    keys: list[tuple[str, int, int] | None] = []
    for topic, part, off in zip(rows["topic"], rows["partition"], rows["offset"]):
        known = not (pd.isna(topic) or pd.isna(part) or pd.isna(off)) and int(off) >= 0
        keys.append((str(topic), int(part), int(off)) if known else None)
    return keys


def message_path(rows: pd.DataFrame) -> list[tuple[int, int, bool]]:
    """The links a message really took, as ``(from, to, repeated)`` positions in its ``rows`` (time order).

    A row is joined to the latest earlier row of an event that hands off to it
    (:data:`HANDOFFS`); otherwise to the later of the previous row in its own lane and, for
    a row in another lane, the ``process`` row of the delivery being handled (its side
    effect). Rows with no known cause stay unjoined rather than linked by time alone. ``repeated`` marks the second and later
    deliveries or writes of the same step (a redelivery, a duplicate append).

    A ``fetch`` or ``process`` row with an offset is joined to the ``append`` (or ``fetch``) of the same
    topic, partition and offset, the record it read; by the message's id alone only where the trace
    has no offset (a redelivered order comes from the order's append, not from its later invoice's).
    """
    comps = rows["component"].astype(str).to_list()
    events = rows["event"].astype(str).to_list()
    records = _record_keys(rows)
    links: list[tuple[int, int, bool]] = []
    seen: set[tuple[str, str]] = set()
    last_in_lane: dict[str, int] = {}
    last_event: dict[str, int] = {}
    last_of_record: dict[tuple[str, tuple[str, int, int]], int] = {}
    handling: int | None = None
    for j, (comp, event, record) in enumerate(zip(comps, events, records)):
        step = (comp, event) if record is None else (comp, f"{event} {record[0]}")  # a write to another topic is new
        repeat = step in seen and event in ("process", "append", "processed", "side_effect", "email_sent")
        if event in _READS and record is not None:
            handed = [last_of_record[(e, record)] for e in HANDOFFS[event] if (e, record) in last_of_record]
        else:
            handed = [last_event[e] for e in HANDOFFS.get(event, ()) if e in last_event]
        if handed:
            cause: int | None = max(handed)
        elif event in ORIGINS:  # a new start (a client's request, an upstream replay): nothing earlier caused it
            cause = last_in_lane.get(comp)
        else:
            near = [last_in_lane[comp]] if comp in last_in_lane else []
            if handling is not None and comps[handling] != comp:
                near.append(handling)  # a side effect of the delivery being handled
            cause = max(near) if near else None
        if cause is not None:
            links.append((cause, j, repeat))
        seen.add(step)
        last_in_lane[comp] = j
        last_event[event] = j
        if record is not None:
            last_of_record[(event, record)] = j
        if event == "process":
            handling = j
        elif handling is not None and comp == comps[handling] and event in _DELIVERY_ENDS:
            handling = None
    return links


def timeline(
    result: RunResult,
    ax: Axes | None = None,
    components: Sequence[str] | None = None,
    highlight: Iterable[Any] = (),
    title: str | None = None,
    window: tuple[float, float] | None = None,
) -> Axes:
    """One lane per component over time: its steps as dots, crashes as crosses.

    Rows of the messages in ``highlight`` (ids, e.g. a check's examples) are circled
    in red and joined along the hand-offs that happened (:func:`message_path`), so a
    learner can follow a lost or duplicated message; a redelivery or a second write of the
    same step is dashed.
    """
    trace = result.trace
    if window is not None:
        trace = trace[(trace["time"] >= window[0]) & (trace["time"] <= window[1])]
    comps = list(components) if components is not None else list(dict.fromkeys(trace["component"]))
    ax = axes_or_new(ax, (9, 0.6 * len(comps) + 1.5))
    lane = {c: i for i, c in enumerate(comps)}
    rows = trace[trace["component"].isin(comps)]
    for event, g in rows.groupby("event", sort=False):
        marker, color, size = _MARKS.get(str(event), (".", "#bbbbbb", 8))
        # crashes and restarts are big, hollow and underneath, so the steps at the same moment still show
        paint = ({"facecolors": "none", "edgecolors": color, "linewidths": 1.2, "zorder": 2} if event in _OUTLINED
                 else {"color": color, "zorder": 3})
        ax.scatter(g["time"] / 1000.0, g["component"].astype(str).map(lane).astype(float), marker=marker,
                   s=size, label=str(event) if event in _MARKS else None, **paint)
    highlight = list(highlight)
    repeats = False
    for mid in highlight:
        h = rows[rows["msg_id"] == mid]
        if len(h):
            x = h["time"].to_numpy(dtype=float) / 1000.0
            y = h["component"].astype(str).map(lane).to_numpy(dtype=float)
            for i, j, repeat in message_path(h):
                ax.plot([x[i], x[j]], [y[i], y[j]], color=FOLLOWED, linewidth=1, zorder=4,
                        linestyle="--" if repeat else "-")
                repeats = repeats or repeat
            ax.scatter(x, y, facecolors="none", edgecolors=FOLLOWED, s=80, zorder=4)
    if repeats:
        ax.plot([], [], color=FOLLOWED, linestyle="--", linewidth=1, label="delivered or written again")
    ax.set_yticks(range(len(comps)), comps)
    ax.set_ylim(-0.7, len(comps) - 0.3)
    ax.invert_yaxis()
    ax.set_xlabel("time (s)")
    ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize="small")
    if title is None:
        crashes = int((rows["event"] == "crash").sum())
        title = f"{crashes} crash(es); {len(highlight)} message(s) followed in red"
    ax.set_title(title)
    return ax


def follow_lanes(ax: Axes, trace: pd.DataFrame, path: pd.DataFrame, lanes: list[str], t0: float, scale: float,
           window: tuple[float, float], line: pd.DataFrame | None = None) -> dict[str, int]:
    """Draw one lane per component: other messages' steps as grey dots, the followed path circled in red and joined.

    ``line`` (default ``path``) are the rows the red line joins, in time order. Returns lane numbers.
    """
    lane = {c: i for i, c in enumerate(lanes)}
    lo, hi = window
    comp = trace["component"].astype(str)
    other = trace[(trace["time"] >= lo) & (trace["time"] <= hi) & comp.isin(lanes)
                  & ~trace.index.isin(path.index) & ~trace["event"].isin(QUIET_EVENTS)]
    ax.scatter((other["time"] - t0) / scale, other["component"].astype(str).map(lane), s=6, color=OTHER_STEPS,
               zorder=1, linewidths=0)
    line = path if line is None else line
    ax.plot((line["time"] - t0) / scale, line["component"].astype(str).map(lane), color=FOLLOWED, linewidth=1.2,
            zorder=3)
    ax.scatter((path["time"] - t0) / scale, path["component"].astype(str).map(lane), facecolors="white",
               edgecolors=FOLLOWED, s=45, zorder=4)
    ax.set_yticks(range(len(lanes)), lanes)
    ax.set_ylim(len(lanes) - 0.4, -0.9)
    ax.set_xlim((lo - t0) / scale, (hi - t0) / scale)
    ax.grid(axis="x", color=GRID, zorder=0)
    return lane


def example_id(result: RunResult, scenario: str, check: str, msg_id: Any, needed: str) -> Any:
    """``msg_id``, or the first example of ``result.checks[check]``; a clear ConfigError for the wrong run.

    The followed message of a timeline figure: what the learner asked for, else the
    run's first example of the failure the figure is about (``needed`` says which run has one).
    """
    if result.scenario != scenario:
        raise ConfigError("result", result.scenario, f"a run of sk.scenarios.{scenario}")
    if msg_id is not None:
        return msg_id
    examples = result.checks[check].examples
    if not examples:
        raise ConfigError("result", f"{result.params['design']} seed {result.seed}", needed)
    return examples[0]
