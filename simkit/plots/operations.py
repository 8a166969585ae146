"""Figures of the operations lessons: poison messages, dead letters, replay and schema drift.

* :func:`handled_over_time`: messages handled over time per design; a blocked
  partition shows as a line that goes flat.
* :func:`dlq_depth`: the dead-letter topic's sampled depth with its alert threshold and
  the moments the alert fired.
* :func:`replay_timeline`: which version of a consumer handled which offset when, so a
  reset and the reprocessing after it are visible.
* :func:`schema_outcomes`: for each schema change and registry mode, whether the change
  was refused, broke a reader, or flowed.
* :func:`poison_timeline`: one partition of a dead-letters run, offset against time:
  the poison record's attempts, and the records stuck behind it.
* :func:`consumer_lag`: the group's lag per partition (:func:`~simkit.plots.lag_over_time`)
  with the lag alert's threshold and the moments it fired and resolved.
* :func:`decode_timeline`: every payment of a schema-drift run, decoded or not, against
  the deploys of producer and consumer, with one failed record marked.
"""

from __future__ import annotations

from typing import Any, Mapping

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.colors import ListedColormap
from matplotlib.ticker import MaxNLocator

from ..results import RunResult
from ._base import axes_or_new, color_for, lag_over_time

__all__ = ["consumer_lag", "decode_timeline", "dlq_depth", "handled_over_time", "poison_timeline",
           "replay_timeline", "schema_outcomes"]


def _design(result: RunResult) -> str:
    for name in ("design", "handler_kind", "change"):
        if name in result.params:
            return str(result.params[name])
    return result.scenario


def _results(results: RunResult | Mapping[str, RunResult]) -> dict[str, RunResult]:
    if isinstance(results, RunResult):
        return {_design(results): results}
    return dict(results)


def handled_over_time(results: RunResult | Mapping[str, RunResult], ax: Axes | None = None,
                      title: str | None = None, event: str = "side_effect") -> Axes:
    """Messages handled (first ``event`` row each) over time per design, dead-lettered ones dashed."""
    ax = axes_or_new(ax)
    summary = []
    runs = _results(results)
    for k, (design, r) in enumerate(runs.items()):
        t = r.trace
        color = color_for(design)
        width = 1.5 + 1.5 * (len(runs) - 1 - k)  # earlier lines wider, so a line on top leaves them visible
        done = t[t["event"] == event].drop_duplicates("msg_id")
        x = np.concatenate([[0.0], done["time"].to_numpy() / 1000.0, [r.report.get("duration", 0) / 1000.0]])
        y = np.concatenate([[0], np.arange(1, len(done) + 1), [len(done)]])
        ax.step(x, y, where="post", color=color, linewidth=width, label=f"{design}: handled")
        dead = t[t["event"] == "dead_lettered"].drop_duplicates("msg_id")
        if len(dead):
            dx = np.concatenate([[0.0], dead["time"].to_numpy() / 1000.0, [x[-1]]])
            dy = np.concatenate([[0], np.arange(1, len(dead) + 1), [len(dead)]])
            ax.step(dx, dy, where="post", color=color, linewidth=width, linestyle="--",
                    label=f"{design}: dead-lettered")
        produced = int(r.report.get("produced", len(done)))
        verb = "stalls at" if not r.report.get("drained", 1) else "handles"
        summary.append(f"{design} {verb} {len(done)} of {produced}" + (f" and parks {len(dead)}" if len(dead) else ""))
    ax.set_xlabel("time (s)")
    ax.set_ylabel("messages (cumulative)")
    ax.set_ylim(bottom=0)
    ax.legend(fontsize="small", loc="upper left", bbox_to_anchor=(1.0, 1.0))
    ax.set_title(title if title is not None else "\n".join(summary))
    return ax


