"""Figures of the dead-letters half of lesson 08, read from :func:`simkit.scenarios.dead_letters` runs.

* :func:`handled_over_time`: messages handled over time per design; a blocked
  partition shows as a line that goes flat.
* :func:`dlq_depth`: the dead-letter topic's sampled depth with its alert threshold and
  the moments the alert fired.
* :func:`poison_timeline`: one partition of a dead-letters run, offset against time:
  the poison record's attempts, and the records stuck behind it.
* :func:`consumer_lag`: the group's lag per partition (:func:`~simkit.plots.lag_over_time`)
  with the lag alert's threshold and the moments it fired and resolved.
"""

from __future__ import annotations

from typing import Any, Mapping

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.legend_handler import HandlerTuple
from matplotlib.ticker import MaxNLocator

from ..results import RunResult
from ._base import (
    FAINT_GREY,
    GREEN,
    ORANGE,
    RED,
    axes_or_new,
    color_for,
    design_of,
    format_ms,
    lag_over_time,
)

__all__ = ["consumer_lag", "dlq_depth", "handled_over_time", "poison_timeline"]


def _results(results: RunResult | Mapping[str, RunResult]) -> dict[str, RunResult]:
    if isinstance(results, RunResult):
        return {design_of(results): results}
    return dict(results)


def handled_over_time(results: RunResult | Mapping[str, RunResult], ax: Axes | None = None,
                      title: str | None = None, event: str = "side_effect") -> Axes:
    """Messages handled (first ``event`` row each) over time per design, dead-lettered ones dashed.

    Designs whose curves overlap (never more than 2 % of the highest count apart) are
    drawn in alternating dashes of their colours and share one legend entry that names
    them all: no entry for a line hidden under another.
    """
    ax = axes_or_new(ax)
    summary = []
    runs = _results(results)
    drawn: list[tuple[np.ndarray, np.ndarray, list[str], list[Any]]] = []
    for k, (design, r) in enumerate(runs.items()):
        t = r.trace
        color = color_for(design)
        width = 1.5 + 1.5 * (len(runs) - 1 - k)  # earlier lines wider, so a line on top leaves them visible
        done = t[t["event"] == event].drop_duplicates("msg_id")
        x = np.concatenate([[0.0], done["time"].to_numpy() / 1000.0, [r.report.get("duration", 0) / 1000.0]])
        y = np.concatenate([[0], np.arange(1, len(done) + 1), [len(done)]])
        same = next((d for d in drawn if _overlap(d[0], d[1], x, y)), None)
        if same is None:
            (line,) = ax.step(x, y, where="post", color=color, linewidth=width)
            drawn.append((x, y, [design], [line]))
        else:  # on top of the identical line, in dashes that let its colour show between them
            (line,) = ax.step(x, y, where="post", color=color, linewidth=same[3][0].get_linewidth(),
                              linestyle=(len(same[2]) * 4, (4, 4 * len(same[2]))))
            same[2].append(design)
            same[3].append(line)
        dead = t[t["event"] == "dead_lettered"].drop_duplicates("msg_id")
        if len(dead):
            dx = np.concatenate([[0.0], dead["time"].to_numpy() / 1000.0, [x[-1]]])
            dy = np.concatenate([[0], np.arange(1, len(dead) + 1), [len(dead)]])
            ax.step(dx, dy, where="post", color=color, linewidth=width, linestyle="--",
                    label=f"{design}: dead-lettered")
        produced = int(r.report.get("produced", len(done)))
        verb = "stalls at" if not r.report.get("drained", 1) else "handles"
        summary.append(f"{design} {verb} {len(done)} of {produced}" + (f" and parks {len(dead)}" if len(dead) else ""))
    dashed, dashed_labels = ax.get_legend_handles_labels()
    handles = [tuple(lines) if len(lines) > 1 else lines[0] for *_, lines in drawn] + dashed
    labels = [f"{' and '.join(names)}: handled" + (" (the lines overlap)" if len(names) > 1 else "")
              for _, _, names, _ in drawn] + dashed_labels
    ax.set_xlabel("time (s)")
    ax.set_ylabel("messages (cumulative)")
    ax.set_ylim(bottom=0)
    ax.legend(handles, labels, fontsize="small", loc="upper left", bbox_to_anchor=(1.0, 1.0),
              handler_map={tuple: HandlerTuple(ndivide=None)})
    ax.set_title(title if title is not None else "\n".join(summary))
    return ax


def _overlap(x0: np.ndarray, y0: np.ndarray, x1: np.ndarray, y1: np.ndarray) -> bool:
    """Whether two cumulative step curves would hide one another: never more than 2 % of the
    highest count (at least 1 record) apart, over the same time span."""
    if not np.isclose(x0[-1], x1[-1]):
        return False
    grid = np.union1d(x0, x1)

    def at(x: np.ndarray, y: np.ndarray) -> np.ndarray:  # the step curve's value at every grid time
        return y[np.clip(np.searchsorted(x, grid, side="right") - 1, 0, None)]

    return float(np.abs(at(x0, y0) - at(x1, y1)).max()) <= max(1.0, 0.02 * max(y0.max(), y1.max()))


