"""Figures of lesson 11, boundaries then communication then deployment (:func:`~simkit.scenarios.deployment`).

:func:`failed_request_timeline` follows one failed request through the boundaries it
touched, the outage shaded (on :func:`~simkit.plots.follow_timeline`);
:func:`infrastructure_parts`, :func:`deployment_latency` and :func:`outage_impact` set
the two deployments side by side over seeds.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.ticker import MaxNLocator

from ..errors import ConfigError
from ..results import RunResult
from ._base import PART_COLORS, axes_or_new, color_for, example_id
from .outage import follow_timeline

__all__ = ["deployment_latency", "failed_request_timeline", "infrastructure_parts", "outage_impact"]


def failed_request_timeline(result: RunResult, msg_id: Any = None, ax: Axes | None = None,
                            title: str | None = None) -> Axes:
    """Follow one failed request of a :func:`~simkit.scenarios.deployment` run, outages shaded.

    ``msg_id`` defaults to the first example of the run's ``failed_requests`` check; a run in
    which no request failed raises :class:`~simkit.ConfigError`. The lanes are the
    client, the boundaries and databases the request touched, the producers and the
    broker. The title names the databases the request wrote to before it failed and
    the error the client got, read from the trace.
    """
    msg_id = example_id(result, "deployment", "failed_requests", msg_id,
                      "a run in which a request failed (services with a broker_outage or a db_outage)")
    failed = result.checks["failed_requests"]
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


def deployment_latency(df: pd.DataFrame, ax: Axes | None = None, by: str = "design",
                       title: str | None = None) -> Axes:
    """Request latency p50 and p99 (ms) per design: mean over the runs in ``df``, whiskers from lowest to highest."""
    ax = axes_or_new(ax)
    cols = ["latency_p50", "latency_p99"]
    g = df.groupby(by, sort=False)[cols]
    means, lows, highs = g.mean(), g.min(), g.max()
    x = np.arange(2)
    width = 0.8 / len(means)
    for i, (d, row) in enumerate(means.iterrows()):
        v = row.to_numpy(dtype=float)
        yerr = np.vstack([v - lows.loc[d].to_numpy(dtype=float), highs.loc[d].to_numpy(dtype=float) - v])
        ax.bar(x + (i - (len(means) - 1) / 2) * width, v, width, yerr=yerr, capsize=3, color=color_for(d),
               label=str(d), edgecolor="black", linewidth=0.5)
    ax.set_xticks(x, ["p50 (median)", "p99"])
    ax.set_ylabel("request latency (ms)")
    runs = int(g.size().max()) if len(df) else 0
    ax.legend(title=f"{by} (whiskers: min-max of {runs} runs)" if runs > 1 else by, fontsize="small")
    if title is None and len(means) >= 2:
        fast, slow = means["latency_p99"].idxmin(), means["latency_p99"].idxmax()
        ratio = means.loc[slow, "latency_p99"] / means.loc[fast, "latency_p99"]
        p50 = means.loc[slow, "latency_p50"] / means.loc[fast, "latency_p50"]
        title = (f"p99 latency: {slow} {means.loc[slow, 'latency_p99']:.0f} ms, {ratio:.1f}x {fast}'s "
                 f"{means.loc[fast, 'latency_p99']:.0f} ms\n(the median only {p50:.1f}x: hops between "
                 f"boundaries hurt the tail most)")
    ax.set_title(title or "")
    return ax


def infrastructure_parts(df: pd.DataFrame, ax: Axes | None = None, by: str = "design",
                         title: str | None = None) -> Axes:
    """Things to run per design: app instances, databases and broker nodes, stacked."""
    ax = axes_or_new(ax)
    kinds = [("app_instances", "app instances", PART_COLORS["app_instances"]),
             ("databases", "databases", PART_COLORS["databases"]), ("brokers", "broker nodes", PART_COLORS["brokers"])]
    first = df.groupby(by, sort=False)[[k for k, _, _ in kinds] + ["infrastructure_parts"]].first()
    x = np.arange(len(first))
    bottom = np.zeros(len(first))
    for col, label, color in kinds:
        v = first[col].to_numpy(dtype=float)
        ax.bar(x, v, 0.5, bottom=bottom, color=color, label=label, edgecolor="black", linewidth=0.5)
        bottom += v
    for xi, total in zip(x, first["infrastructure_parts"]):
        ax.text(xi, total, f"{int(total)}", ha="center", va="bottom")
    ax.set_xticks(x, [str(d) for d in first.index])
    for tick, d in zip(ax.get_xticklabels(), first.index):
        tick.set_color(color_for(d))
    ax.set_ylabel("things to run (count)")
    ax.set_xlabel(by)
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_ylim(0, float(first["infrastructure_parts"].max()) * 1.12)
    ax.legend(fontsize="small", loc="upper left")
    if title is None:
        title = " vs ".join(f"{d}: {int(v)}" for d, v in first["infrastructure_parts"].items()) + " things to run"
    ax.set_title(title)
    return ax


def outage_impact(df: pd.DataFrame, ax: Axes | None = None, by: str = "outage", hue: str = "design",
                  title: str | None = None) -> Axes:
    """Failed requests per outage (x) and design (bars), labelled with how many boundaries were affected.

    Bars are the mean over the runs in ``df``, whiskers span the lowest to the highest run.
    """
    ax = axes_or_new(ax, (8, 4))
    g = df.groupby([by, hue], sort=False)[["failed_requests", "affected_boundaries"]]
    means, lows, highs = g.mean(), g.min(), g.max()
    outages = list(dict.fromkeys(df[by]))
    designs = list(dict.fromkeys(df[hue]))
    x = np.arange(len(outages))
    width = 0.8 / len(designs)
    top = float(highs["failed_requests"].max()) if len(highs) else 0.0
    for i, d in enumerate(designs):
        rows = means.xs(d, level=hue).reindex(outages)
        lo = lows.xs(d, level=hue).reindex(outages)["failed_requests"].to_numpy(dtype=float)
        hi = highs.xs(d, level=hue).reindex(outages)["failed_requests"].to_numpy(dtype=float)
        v = rows["failed_requests"].to_numpy(dtype=float)
        pos = x + (i - (len(designs) - 1) / 2) * width
        yerr = np.nan_to_num(np.vstack([v - lo, hi - v]))
        ax.bar(pos, np.nan_to_num(v), width, yerr=yerr, capsize=3, color=color_for(d), label=str(d),
               edgecolor="black", linewidth=0.5)
        for p, failed, high, hit in zip(pos, v, hi, rows["affected_boundaries"].to_numpy(dtype=float)):
            if not np.isnan(failed):
                ax.text(p, high + 0.02 * top, f"{hit:.0f} hit", ha="center", va="bottom", fontsize="small")
    ax.set_xticks(x, [str(o) for o in outages])
    ax.set_xlabel(by)
    ax.set_ylabel("failed requests per run")
    ax.set_ylim(0, top * 1.15 if top > 0 else 1)
    runs = int(g.size().max()) if len(df) else 0
    ax.legend(title=f"{hue} (whiskers: min-max of {runs} runs)" if runs > 1 else hue, fontsize="small")
    if title is None:
        hit = means["failed_requests"].unstack(hue).reindex(outages)
        hit = hit[hit.fillna(0).sum(axis=1) > 0]
        title = "failed requests (label: boundaries hit)\n" + "; ".join(
            f"{o}: " + ", ".join(f"{d} {v:.0f}" for d, v in row.dropna().items()) for o, row in hit.iterrows())
    ax.set_title(title)
    return ax