def dlq_depth(results: RunResult | Mapping[str, RunResult], ax: Axes | None = None,
              title: str | None = None, metric: str = "dlq_depth") -> Axes:
    """The dead-letter topic's depth as the monitor sampled it, the alert threshold and the alerts fired."""
    ax = axes_or_new(ax)
    runs = _results(results)
    threshold = None
    peak, fired = 0.0, 0
    for k, (design, r) in enumerate(runs.items()):
        s = r.series[metric]
        ax.step(s["time"] / 1000.0, s[metric], where="post", color=color_for(design),
                linewidth=1.5 + 1.5 * (len(runs) - 1 - k), label=str(design))
        peak = max(peak, float(s[metric].max()) if len(s) else 0.0)
        t = r.trace
        alerts = t[(t["event"] == "alert") & t["detail"].astype(str).str.startswith(metric)]
        fired += len(alerts)
        if len(alerts):
            at = alerts["time"].to_numpy()
            level = np.interp(at, s["time"].to_numpy(), s[metric].to_numpy())
            ax.scatter(at / 1000.0, level, marker="v", s=90, color="black", zorder=4,
                       label="alert fired" if fired == len(alerts) else None)
        threshold = r.params.get("dlq_alert_threshold", threshold)
    if threshold is not None:
        ax.axhline(threshold, color="black", linestyle="--", linewidth=1, label=f"alert threshold ({threshold:g})")
    ax.set_xlabel("time (s)")
    ax.set_ylabel("records in the dead-letter topic")
    ax.set_ylim(bottom=0, top=max(peak, threshold or 0) * 1.2 + 1)
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    ax.legend(fontsize="small")
    if title is None:
        times = "once" if fired == 1 else f"{fired} times"
        title = (f"Dead letters pile up to {peak:g} records: the alert fired {times}" if fired else
                 f"Dead-letter depth peaks at {peak:g} records, under the threshold: no alert")
    ax.set_title(title)
    return ax


