"""Figures of the schema-drift lesson (07), read from :func:`simkit.scenarios.schema_drift` runs.

* :func:`schema_outcomes`: for each schema change and registry mode, whether the change
  was refused, broke a reader, or flowed.
* :func:`decode_failure_bars`: decode failures per schema change over seeds, for one
  registry set-up, titled with which changes broke billing and which were refused.
* :func:`decode_timeline`: every payment of a schema-drift run, decoded or not, against
  the deploys of producer and consumer, with one failed record marked.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.colors import ListedColormap

from ..results import RunResult
from ._base import BLUE, GREEN, LIGHT_GREEN, LIGHT_GREY, PURPLE, RED, axes_or_new, format_ms, outcome_bars

__all__ = ["breaks_title", "decode_failure_bars", "decode_timeline", "schema_outcomes"]


def breaks_title(df: pd.DataFrame, label: str, change: str = "design") -> str:
    """Which changes in ``df`` (runs of :func:`~simkit.scenarios.schema_drift`) broke billing, with the
    range of decode failures a run over the seeds, and which the registry refused; led by ``label``."""
    g = df.groupby(change, sort=False)
    worst, refused = g["decode_failures"].max(), g["rejected_registrations"].max()
    broke = list(worst[worst > 0].index)
    said = [f"{label}:"]
    if broke:
        lo, hi = g["decode_failures"].min()[broke].min(), worst.max()
        said.append(f"{' and '.join(broke)} {'break' if len(broke) > 1 else 'breaks'} "
                    f"billing,\n{lo:.0f} to {hi:.0f} failed records a run")
    else:
        said.append("no change breaks billing")
    if refused.any():
        said.append(f"(refused: {', '.join(refused[refused > 0].index)})")
    return "\n".join(said)


def decode_failure_bars(df: pd.DataFrame, label: str, ax: Axes | None = None, change: str = "design",
                        ylabel: str = "records that failed to decode, per run") -> Axes:
    """Decode failures per schema change (mean over seeds, whiskers the lowest and highest run) for one
    registry set-up named ``label``; a change the registry refused is marked "refused" over its bar.
    The title is :func:`breaks_title`."""
    ax = outcome_bars(df, "decode_failures", by=change, ax=ax, ylabel=ylabel, title=breaks_title(df, label, change),
                      wrap=10)
    ax.set_xlabel("schema change")
    refused = df.groupby(change, sort=False)["rejected_registrations"].max()
    for x, name in enumerate(refused.index):
        if refused[name] > 0:  # no record of a refused change was written: "refused" stands where "0" would
            for zero in [t for t in ax.texts if t.get_text() == "0" and abs(t.xy[0] - x) < 1e-9]:
                zero.remove()
            ax.annotate("refused", (x, 0), xytext=(0, 2), textcoords="offset points", ha="center", va="bottom",
                        fontsize="small", color="dimgrey")
    return ax


def schema_outcomes(df: pd.DataFrame, ax: Axes | None = None, title: str | None = None,
                    change: str = "design", registry: str = "registry") -> Axes:
    """A grid: schema change (rows) by registry mode (columns), each cell refused, broke a reader, or flowed.

    ``df`` has one row per run of :func:`~simkit.scenarios.schema_drift` (e.g. from
    :func:`simkit.sweep` over ``design`` and ``registry``), with the report fields
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
    cmap = ListedColormap([LIGHT_GREY, LIGHT_GREEN, RED])
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
    ax.scatter(ok["time"] / 1000.0, ok["msg_id"].astype(float), s=10, color=GREEN, label="decoded and billed")
    if len(bad):
        ax.scatter(bad["time"] / 1000.0, bad["msg_id"].astype(float), marker="x", s=25, color=RED,
                   label="could not decode: dead-lettered")
    marks = t[ev.isin(["deployed", "schema_rejected"])]
    top = max(float(t.loc[ev == "send", "msg_id"].astype(float).max()), 1.0)
    styles = {"payments": (BLUE, "producer writes v2"), "billing": (PURPLE, "billing reads v2")}
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
        change, mode = p.get("design", "change"), p.get("registry")
        if len(bad):
            first, last = format_ms(float(bad["time"].min())), format_ms(float(bad["time"].max()))
            title = (f"{change}, {'no registry' if mode is None else mode}: {len(bad)} of {len(ok) + len(bad)} "
                     f"payments could not be decoded ({first} to {last});\n"
                     f"message {msg_id} is one of them, parked on the dead-letter topic")
        elif (ev == "schema_rejected").any():
            title = f"{change}: the {mode} registry refused v2, so all {len(ok)} payments decoded"
        else:
            title = f"{change}, {'no registry' if mode is None else mode}: all {len(ok)} payments decoded"
    ax.set_title(title)
    return ax
