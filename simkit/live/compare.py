"""The same design in simkit and in the live lab, several runs each, in one table.

A simulated run is a seed's: run it again and it is the same. A live run is one
history: run it again and the counts move. So a fair comparison runs both several
times and looks at the spread; :func:`side_by_side` does that and returns one row
per run, ready for ``groupby`` and a plot.
"""

from __future__ import annotations

import importlib
from typing import Any, Iterable

import pandas as pd

from ..errors import ConfigError
from ..params import check_choice, check_count
from .consume import consume
from .ordering import ordering
from .publish import publish

__all__ = ["LIVE", "side_by_side", "simulator_design"]

#: the live lab's functions by scenario name
LIVE = {"consume": consume, "ordering": ordering, "publish": publish}

#: which live parameters the simulator's scenario takes under the same name and meaning
_SHARED = {
    "consume": ("messages", "crash_rate", "processing_time", "max_poll_records", "auto_commit_interval",
                "partitions"),
    "publish": ("messages", "crash_rate", "relay_crash_rate"),
    "ordering": ("partitions", "consumers", "users", "updates", "idempotent"),
}


def simulator_design(scenario: str, design: str) -> str:
    """The simulator's design for the live ``design``: the same name (every live design has one)."""
    designs = importlib.import_module(f"simkit.scenarios.{scenario}").DESIGNS
    if design in designs:
        return design
    raise ConfigError("design", design, designs)


def side_by_side(scenario: str, designs: Iterable[str], *, runs: int = 3,
                 fields: Iterable[str] = ("lost", "duplicates", "crashes"), **params: Any) -> pd.DataFrame:
    """Run each design ``runs`` times in simkit (seeds 0, 1, ...) and live; one row per run.

    ``params`` go to the live function; those the simulator shares
    (``messages``, ``crash_rate``, ...) go to it too. In ``consume`` every record is
    written before the consumer starts, in both, so both see the same backlog.
    Columns: ``scenario``, ``design``, ``engine`` (``"simkit"`` or ``"live"``),
    ``simulated_as`` (the simulator's design), ``run``, then ``fields``.
    """
    check_choice("scenario", scenario, tuple(LIVE))
    runs = check_count("runs", runs, 1, 100)
    fields = tuple(fields)
    simulate = getattr(importlib.import_module("simkit.scenarios"), scenario)
    shared = {k: v for k, v in params.items() if k in _SHARED[scenario]}
    if scenario == "consume":
        shared["arrival_interval"] = 0
    if scenario == "ordering":
        shared.setdefault("partitions", 2)
        shared.setdefault("consumers", 2)
    rows = []
    for design in designs:
        sim_design = simulator_design(scenario, design)
        for run in range(runs):
            for engine in ("simkit", "live"):
                if engine == "simkit":
                    result = simulate(sim_design, seed=run, **shared)
                else:
                    result = LIVE[scenario](design, seed=run, **params)
                rows.append({"scenario": scenario, "design": design, "engine": engine, "simulated_as": sim_design,
                             "run": run, **{f: result.report[f] for f in fields}})
    return pd.DataFrame(rows)
