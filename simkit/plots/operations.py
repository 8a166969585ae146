"""Figures of the operations lessons: poison messages, dead letters, replay and schema drift.

* :func:`handled_over_time`: messages handled over time per design; a blocked
  partition shows as a line that goes flat.
* :func:`dlq_depth`: the dead-letter topic's sampled depth with its alert threshold and
  the moments the alert fired.
* :func:`replay_timeline`: which version of a consumer handled which offset when, so a
  reset and the reprocessing after it are visible.
* :func:`schema_outcomes`: for each schema change and registry mode, whether the change
  was refused, broke a reader, or flowed.
"""

from __future__ import annotations

from typing import Mapping

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.colors import ListedColormap

from ..results import RunResult
from ._base import _ax, color_for

__all__ = ["dlq_depth", "handled_over_time", "replay_timeline", "schema_outcomes"]


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
    ax = _ax(ax)
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
    ax.legend(fontsize="small")
    ax.set_title(title if title is not None else "; ".join(summary))
    return ax


def dlq_depth(results: RunResult | Mapping[str, RunResult], ax: Axes | None = None,
              title: str | None = None, metric: str = "dlq_depth") -> Axes:
    """The dead-letter topic's depth as the monitor sampled it, the alert threshold and the alerts fired."""
    ax = _ax(ax)
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
    ax.legend(fontsize="small")
    if title is None:
        title = (f"Dead letters pile up to {peak:g}: the alert fired {fired} time(s)" if fired else
                 f"Dead-letter depth peaks at {peak:g}, under the threshold: no alert")
    ax.set_title(title)
    return ax


_VERSION_COLORS = {"v1": "#7f7f7f", "v2": "#d62728", "v3": "#2ca02c"}
_VERSION_NAMES = {"v1": "v1 (correct)", "v2": "v2 (bug)", "v3": "v3 (fixed)"}


def replay_timeline(result: RunResult, ax: Axes | None = None, title: str | None = None) -> Axes:
    """Each handled record as a dot (time, offset), coloured by the consumer version that handled it.

    After the reset the fixed version goes back to an older offset and works its way
    forward again: every dot it draws below the others' is a record handled again.
    """
    ax = _ax(ax, (9, 4.5))
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
    ax = _ax(ax, (1.6 * len(modes) + 3, 0.7 * len(changes) + 2))
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