_VERSION_COLORS = {"v1": "#7f7f7f", "v2": "#d62728", "v3": "#2ca02c"}
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
            ax.scatter(g["time"] / 1000.0, g["offset"], s=10, color=_VERSION_COLORS.get(v, "#1f77b4"),
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
        title = (f"{p.get('handler_kind')}, reset to {p.get('reset_to')!r}: {r.get('reprocessed', 0):g} records "
                 f"handled again,\nprojection {state}, {r.get('side_effects_repeated', 0):g} receipts sent twice")
    ax.set_title(title)
    return ax


def schema_outcomes(df: pd.DataFrame, ax: Axes | None = None, title: str | None = None,
                    change: str = "change", registry: str = "registry") -> Axes:
    """A grid: schema change (rows) by registry mode (columns), each cell refused, broke a reader, or flowed.

    ``df`` has one row per run of :func:`~simkit.scenarios.schema_drift` (e.g. from
    :func:`simkit.sweep` over ``change`` and ``registry``), with the report fields
    ``rejected_registrations`` and ``decode_failures``; several seeds are averaged. A
    missing registry shows as "no registry".
    """
    d = df.copy()
    d[registry] = d[registry].astype(object).where(d[registry].notna(), "no registry")
    changes = list(dict.fromkeys(d[change]))
    modes = list(dict.fromkeys(d[registry]))
    g = d.groupby([change, registry], sort=False)[["rejected_registrations", "decode_failures"]].mean()
    # 0 = refused by the registry, 1 = shipped and flowed, 2 = shipped and broke a reader
    codes = np.zeros((len(changes), len(modes)))
    ax = axes_or_new(ax, (1.6 * len(modes) + 3, 0.7 * len(changes) + 2))
    for i, c in enumerate(changes):
        for j, m in enumerate(modes):
            if (c, m) not in g.index:
                codes[i, j] = np.nan
                continue
            rej, fails = g.loc[(c, m)]
            codes[i, j] = 0 if rej > 0 else 2 if fails > 0 else 1
            label = "refused" if rej > 0 else f"{fails:.3g} decode\nfailures" if fails > 0 else "flows"
            ax.text(j, i, label, ha="center", va="center", fontsize="small",
                    color="white" if codes[i, j] == 2 else "black")
    cmap = ListedColormap(["#c7c7c7", "#98df8a", "#d62728"])
    ax.imshow(codes, cmap=cmap, vmin=0, vmax=2, aspect="auto")
    ax.set_xticks(range(len(modes)), [str(m) for m in modes], rotation=20)
    ax.set_yticks(range(len(changes)), changes)
    ax.set_xlabel("schema registry compatibility mode")
    ax.set_ylabel("schema change")
    if title is None:
        broken = {m: int(np.nansum(codes[:, j] == 2)) for j, m in enumerate(modes)}
        parts = [f"{m}: {n} of {len(changes)} changes break a reader" for m, n in broken.items() if n]
        safe = [str(m) for m, n in broken.items() if not n]
        title = "; ".join(parts) if parts else "No change breaks a reader"
        if safe and parts:
            title += f"\nno decode failures with {', '.join(safe)}"
    ax.set_title(title)
    return ax


def _seconds(ms: float) -> str:
    return f"{ms / 1000:.2f} s"


def poison_timeline(result: RunResult, msg_id: Any = None, ax: Axes | None = None,
                    title: str | None = None, topic: str = "payments") -> Axes:
    """The partition of one poison record in a :func:`~simkit.scenarios.dead_letters` run, offset against time.

    Grey dots: records arriving; green dots: records booked; red crosses: each failed
    attempt at a poison record (``handler_error`` and ``handler_retry`` rows; the record
    followed, ``msg_id``, defaults to the run's first poison message and is ringed); a
    black triangle: a record parked on the dead-letter topic after its last attempt.
    Records never booked nor parked, and still in the log when the run stopped, are
    orange bars from their arrival to the end: the records stuck behind the poison.
    """
    t = result.trace
    poison = set(result.params.get("poison", ()))
    if msg_id is None:
        if not poison:
            raise ValueError("this run has no poison message: pass msg_id")
        msg_id = result.params["poison"][0]
    on = t["topic"] == topic
    app = t[(t["event"] == "append") & on].drop_duplicates("msg_id")
    mine = app[app["msg_id"] == msg_id]
    if mine.empty:
        raise ValueError(f"message {msg_id!r} never reached {topic}")
    partition, offset = int(mine["partition"].iloc[0]), int(mine["offset"].iloc[0])
    in_p = t[on & (t["partition"] == partition)]
    arrived = app[app["partition"] == partition]
    ax = axes_or_new(ax, (10, 4.5))
    ax.scatter(arrived["time"] / 1000.0, arrived["offset"], s=8, color="#bbbbbb", label="record arrives", zorder=2)
    booked = in_p[in_p["event"] == "side_effect"].drop_duplicates("msg_id")
    ax.scatter(booked["time"] / 1000.0, booked["offset"], s=10, color="#2ca02c", label="record booked", zorder=3)
    end = float(result.report.get("duration", t["time"].max()))
    finished = set(t.loc[t["event"].isin(["side_effect", "dead_lettered"]), "msg_id"])
    waiting = arrived[~arrived["msg_id"].isin(finished) & ~arrived["msg_id"].isin(poison)]
    if len(waiting):
        ax.hlines(waiting["offset"], waiting["time"] / 1000.0, end / 1000.0, color="#ff7f0e", linewidth=1.2,
                  alpha=0.8, label="record stuck behind it (waiting)", zorder=1)
    tries = in_p[in_p["event"].isin(["handler_error", "handler_retry"]) & in_p["msg_id"].isin(poison)]
    ax.scatter(tries["time"] / 1000.0, tries["offset"], marker="x", s=40, color="#d62728",
               label="failed attempt at a poison record", zorder=4)
    parked = in_p[in_p["event"] == "dead_lettered"]
    if len(parked):
        ax.scatter(parked["time"] / 1000.0, parked["offset"], marker="v", s=80, color="black",
                   label="parked on the dead-letter topic", zorder=5)
    first = tries[tries["msg_id"] == msg_id]
    if len(first):
        ax.scatter(first["time"].iloc[:1] / 1000.0, [offset], s=260, facecolors="none", edgecolors="#d62728",
                   linewidth=1.5, zorder=5, label=f"message {msg_id}")
    ax.set_xlabel("time (s)")
    ax.set_ylabel(f"offset in partition {partition}")
    ax.set_xlim(left=0)
    ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize="small")
    if title is None:
        parked_ids = set(parked["msg_id"])
        attempts = int((tries["msg_id"] == msg_id).sum()) + int(msg_id in parked_ids)
        behind = int((waiting["offset"] > offset).sum())
        where = f"message {msg_id} (partition {partition}, offset {offset})"
        if msg_id in parked_ids:
            start = in_p.loc[(in_p["event"] == "process") & (in_p["msg_id"] == msg_id), "time"]
            at = float(parked.loc[parked["msg_id"] == msg_id, "time"].iloc[0])
            held = at - float(start.iloc[0]) if len(start) else 0.0
            moved = int((booked["offset"] > offset).sum())
            title = (f"message {msg_id} parked after {attempts} failed attempts ({held:.0f} ms);\n"
                     f"partition {partition} moved on: {moved} records behind it booked"
                     + (f", {behind} still waiting" if behind else ""))
        elif int(result.report.get("crashes", 0)) and attempts > 1:
            title = (f"{where} failed {attempts} times, crashing a consumer each time;\n"
                     f"{behind} records behind it were still waiting when the run stopped at {_seconds(end)}")
        else:
            lost = msg_id in set(result.checks["lost"].examples) if "lost" in result.checks else False
            title = (f"{where} failed {attempts} time(s) and was "
                     f"{'skipped: committed past and gone' if lost else 'not handled'};\n"
                     f"{behind} records left waiting behind it")
    ax.set_title(title)
    return ax


