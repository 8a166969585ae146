"""Figures of lesson 10's order workflow (:func:`~simkit.scenarios.order_workflow`).

:func:`order_timeline` follows one order through the shop's boundaries and the outside
services, ringing what still stands although the order did not complete;
:func:`workflow_outcomes` counts orders per business state per design. Each returns
its axes and titles the figure with its finding unless given a ``title``.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np
import pandas as pd
from matplotlib.axes import Axes

from ..errors import ConfigError
from ..results import RunResult
from ._base import BAD, OTHER_STEPS, STATE_COLORS, axes_or_new, color_for

__all__ = ["order_path", "order_timeline", "workflow_outcomes", "workflow_settings_title"]

_ORDER_LANES = ("customer", "orders", "inventory", "payments", "payment-provider", "shipping", "carrier",
                "notifications")
_OUTSIDE = {"charged": "refunded", "label_created": "label_voided"}  # an outside-world fact and its undoing


#: lanes of the outside world, each with how the shop's ``call_failed`` rows name it
_OUTSIDE_LANES = {"payment-provider": "payment provider", "carrier": "carrier"}


def order_path(rows: pd.DataFrame) -> list[tuple[int, int, bool]]:
    """The links one order's rows really took, as ``(from, to, late)`` positions in ``rows`` (time order).

    The shop's own rows follow its code path, one step after another (each order is one
    process). A row of the outside world (the provider's ``charged``, the carrier's
    ``label_created``) branches from the step that made the call and returns to the next
    step, which waited for its answer. When the shop gave up on that call first (a
    ``call_failed`` timeout naming that lane came in between), the row branches from the
    step before the timeout, is ``late``, and returns nowhere: nobody was listening.
    """
    comps = rows["component"].astype(str).to_list()
    events = rows["event"].astype(str).to_list()
    details = rows["detail"].astype(str).to_list() if "detail" in rows else [""] * len(comps)
    own = [i for i, c in enumerate(comps) if c not in _OUTSIDE_LANES]
    links: list[tuple[int, int, bool]] = []
    via: dict[int, int] = {}  # shop step -> the outside row its next step waited for
    for j, comp in enumerate(comps):
        if comp not in _OUTSIDE_LANES:
            continue
        before = [i for i in own if i < j]
        if not before:
            continue
        last_same = max([i for i in range(j) if comps[i] == comp], default=-1)
        gave_up = [i for i in before if i > last_same and events[i] == "call_failed"
                   and details[i].startswith(_OUTSIDE_LANES[comp]) and "timeout" in details[i]]
        if gave_up:
            earlier = [i for i in before if i < gave_up[0]]
            if earlier:
                links.append((earlier[-1], j, True))
            continue
        links.append((before[-1], j, False))
        via[before[-1]] = j
    for a, b in zip(own, own[1:]):
        if a in via and via[a] < b:
            links.append((via[a], b, False))
        else:
            links.append((a, b, False))
    return sorted(links, key=lambda link: (link[1], link[0]))


def order_timeline(result: RunResult, order: Any, ax: Axes | None = None, title: str | None = None,
                   margin: float = 400) -> Axes:
    """The life of one ``order`` of :func:`~simkit.scenarios.order_workflow`, one lane per component.

    Every row of the order is a labelled dot (a run of the same row in one lane is one
    label with a count, e.g. ``carrier: unavailable x8``), joined along :func:`order_path`
    (an answer that came after the shop gave up is dashed); the carrier's outage is
    shaded. An outside-world fact still standing when the run ends without the order
    being completed (a charge never refunded, a label never voided) is ringed in red:
    that is the anomaly. ``margin`` is ms shown either side of the order's rows.
    """
    from ..scenarios.order_workflow import order_states

    trace = result.trace
    rows = trace[(trace["msg_id"] == order) & (trace["component"].astype(str).isin(_ORDER_LANES))]
    if rows.empty:
        raise ConfigError("order", order, "an order id of this run, e.g. a check's example")
    comps = set(rows["component"].astype(str))
    lanes = [c for c in _ORDER_LANES if c in comps]
    y = {c: i for i, c in enumerate(lanes)}
    ax = axes_or_new(ax, (10, 0.6 * len(lanes) + 1.6))
    start, end = float(rows["time"].min()) - margin, float(rows["time"].max()) + margin
    times = rows["time"].to_numpy(dtype=float) / 1000
    ys = rows["component"].astype(str).map(y).to_numpy(dtype=float)
    late = False
    for i, j, too_late in order_path(rows):  # along the order's code path and its calls, not merely in time order
        ax.plot([times[i], times[j]], [ys[i], ys[j]], color=BAD, linewidth=0.8, alpha=0.6, zorder=2,
                linestyle="--" if too_late else "-")
        late = late or too_late
    if late:
        ax.plot([], [], color=BAD, linewidth=0.8, linestyle="--", label="answered after the shop gave up")
    ax.scatter(times, ys, color="black", s=14, zorder=3)
    # one label per run of the same row in a lane
    for comp, g in rows.groupby(rows["component"].astype(str), sort=False):
        labels = g["detail"].where(g["event"] == "call_failed", g["event"]).astype(str).tolist()
        t = g["time"].to_numpy(dtype=float) / 1000
        i = 0
        below = False
        last = -np.inf
        while i < len(labels):
            j = i
            while j + 1 < len(labels) and labels[j + 1] == labels[i]:
                j += 1
            text = labels[i] + (f" x{j - i + 1}" if j > i else "")
            below = (not below) if (t[i] - last) * 1000 < 0.15 * (end - start) else False  # near the last label
            ax.annotate(text, (t[i], y[comp]), xytext=(4, -5 if below else 5), textcoords="offset points",
                        fontsize=7.5, ha="left", va="top" if below else "bottom")
            last = t[i]
            i = j + 1
    # the carrier's outage windows, from its own rows
    down = trace[(trace["component"] == "carrier") & trace["event"].isin(["service_down", "service_up"])]
    opened = None
    first = True
    for ev, t in zip(down["event"], down["time"]):
        if ev == "service_down":
            opened = float(t)
        elif opened is not None:
            ax.axvspan(opened / 1000, float(t) / 1000, color="grey", alpha=0.2, label="carrier down" if first else None)
            first, opened = False, None
    if opened is not None:
        ax.axvspan(opened / 1000, end / 1000, color="grey", alpha=0.2, label="carrier down" if first else None)
    # the anomaly: an outside-world fact that still stands although the order did not complete
    state = order_states(trace).loc[order, "state"]
    standing = []
    for fact, undo in _OUTSIDE.items():
        n_fact = int((rows["event"] == fact).sum())
        n_undo = int((rows["event"] == undo).sum())
        if n_fact > n_undo and state != "completed":
            standing.append(fact)
            hit = rows[rows["event"] == fact]
            ax.scatter(hit["time"] / 1000, hit["component"].astype(str).map(y), s=220, facecolors="none",
                       edgecolors=BAD, linewidths=2, zorder=4,
                       label="still standing at the end: nobody undid it" if len(standing) == 1 else None)
    ax.set_yticks(range(len(lanes)), lanes)
    ax.set_ylim(-0.7, len(lanes) - 0.3)
    ax.invert_yaxis()
    ax.set_xlim(start / 1000, end / 1000)
    ax.set_xlabel("time (s)")
    handles, _ = ax.get_legend_handles_labels()
    if handles:
        ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize="small")
    if title is None:
        design = result.params.get("design", "")
        if standing:
            what = " and ".join({"charged": "the charge", "label_created": "the label"}[f] for f in standing)
            title = f"{design}: {order} ended {state.replace('_', ' ')}, yet {what} still stands"
        else:
            title = f"{design}: {order} ended {state.replace('_', ' ')}; charge and label agree with it"
    ax.set_title(title)
    ax.figure.tight_layout()
    return ax


def workflow_outcomes(df: pd.DataFrame, ax: Axes | None = None, by: str = "design",
                      states: Sequence[str] | None = None, title: str | None = None) -> Axes:
    """Orders per business state, stacked, per design (mean over seeds), with the inconsistent ones beside.

    ``df`` is :func:`simkit.compare` over :func:`simkit.scenarios.order_workflow`. The
    inconsistent bar carries a whisker from the lowest to the highest run and one dot per
    run, so the spread over seeds shows; its mean is written above it.
    """
    from ..scenarios.order_workflow import STATES

    ax = axes_or_new(ax, (9, 4.5))
    states = [s for s in (states or STATES) if s in df.columns]
    groups = df.groupby(by, sort=False)
    means = groups[states + ["inconsistent"]].mean()
    lo, hi = groups["inconsistent"].min(), groups["inconsistent"].max()
    x = np.arange(len(means))
    bottom = np.zeros(len(means))
    for s in states:
        v = means[s].to_numpy()
        if not v.any():
            continue
        ax.bar(x - 0.15, v, 0.5, bottom=bottom, color=STATE_COLORS.get(s, OTHER_STEPS), label=s.replace("_", " "),
               edgecolor="black", linewidth=0.5)
        bottom += v
    bad = means["inconsistent"]
    yerr = np.vstack([bad - lo.reindex(bad.index), hi.reindex(bad.index) - bad])
    ax.bar(x + 0.3, bad.to_numpy(), 0.2, yerr=yerr, capsize=4, color=BAD, hatch="xx", edgecolor="black",
           linewidth=0.5, label="inconsistent: charge or label\ndisagrees with the order")
    for i, d in enumerate(means.index):
        runs = df.loc[df[by] == d, "inconsistent"].to_numpy(dtype=float)
        ax.scatter(np.full(len(runs), x[i] + 0.3), runs, s=12, color="black", zorder=3,
                   label="one run (seed)" if i == 0 else None)
        ax.annotate(f"{bad[d]:.3g}", (x[i] + 0.3, hi[d]), xytext=(0, 4), textcoords="offset points",
                    ha="center", va="bottom", fontsize="small")
    ax.set_xticks(x, [str(d) for d in means.index])
    for tick, d in zip(ax.get_xticklabels(), means.index):
        tick.set_color(color_for(d))
    ax.set_xlabel(by)
    ax.set_ylabel("orders per run (mean over seeds)" if df.groupby(by).size().max() > 1 else "orders")
    handles, labels = ax.get_legend_handles_labels()
    order = sorted(range(len(labels)), key=lambda i: labels[i] == "one run (seed)")  # the dots' entry last
    ax.legend([handles[i] for i in order], [labels[i] for i in order], fontsize="small", loc="upper left",
              bbox_to_anchor=(1.0, 1.0))
    ax.set_ylim(0, max(float(bottom.max()), float(hi.max())) * 1.08)
    if title is None:
        n = len(df[df[by] == means.index[0]])
        total = float(means[states].sum(axis=1).max())
        if n == 1:
            parts = [f"{d} {v:.3g}" for d, v in bad.items()]
            title = f"orders left charged or labelled wrongly, of {total:.0f} in one run:\n" + "; ".join(parts)
        else:
            parts = [f"{d} {v:.3g} ({lo[d]:.3g} to {hi[d]:.3g})" for d, v in bad.items()]
            title = (f"orders left charged or labelled wrongly, of {total:.0f} per run ({n} seeds):\n"
                     + "; ".join(parts))
    ax.set_title(title)
    ax.figure.tight_layout()
    return ax


def workflow_settings_title(df: pd.DataFrame, carrier_outages: Sequence[tuple[float, float]] = (),
                            payment_timeout: float | None = None, shipping_deadline: float | None = None,
                            by: str = "design") -> str:
    """A title for :func:`workflow_outcomes` that names the settings and what each one did in the runs.

    ``carrier_outages`` are (start, duration) in ms, ``payment_timeout`` and
    ``shipping_deadline`` the ms passed to :func:`~simkit.scenarios.order_workflow`; ``df``
    is :func:`simkit.compare` over it. Each setting is stated with the count it moved
    (carrier calls that failed, provider calls given up on, orders cancelled), so a setting
    that no longer changes the outcome says so instead of leaving the figure unchanged.
    """
    g = df.groupby(by, sort=False)[["carrier_failures", "payment_timeouts", "cancelled", "inconsistent"]].mean()

    def each(field: str) -> str:
        return ", ".join(f"{d} {v:.3g}" for d, v in g[field].items())

    windows = [(s / 1000, (s + d) / 1000) for s, d in carrier_outages]
    outage = ("carrier never down" if not windows else
              "carrier down " + ", ".join(f"{a:g}-{b:g} s" for a, b in windows))
    parts = [f"{outage} (failed carrier calls: {each('carrier_failures')})"]
    if payment_timeout is not None:
        timeouts = f"calls given up on: {each('payment_timeouts')}" if g.payment_timeouts.any() else \
            "no provider call took that long"
        parts.append(f"the shop waits {payment_timeout / 1000:g} s for the provider ({timeouts})")
    if shipping_deadline is not None:
        cancelled = f", cancelling {g.cancelled['saga']:.3g}" if "saga" in g.index else ""
        parts.append(f"the saga retries labels for {shipping_deadline / 1000:g} s{cancelled}")
    return ";\n".join(parts) + f"\norders left charged or labelled wrongly: {each('inconsistent')}"
