"""Figures of the ordering lesson (05), read from :func:`simkit.scenarios.ordering` runs.

* :func:`inversion_pair`: the two changes of one user applied in the opposite order to
  the one they were sent in, read from the trace.
* :func:`inversion_timeline`: the swimlane timeline around such a pair, the older change
  in red, the newer in blue, with leader elections and lost answers shaded.
* :func:`inversion_bars`: ordering anomalies per design over seeds.
* :func:`batch_sizes`: how many records each batch carried, per partitioner (the sticky
  partitioner of KIP-480 against round robin).

The hot-key half of the lesson is in :mod:`simkit.plots.hot_keys`.
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.ticker import FuncFormatter

from ..results import RunResult
from ._base import (
    BLUE,
    ORANGE,
    RED,
    axes_or_new,
    color_for,
    format_ms,
    message_path,
    outcome_bars,
    shade_windows,
    timeline,
    windows_between,
)
from .harmless import harmless_timeline

__all__ = ["batch_sizes", "batches", "inversion_bars", "inversion_pair", "inversion_timeline"]

OLDER, NEWER = RED, BLUE


def inversion_pair(trace: pd.DataFrame, late: Any = None, applied: str = "email_set", sent: str = "send",
                   key: Any = None) -> dict[str, Any]:
    """Two changes of one key applied in the opposite order to the one they were sent in, from the trace.

    Give ``late``, an older change's message id, to get the first moment it was applied
    after a newer change of its key; or give ``key`` to get the inversion that decided
    the key's final value (its last stale application). Returns ``key``, ``older`` and
    ``newer`` (message ids), ``older_sent``, ``newer_sent``, ``newer_applied`` and
    ``older_applied`` (ms), ``repeat`` (True when the stale application was a second copy
    of the older change, as a retry after a lost answer writes) and ``stale_final`` (True
    when the key ended on an older change than its last). Raises ``ValueError`` if there
    is no such pair.
    """
    sends = trace[(trace["event"] == sent) & trace["key"].notna()].drop_duplicates("msg_id")
    if key is None:
        mine = sends[sends["msg_id"] == late]
        if mine.empty:
            raise ValueError(f"message {late!r} has no {sent!r} row")
        key = mine["key"].iloc[0]
    order = {m: i for i, m in enumerate(sends.loc[sends["key"] == key, "msg_id"])}
    if not order:
        raise ValueError(f"key {key!r} has no {sent!r} row")
    rows = trace[(trace["event"] == applied) & (trace["key"] == key)]
    newest, newest_at, seen, found = None, None, set(), []
    for t, m in zip(rows["time"], rows["msg_id"]):
        if newest is not None and order[m] < order[newest] and (late is None or m == late):
            found.append((m, float(t), newest, float(newest_at), m in seen))
            if late is not None:
                break
        seen.add(m)
        if newest is None or order[m] > order[newest]:
            newest, newest_at = m, t
    if not found:
        what = f"message {late!r}" if late is not None else f"no change of {key!r}"
        raise ValueError(f"{what} was never applied after a newer change of {key!r}")
    older, older_at, newer, newer_at, repeat = found[-1]
    sent_at = sends.set_index("msg_id")["time"]
    return dict(key=key, older=older, newer=newer, older_sent=float(sent_at[older]),
                newer_sent=float(sent_at[newer]), newer_applied=newer_at, older_applied=older_at,
                repeat=repeat, stale_final=rows["msg_id"].iloc[-1] != max(order, key=order.get))


def _short(msg_id: Any, key: Any) -> str:
    text = str(msg_id)
    return text[len(str(key)) + 1:] if text.startswith(f"{key}/") else text


def inversion_timeline(
    result: RunResult,
    check: str = "stale_writes",
    example: int = 0,
    ax: Axes | None = None,
    key: Any = None,
    applied: str = "email_set",
    margin: float = 10,
    title: str | None = None,
) -> Axes:
    """The timeline around two changes of one user applied in the opposite order to their sending.

    By default the older change is ``result.checks[check].examples[example]`` (a message
    id of :func:`simkit.scenarios.ordering`'s ``stale_writes`` or ``out_of_order``
    check) and the newer one is the change of the same user applied just before it;
    with ``key`` (a user id) it is the inversion that decided that user's final address.
    The older change's rows are circled in red, the newer's in blue, each joined along the
    hand-offs that happened (:func:`~simkit.plots.message_path`; a retried copy dashed) and drawn a
    little above and below the lane so that both show where they coincide; each is
    labelled where it was sent and applied. Producer retries are orange crosses; leader
    elections (the broker refuses writes) and lost answers are shaded. The window runs
    from the first send to the stale application, ``margin`` ms either side; under a
    second it is labelled in ms. The title says which change was sent first and applied
    second. With no such pair, the figure is :func:`~simkit.plots.harmless_timeline`: the
    retries, elections and lost answers that struck, and the zero in the title.
    """
    trace = result.trace
    if key is None:
        found = result.checks.get(check)
        if found is None or not found.examples:
            return harmless_timeline(result, check, ax=ax, title=title)
        pair = inversion_pair(trace, found.examples[min(example, len(found.examples) - 1)], applied)
    else:
        pair = inversion_pair(trace, applied=applied, key=key)
    older, newer = pair["older"], pair["newer"]
    first = min(pair["older_sent"], pair["newer_sent"])
    margin = max(margin, 0.06 * (pair["older_applied"] - first))  # room for the labels at either end
    t0, t1 = first - margin, pair["older_applied"] + margin
    inside = trace[(trace["time"] >= t0) & (trace["time"] <= t1)]
    ours = trace[trace["msg_id"].isin([older, newer]) & (trace["time"] >= t0) & (trace["time"] <= t1)]
    names = [c for c in dict.fromkeys(inside["component"].astype(str)) if "->" not in c]
    comps = ([c for c in names if c.startswith("producer")] + [c for c in names if c.startswith("broker")]
             + sorted(dict.fromkeys(ours.loc[ours["event"] == applied, "component"].astype(str))))
    ax = timeline(result, ax=ax, components=comps, window=(t0, t1), title="")
    lane = {c: i for i, c in enumerate(comps)}
    rows = ours[ours["component"].astype(str).isin(lane)]
    short = {older: _short(older, pair["key"]), newer: _short(newer, pair["key"])}
    paths = ((older, OLDER, -0.12, f"{older} (sent first)"), (newer, NEWER, 0.12, f"{newer} (sent second)"))
    for mid, color, dy, label in paths:
        h = rows[rows["msg_id"] == mid]
        x = h["time"].to_numpy(dtype=float) / 1000.0
        y = h["component"].astype(str).map(lane).to_numpy(dtype=float) + dy
        # joined along the hand-offs that happened, a retried copy dashed: never by time order alone
        for i, j, repeat in message_path(h):
            ax.plot([x[i], x[j]], [y[i], y[j]], color=color, linewidth=1.2, zorder=5,
                    linestyle="--" if repeat else "-")
        ax.scatter(x, y, facecolors="none", edgecolors=color, s=70, linewidths=1.5, zorder=5, label=label)
    retries = inside[(inside["event"] == "retry") & inside["component"].astype(str).isin(lane)]
    if len(retries):
        ax.scatter(retries["time"] / 1000.0, retries["component"].astype(str).map(lane).astype(float), marker="x",
                   color=ORANGE, s=60, linewidths=2, zorder=6, label="producer retries a batch")
    notes = [(pair["older_sent"], older, "send", f"{short[older]} sent 1st", OLDER, -0.12, -12),
             (pair["newer_sent"], newer, "send", f"{short[newer]} sent 2nd", NEWER, 0.12, 12),
             (pair["newer_applied"], newer, applied, f"{short[newer]} applied", NEWER, 0.12, 12),
             (pair["older_applied"], older, applied,
              f"{short[older]} applied {'again ' if pair['repeat'] else ''}after it", OLDER, -0.12, -12)]
    for t, mid, event, text, color, dy, off in notes:
        at = rows[(rows["msg_id"] == mid) & (rows["event"] == event) & np.isclose(rows["time"], t)]
        if not len(at):
            continue
        ax.annotate(text, (t / 1000.0, lane[str(at["component"].iloc[0])] + dy), xytext=(0, -off),
                    textcoords="offset points", ha="center", va="center", color=color, fontsize="small",
                    fontweight="bold", zorder=7)
    clip = lambda ws: [(max(a, t0), min(b, t1)) for a, b in ws if b >= t0 and a <= t1]  # noqa: E731
    shade_windows(ax, clip(windows_between(trace, "broker_down", "broker_up")),
                  label="leader election: writes refused", scale=1000.0)
    shade_windows(ax, clip(windows_between(trace, "link_down", "link_up", component="->producer")),
                  label="broker's answers lost", scale=1000.0, color=ORANGE)
    ax.set_xlim(t0 / 1000.0, t1 / 1000.0)
    if t1 - t0 < 1000:
        ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _pos: f"{v * 1000:.0f}"))
        ax.set_xlabel("time (ms)")
    handles, labels = ax.get_legend_handles_labels()
    ax.legend(handles, labels, loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize="small")
    if title is None:
        gap = pair["older_applied"] - pair["newer_applied"]
        how = f"a retried copy of {short[older]}" if pair["repeat"] else short[older]
        title = (f"{pair['key']} sent change {short[older]} before {short[newer]}, "
                 f"but {how} was applied {format_ms(gap)} after {short[newer]}:\n"
                 + ("the user was left with the older address" if pair["stale_final"] else
                    "wrong for a while, until a later change put the right address back"))
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
                   colors: Mapping[str, str] | None = None, wrap: int | None = None) -> Axes:
    """Ordering anomalies per design (mean over seeds, whiskers from the lowest to the highest run).

    The legend says what each metric counts (changes or users). ``colors`` maps values
    of ``by`` that are not design names (e.g. producer settings) to bar colours; ``wrap``
    breaks long tick labels (both as in :func:`~simkit.plots.outcome_bars`). The
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
    ax = outcome_bars(df, metrics, by=by, ax=ax, title=title, ylabel="per run (mean, min-max over seeds)",
                      colors=colors, wrap=wrap)
    legend = ax.get_legend()
    if legend is not None:
        for text in legend.get_texts():
            unit = _ORDER_METRICS.get(text.get_text(), ("",))[0]
            if unit:
                text.set_text(f"{text.get_text()} ({unit})")
    return ax