def consumer_lag(result: RunResult, ax: Axes | None = None, title: str | None = None,
                 metric: str = "consumer_lag", threshold: float | None = None) -> Axes:
    """Lag per partition (:func:`~simkit.plots.lag_over_time`), the lag alert's threshold, and its alerts.

    Reads ``result.series["lag"]`` (records per partition) and the ``alert`` /
    ``resolved`` rows of the monitor named ``metric``; the threshold defaults to the
    run's ``lag_alert_threshold``.
    """
    ax = lag_over_time(result, ax=ax, title="")
    t = result.trace
    detail = t["detail"].astype(str)
    alerts = t[(t["event"] == "alert") & detail.str.startswith(metric + "=")]
    resolved = t[(t["event"] == "resolved") & detail.str.startswith(metric + "=")]
    worst = result.series[metric] if metric in result.series else None
    threshold = result.params.get("lag_alert_threshold") if threshold is None else threshold

    def level(times: pd.Series) -> np.ndarray:
        if worst is None or worst.empty:
            return np.full(len(times), threshold or 0.0)
        return np.interp(times.to_numpy(), worst["time"].to_numpy(), worst[metric].to_numpy())

    if threshold is not None:
        ax.axhline(threshold, color="black", linestyle="--", linewidth=1, label=f"alert threshold ({threshold:g})")
    if len(alerts):
        ax.scatter(alerts["time"] / 1000.0, level(alerts["time"]), marker="v", s=90, color="black", zorder=4,
                   label="lag alert fired")
    if len(resolved):
        ax.scatter(resolved["time"] / 1000.0, level(resolved["time"]), marker="^", s=70, color="#2ca02c",
                   edgecolors="black", zorder=4, label="lag alert resolved")
    ax.set_ylim(bottom=0)
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize="small", title="topic[partition]",
              title_fontsize="small")
    if title is None:
        lag = result.series["lag"]
        peaks = lag.groupby("partition")["lag"].max()
        design = _design(result)
        if peaks.empty:
            title = f"{design}: no lag"
        else:
            p = int(peaks.idxmax())
            peak = int(peaks.max())
            if len(alerts):
                fired = _seconds(float(alerts["time"].iloc[0]))
                later = resolved[resolved["time"] > alerts["time"].iloc[0]]
                after = (f"resolved at {_seconds(float(later['time'].iloc[0]))}" if len(later)
                         else "still firing at the end")
                title = (f"{design}: partition {p} falls {peak} records behind;\n"
                         f"the lag alert fired at {fired}, {after}")
            else:
                last = int(lag[lag["time"] == lag["time"].max()]["lag"].max())
                after = "falls back to 0" if last == 0 else f"ends at {last}"
                limit = "no alert" if threshold is None else f"under the alert threshold of {threshold:g}: no alert"
                title = f"{design}: lag peaks at {peak} records (partition {p}) and {after};\n{limit}"
    ax.set_title(title)
    return ax


