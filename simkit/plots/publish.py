"""Figures of lesson 03, publishing (:func:`~simkit.scenarios.publish`): watching an outbox the way an operator does."""

from __future__ import annotations

from typing import Any, Sequence

import matplotlib.pyplot as plt
import pandas as pd
from matplotlib.axes import Axes

from ..errors import ConfigError
from ..results import RunResult
from ._base import shade_windows, time_series, windows_between

__all__ = ["outbox_metrics"]

METRICS = ("both", "lag", "age")


def outbox_metrics(result: RunResult, ax: Axes | Sequence[Axes] | None = None,
                   metric: str = "both") -> Any:
    """Outbox lag (rows) and age (s) over time, with their alert thresholds, alerts and outages.

    Reads ``result.series["outbox_lag"]`` and ``["outbox_age"]`` (a ``publish`` run)
    and, from the trace, when each alert fired and when the broker, the database or
    the relay was down (shaded). ``metric="both"`` draws two panels sharing the time
    axis and returns them as ``(lag_ax, age_ax)``; pass ``ax`` as a pair of axes, or
    ``metric="lag"`` / ``"age"`` with one ``ax`` to draw a single panel and get it back.
    The title, on the top panel, says when the alert fired or that none did.
    """
    if metric not in METRICS:
        raise ConfigError("metric", metric, METRICS)
    axes = _axes(ax, metric)
    design = str(result.params.get("design", "outbox"))
    trace = result.trace
    end = max([float(trace["time"].max()) if len(trace) else 0.0, float(result.report.get("duration", 0.0))]
              + [float(f["time"].max()) for f in result.series.values() if len(f)])
    broker = windows_between(trace, "broker_down", "broker_up", end)
    database = windows_between(trace, "db_down", "db_up", end)
    relay = _relay_down(trace, end)
    alerts = trace[trace["event"] == "alert"]
    first_alert: dict[str, float] = {}
    panels = []
    if metric in ("both", "lag"):
        panels.append(("outbox_lag", 1.0, "unpublished rows", result.params.get("alert_lag")))
    if metric in ("both", "age"):
        panels.append(("outbox_age", 1000.0, "oldest unpublished row (s)", result.params.get("alert_age")))
    for a, (name, unit, ylabel, threshold) in zip(axes, panels):
        frame = result.series[name]
        frame = pd.DataFrame({"time": frame["time"], name: frame[name] / unit})
        if frame.empty:
            threshold = None
            a.text(0.5, 0.5, f"no outbox in design {design}", transform=a.transAxes, ha="center", va="center")
        time_series({design: frame}, name, ax=a, ylabel=ylabel,
                    threshold=None if threshold is None else threshold / unit)
        shade_windows(a, broker, label="broker outage", scale=1000.0)
        shade_windows(a, database, label="database outage", scale=1000.0, color="tab:blue")
        shade_windows(a, relay, label="relay down", scale=1000.0, color="tab:red")
        fired = alerts.loc[alerts["detail"].astype(str).str.startswith(name + "="), "time"]
        for i, t in enumerate(fired):
            a.axvline(t / 1000.0, color="red", linestyle=":", linewidth=1.5, label="alert fired" if i == 0 else None)
        if len(fired):
            first_alert[name] = float(fired.iloc[0])
        a.set_title("")
        a.get_legend().remove()
    axes[0].legend(fontsize="small", loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0)
    for a in axes[:-1]:
        a.set_xlabel("")
    axes[0].set_title(_finding(result, design, first_alert, relay, broker, end))
    return axes[0] if len(axes) == 1 else tuple(axes)


def _axes(ax: Axes | Sequence[Axes] | None, metric: str) -> list[Axes]:
    want = 2 if metric == "both" else 1
    if ax is None:
        _, made = plt.subplots(want, 1, sharex=True, figsize=(9.5, 5.5 if want == 2 else 3.5), squeeze=False,
                               layout="constrained")
        return list(made[:, 0])
    axes = [ax] if isinstance(ax, Axes) else list(ax)
    if len(axes) != want or not all(isinstance(a, Axes) for a in axes):
        raise ConfigError("ax", ax, "two Axes (lag, age) for metric='both', or one Axes for 'lag' or 'age'")
    return axes


def _relay_down(trace: pd.DataFrame, end: float) -> list[tuple[float, float]]:
    relay = trace[trace["component"] == "relay"]
    return windows_between(relay, "crash", "restart", end)


def _finding(result: RunResult, design: str, first_alert: dict[str, float],
             relay: list[tuple[float, float]], broker: list[tuple[float, float]], end: float) -> str:
    lag, age = result.series["outbox_lag"], result.series["outbox_age"]
    if lag.empty:
        return f"{design} has no outbox: there is no backlog to watch"
    if first_alert:
        which = min(first_alert, key=first_alert.get)  # type: ignore[arg-type]
        what = "lag" if which == "outbox_lag" else "age"
        t = first_alert[which]
        cause = ""
        dead = [s for s, e in relay if e >= end and s < t]
        if dead:
            cause = f"relay died at {dead[0] / 1000:.1f} s; "
        elif any(s <= t for s, _ in broker):
            cause = f"broker down at {broker[0][0] / 1000:.1f} s; "
        stuck = int(lag["outbox_lag"].iloc[-1])
        tail = f", {stuck} rows still waiting at the end" if stuck else ", then the outbox drained"
        return f"{cause}{what} alert fired at {t / 1000:.1f} s{tail}"
    return (f"no alert: lag peaked at {lag['outbox_lag'].max():.0f} rows, "
            f"age at {age['outbox_age'].max() / 1000:.2f} s")