def batches(result: RunResult, topic: str | None = None) -> pd.Series:
    """Records per batch in a run, read from the trace: the ``append`` rows written to one partition
    at one instant are one batch (first copies only, so a retried batch counts once)."""
    t = result.trace
    a = t[(t["event"] == "append") & ((t["topic"] == topic) if topic is not None else True)]
    return a.drop_duplicates("msg_id").groupby(["time", "partition"]).size()


def batch_sizes(results: Mapping[str, RunResult], ax: Axes | None = None, title: str | None = None) -> Axes:
    """How many batches of each size (records) the producer wrote, one bar group per design.

    Read from the trace (:func:`batches`). The title gives each design's batch count and its
    mean records per batch: the same records in fewer, fuller batches mean fewer requests.
    """
    ax = axes_or_new(ax, (9, 3.8))
    sizes = {d: batches(r) for d, r in results.items()}
    top = max(int(s.max()) for s in sizes.values())
    x = np.arange(1, top + 1)
    width = 0.8 / len(sizes)
    for i, (design, s) in enumerate(sizes.items()):
        counts = s.value_counts().reindex(x, fill_value=0)
        ax.bar(x + (i - (len(sizes) - 1) / 2) * width, counts.to_numpy(), width, color=color_for(design),
               label=f"{design}: {len(s)} batches")
    ax.set_xticks(x)
    ax.set_xlabel("records in the batch")
    ax.set_ylabel("batches")
    ax.legend(fontsize="small")
    if title is None:
        title = ";\n".join(f"{d}: {len(s)} batches, {s.mean():.2f} records each on average" for d, s in sizes.items())
    ax.set_title(title)
    return ax
