"""Words for figures, built from results: tick labels that fit under a bar, and findings for titles.

Lessons call these instead of rewriting a figure's labels by hand, so every lesson
breaks long names and states its findings the same way.
"""

from __future__ import annotations

from typing import Mapping

import pandas as pd

__all__ = ["means_above_zero", "wrap_label"]


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