def dlq_depth(results: RunResult | Mapping[str, RunResult], ax: Axes | None = None,
              title: str | None = None, metric: str = "dlq_depth") -> Axes:
    """The dead-letter topic's depth as the monitor sampled it, the alert threshold and the alerts fired."""
    ax = axes_or_new(ax)
    runs = _results(results)
    threshold = None
    peak, fired = 0.0, 0
    from ..scenarios.dead_letters import PARKING_DESIGNS

    # a design that parks nothing has no dead-letter topic: its line lies at 0, and the legend says why
    unparked = [d for d, r in runs.items()
                if r.scenario == "dead_letters" and r.params["design"] not in PARKING_DESIGNS]
    for k, (design, r) in enumerate(runs.items()):
        s = r.series[metric]
        ax.step(s["time"] / 1000.0, s[metric], where="post", color=color_for(design),
                linewidth=1.5 + 1.5 * (len(runs) - 1 - k),
                label=f"{design} (has no dead-letter topic: 0)" if design in unparked else str(design))
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
        if unparked and len(unparked) == len(runs):  # nothing to watch: say so, not "under the threshold"
            title = f"{' and '.join(unparked)} park{'s' if len(unparked) == 1 else ''} nothing: no dead-letter topic"
        if len(runs) == 1:
            title += _retrying_at_the_end(next(iter(runs.values())))
    ax.set_title(title)
    return ax


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
    ax.scatter(arrived["time"] / 1000.0, arrived["offset"], s=8, color=FAINT_GREY, label="record arrives", zorder=2)
    booked = in_p[in_p["event"] == "side_effect"].drop_duplicates("msg_id")
    ax.scatter(booked["time"] / 1000.0, booked["offset"], s=10, color=GREEN, label="record booked", zorder=3)
    end = float(result.report.get("duration", t["time"].max()))
    finished = set(t.loc[t["event"].isin(["side_effect", "dead_lettered"]), "msg_id"])
    waiting = arrived[~arrived["msg_id"].isin(finished) & ~arrived["msg_id"].isin(poison)]
    if len(waiting):
        ax.hlines(waiting["offset"], waiting["time"] / 1000.0, end / 1000.0, color=ORANGE, linewidth=1.2,
                  alpha=0.8, label="record stuck behind it (waiting)", zorder=1)
    tries = in_p[in_p["event"].isin(["handler_error", "handler_retry"]) & in_p["msg_id"].isin(poison)]
    ax.scatter(tries["time"] / 1000.0, tries["offset"], marker="x", s=40, color=RED,
               label="failed attempt at a poison record", zorder=4)
    parked = in_p[in_p["event"] == "dead_lettered"]
    if len(parked):
        ax.scatter(parked["time"] / 1000.0, parked["offset"], marker="v", s=80, color="black",
                   label="parked on the dead-letter topic", zorder=5)
    first = tries[tries["msg_id"] == msg_id]
    if len(first):
        ax.scatter(first["time"].iloc[:1] / 1000.0, [offset], s=260, facecolors="none", edgecolors=RED,
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
                     f"{behind} records behind it were still waiting when the run stopped at {format_ms(end)}")
        else:
            lost = msg_id in set(result.checks["lost"].examples) if "lost" in result.checks else False
            title = (f"{where} failed {attempts} time(s) and was "
                     f"{'skipped: committed past and gone' if lost else 'not handled'};\n"
                     f"{behind} records left waiting behind it")
    ax.set_title(title)
    return ax


def _retrying_at_the_end(result: RunResult) -> str:
    """A second title line when some records were still between retries as the run stopped: their
    retries outlast the run, so the dead-letter topic never got them (read from the trace's
    ``handler_retry`` rows, whose detail names the next pause)."""
    t = result.trace
    retried = t[t["event"] == "handler_retry"]
    finished = set(t.loc[t["event"].isin(["dead_lettered", "side_effect"]), "msg_id"])
    pending = retried[~retried["msg_id"].isin(finished)].drop_duplicates("msg_id", keep="last")
    if pending.empty:
        return ""
    end = float(result.report.get("duration", t["time"].max()))
    pause = pending["detail"].astype(str).str.extract(r"trying again in ([0-9.]+) ms")[0].astype(float)
    due = (pending["time"].to_numpy() + pause.to_numpy()).max()
    n = len(pending)
    return (f"\nthe retries outlast the run: {n} record{'s' if n != 1 else ''} still retrying at its end "
            f"({format_ms(end)}), the last try due at {format_ms(float(due))}")


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
        ax.scatter(resolved["time"] / 1000.0, level(resolved["time"]), marker="^", s=70, color=GREEN,
                   edgecolors="black", zorder=4, label="lag alert resolved")
    ax.set_ylim(bottom=0)
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize="small", title="topic[partition]",
              title_fontsize="small")
    if title is None:
        lag = result.series["lag"]
        peaks = lag.groupby("partition")["lag"].max()
        design = design_of(result)
        if peaks.empty:
            title = f"{design}: no lag"
        else:
            p = int(peaks.idxmax())
            peak = int(peaks.max())
            if len(alerts):
                fired = format_ms(float(alerts["time"].iloc[0]))
                later = resolved[resolved["time"] > alerts["time"].iloc[0]]
                after = (f"resolved at {format_ms(float(later['time'].iloc[0]))}" if len(later)
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