def decode_timeline(result: RunResult, msg_id: Any = None, ax: Axes | None = None,
                    title: str | None = None, topic: str = "payments") -> Axes:
    """Every payment of a :func:`~simkit.scenarios.schema_drift` run: decoded (green) or not (red), over time.

    Each payment is a point at the moment billing handled it (x) and its message id (y,
    the order it was written in). Dotted lines mark the deploys (the producer writing
    version 2, billing reading it) and a refused registration. ``msg_id`` (default: the
    first payment that failed to decode) is ringed and labelled.
    """
    t = result.trace
    ev = t["event"]
    ok = t[(ev == "side_effect") & (t["topic"] == topic)].drop_duplicates("msg_id")
    bad = t[(ev == "decode_failed") & (t["topic"] == topic)].drop_duplicates("msg_id")
    ax = axes_or_new(ax, (10, 4.5))
    ax.scatter(ok["time"] / 1000.0, ok["msg_id"].astype(float), s=10, color="#2ca02c", label="decoded and billed")
    if len(bad):
        ax.scatter(bad["time"] / 1000.0, bad["msg_id"].astype(float), marker="x", s=25, color="#d62728",
                   label="could not decode: dead-lettered")
    marks = t[ev.isin(["deployed", "schema_rejected"])]
    top = max(float(t.loc[ev == "send", "msg_id"].astype(float).max()), 1.0)
    styles = {"payments": ("#1f77b4", "producer writes v2"), "billing": ("#9467bd", "billing reads v2")}
    for _, row in marks.iterrows():
        detail = str(row["detail"])
        if row["event"] == "schema_rejected":
            color, label = "black", "registry refuses v2"
        else:
            color, label = styles.get(detail.split(" ")[0], ("grey", detail))
        ax.axvline(row["time"] / 1000.0, color=color, linestyle=":", linewidth=1.5, label=label)
    if msg_id is None and len(bad):
        msg_id = bad["msg_id"].iloc[0]
    focus = bad[bad["msg_id"] == msg_id] if msg_id is not None else bad.iloc[:0]
    if msg_id is not None and focus.empty:
        focus = ok[ok["msg_id"] == msg_id]
    if len(focus):
        x, y = float(focus["time"].iloc[0]) / 1000.0, float(focus["msg_id"].iloc[0])
        ax.scatter([x], [y], s=220, facecolors="none", edgecolors="black", linewidth=1.5, zorder=5)
        ax.annotate(f"message {msg_id}", (x, y), xytext=(-12, 14), textcoords="offset points", ha="right",
                    fontsize="small", arrowprops=dict(arrowstyle="-", color="black", linewidth=0.8))
    ax.set_xlabel("time billing handled the payment (s)")
    ax.set_ylabel("payment (message id)")
    ax.set_xlim(left=0)
    ax.set_ylim(-0.03 * top, 1.08 * top)
    ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize="small")
    if title is None:
        p = result.params
        change, mode = p.get("change", "change"), p.get("registry")
        if len(bad):
            first, last = _seconds(float(bad["time"].min())), _seconds(float(bad["time"].max()))
            title = (f"{change}, {'no registry' if mode is None else mode}: {len(bad)} of {len(ok) + len(bad)} "
                     f"payments could not be decoded ({first} to {last});\n"
                     f"message {msg_id} is one of them, parked on the dead-letter topic")
        elif (ev == "schema_rejected").any():
            title = f"{change}: the {mode} registry refused v2, so all {len(ok)} payments decoded"
        else:
            title = f"{change}, {'no registry' if mode is None else mode}: all {len(ok)} payments decoded"
    ax.set_title(title)
    return ax
