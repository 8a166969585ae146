"""Words for figures, built from results: tick labels that fit under a bar, and findings for titles.

Lessons call these instead of rewriting a figure's labels by hand, so every lesson
breaks long names and states its findings the same way.
"""

from __future__ import annotations

from typing import Mapping

import pandas as pd

__all__ = ["means_above_zero", "session_outcome", "wrap_label"]


def wrap_label(text: str, width: int = 12) -> str:
    """``text`` on two lines when it is longer than ``width`` characters, broken where a reader
    would: after a comma ("max_in_flight=5,\\nidempotent") or else at the underscore nearest the
    middle ("dedupe_table\\nseparate_tx"). Shorter text, or text with no such place, is unchanged."""
    text = str(text)
    if len(text) <= width:
        return text
    if ", " in text:
        cut = min((i for i in range(len(text)) if text.startswith(", ", i)), key=lambda i: abs(i - len(text) / 2))
        return text[:cut + 1] + "\n" + text[cut + 2:]
    cuts = [i for i, ch in enumerate(text) if ch == "_"]
    if not cuts:
        return text
    cut = min(cuts, key=lambda i: abs(i - len(text) / 2))
    return text[:cut] + "\n" + text[cut + 1:]


def means_above_zero(df: pd.DataFrame, metric: str, by: str = "design", names: Mapping[str, str] | None = None,
                     empty: str = "none") -> str:
    """The groups of ``df`` (runs, e.g. from :func:`simkit.compare`) whose mean ``metric`` per run is
    above zero, with that mean: "none 3.5, separate tx 1.3". ``names`` shortens group names for a
    title; ``empty`` is said when no group has any."""
    names = names or {}
    means = df.groupby(by, sort=False)[metric].mean()
    found = ", ".join(f"{names.get(d, d)} {v:.2g}" for d, v in means.items() if v > 0)
    return found or empty


def session_outcome(result) -> str:
    """What the session of the member that crashed did in a ``rebalance`` run, read from its trace: either
    "its session expired at 3500 ms, 1000 ms after the crash (it was back after 300 ms)", or, when it came
    back in time (a static member), "it was back after 300 ms, 700 ms before its 1000 ms session would
    have expired: no rebalance for the crash". An empty string for a run without a crash."""
    t = result.trace
    crashes = t[t.event == "crash"]
    if crashes.empty:
        return ""
    crash = float(crashes.time.iloc[0])
    back = t[(t.event == "restart") & (t.time >= crash)].time
    back_in = f"{float(back.iloc[0]) - crash:.0f} ms" if len(back) else "never"
    expired = t[(t.event == "leave") & (t.time >= crash) & t.detail.astype(str).str.contains("session timeout")]
    if len(expired):
        when = float(expired.time.iloc[0])
        return f"its session expired at {when:.0f} ms, {when - crash:.0f} ms after the crash (it was back after {back_in})"
    timeout = result.params["session_timeout"]
    if not len(back):
        return f"it never came back, and its {timeout:.0f} ms session had not expired when the run ended"
    return (f"it was back after {back_in}, {timeout - (float(back.iloc[0]) - crash):.0f} ms before its "
            f"{timeout:.0f} ms session would have expired: no rebalance for the crash")
