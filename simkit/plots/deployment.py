"""Figures of lesson 11, boundaries then communication then deployment (:func:`~simkit.scenarios.deployment`).

:func:`failed_request_timeline` follows one failed request through the boundaries it
touched, the outage shaded (on :func:`~simkit.plots.follow_timeline`).
"""

from __future__ import annotations

from typing import Any, Sequence

from matplotlib.axes import Axes

from ..errors import ConfigError
from ..results import RunResult
from ._base import example_id
from .outage import follow_timeline

__all__ = ["failed_request_timeline"]


def failed_request_timeline(result: RunResult, msg_id: Any = None, ax: Axes | None = None,
                            title: str | None = None) -> Axes:
    """Follow one failed request of a :func:`~simkit.scenarios.deployment` run, outages shaded.

    ``msg_id`` defaults to the first example of the run's ``failed`` check; a run in
    which no request failed raises :class:`~simkit.ConfigError`. The lanes are the
    client, the boundaries and databases the request touched, the producers and the
    broker. The title names the databases the request wrote to before it failed and
    the error the client got, read from the trace.
    """
    msg_id = example_id(result, "deployment", "failed", msg_id,
                      "a run in which a request failed (services with a broker_outage or a db_outage)")
    failed = result.checks["failed"]
    t = result.trace
    mine = t[t["msg_id"] == msg_id]
    if mine.empty:
        raise ConfigError("msg_id", msg_id, "the id of a request in this run's trace")
    comps = list(dict.fromkeys(mine["component"].astype(str)))
    if "broker" in set(t["component"].astype(str)) and result.params.get("broker_outage") is not None:
        comps.append("broker")
    outages, label = [], "outage"
    if result.params.get("broker_outage") is not None:
        s, d = result.params["broker_outage"]
        outages, label = [(s, s + d)], "broker down"
    elif result.params.get("db_outage") is not None:
        b, s, d = result.params["db_outage"]
        outages, label = [(s, s + d)], f"{b} database down"
    lo_m, hi_m = float(mine["time"].min()), float(mine["time"].max())
    margin = max(0.15 * (hi_m - lo_m), 100.0)
    ax = follow_timeline(result, msg_id, ax=ax, components=comps, window=(max(lo_m - margin, 0.0), hi_m + margin),
                         outages=outages, outage_label=label)
    if title is None:
        wrote = list(dict.fromkeys(mine.loc[mine["event"] == "db_commit", "component"].astype(str)))
        kind = mine.loc[mine["event"] == "request", "detail"]
        why = mine.loc[mine["event"] == "request_failed", "detail"]
        asked = float(mine["time"].min())
        answered = float(mine.loc[mine["event"] == "request_failed", "time"].max()) if len(why) else hi_m
        did = f"committed to {_and(wrote)}, then" if wrote else "wrote nothing, then"
        title = (f"{result.params['design']}: {msg_id} ({kind.iloc[0] if len(kind) else 'request'}) {did} "
                 f"failed after {(answered - asked) / 1000.0:.2f} s:\n"
                 f"the client got an error ({why.iloc[0] if len(why) else 'no answer'}); "
                 f"{failed.count} of {int(result.report['requests'])} requests failed in this run")
    ax.set_title(title)
    return ax


def _and(items: Sequence[str]) -> str:
    items = list(items)
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]
