"""Run designs side by side over many seeds and collect their reports in one tidy DataFrame."""

from __future__ import annotations

import warnings
from concurrent.futures import Executor
from itertools import product
from typing import Any, Callable, Iterable

import pandas as pd

from .errors import ConfigError
from .results import RunResult

__all__ = ["compare", "resolve_scenario", "sweep"]


def resolve_scenario(scenario: str | Callable[..., RunResult]) -> Callable[..., RunResult]:
    """A scenario function from its name in :data:`simkit.scenarios.SCENARIOS`, or the function itself."""
    from .scenarios import SCENARIOS

    if callable(scenario):
        return scenario
    if isinstance(scenario, str) and scenario in SCENARIOS:
        return SCENARIOS[scenario].function
    from . import scenarios

    if isinstance(scenario, str) and scenario in scenarios.__all__:  # not yet registered: being converted
        return getattr(scenarios, scenario)
    raise ConfigError("scenario", scenario, sorted(SCENARIOS))


def _entry(scenario: str | Callable[..., RunResult]) -> Any:
    from .scenarios import SCENARIOS

    fn = resolve_scenario(scenario)
    for entry in SCENARIOS.values():
        if entry.function is fn:
            return entry
    return None


_UNREGISTERED = object()  # a scenario function not in the registry: every parameter by keyword


def _seeds(seeds: Iterable[int] | int) -> list[int]:
    if isinstance(seeds, int) and not isinstance(seeds, bool):
        if seeds < 1:
            raise ConfigError("seeds", seeds, "a count >= 1 or a list of int seeds")
        return list(range(seeds))
    try:
        out = list(seeds)
    except TypeError:
        raise ConfigError("seeds", seeds, "a count >= 1 or a list of int seeds") from None
    if not out or any(isinstance(s, bool) or not isinstance(s, int) for s in out):
        raise ConfigError("seeds", seeds, "a count >= 1 or a non-empty list of int seeds")
    return out


def _run(args: tuple[Any, ...]) -> dict[str, Any]:
    fn, design, seed, params, shown = args
    if design is _UNREGISTERED:
        result = fn(seed=seed, **params)
        row = {**shown, "seed": seed}
    else:
        result = fn(design, seed=seed, **params)
        row = {"design": design, **shown, "seed": seed}
    for name, value in result.report.to_dict().items():
        row.setdefault(name, value)
    return row


def _renew(values: dict[str, Any], renamed: dict[str, str]) -> dict[str, Any]:
    """``values`` with old parameter names replaced by new ones (with a DeprecationWarning)."""
    out = {}
    for key, value in values.items():
        if key in renamed:
            warnings.warn(f"parameter {key!r} is now called {renamed[key]!r}", DeprecationWarning, stacklevel=3)
            key = renamed[key]
        out[key] = value
    return out


def _map(executor: Executor | None, jobs: list[tuple[Any, ...]]) -> pd.DataFrame:
    rows = list(executor.map(_run, jobs)) if executor is not None else [_run(j) for j in jobs]
    return pd.DataFrame(rows)


def compare(
    scenario: str | Callable[..., RunResult],
    designs: Iterable[Any],
    seeds: Iterable[int] | int = 10,
    executor: Executor | None = None,
    **params: Any,
) -> pd.DataFrame:
    """Run ``scenario(design, seed=s, **params)`` for every design and seed; one row per run.

    ``seeds`` is a list of seeds or a count (seeds 0..n-1). Under one seed every
    design sees the same arrivals, latencies and crash draws (each comes from its own
    named random stream), so a difference between two rows of one seed comes from the
    design alone. Pass a ``concurrent.futures`` executor to spread runs over cores.
    Columns: ``design``, ``seed``, then the report's fields.
    """
    fn = resolve_scenario(scenario)
    if isinstance(designs, str):
        designs = [designs]
    designs = list(designs)
    if not designs:
        raise ConfigError("designs", designs, "at least one design name")
    jobs = [(fn, d, s, params, {}) for s in _seeds(seeds) for d in designs]
    return _map(executor, jobs)


def sweep(
    scenario: str | Callable[..., RunResult],
    over: dict[str, Iterable[Any]],
    seeds: Iterable[int] | int = 3,
    executor: Executor | None = None,
    **params: Any,
) -> pd.DataFrame:
    """Run a scenario over a grid of parameter values and seeds; one row per run.

    ``over`` maps parameter names to the values to try, e.g.
    ``sweep("throughput", {"arrival_rate": [0.2, 0.5, 0.8]}, seeds=3, service_rate=1.0)``;
    it may include ``design``. Without a design in ``over`` or ``params`` every run uses
    the scenario's first design. Each row holds ``design``, the swept parameters, the
    fixed ones that are plain values, the seed and the report's fields (a parameter
    wins over a report field of the same name).
    """
    fn = resolve_scenario(scenario)
    if not isinstance(over, dict) or not over:
        raise ConfigError("over", over, "a dict of parameter name -> values to try")
    entry = _entry(fn)
    renamed = dict(entry.renamed) if entry is not None else {}
    over, params = _renew(over, renamed), _renew(params, renamed)
    names = list(over)
    grids = [list(over[n]) for n in names]
    if any(not g for g in grids):
        raise ConfigError("over", over, "at least one value for every parameter")
    if entry is None:  # a function outside the registry: every parameter by keyword, as given
        default_design = _UNREGISTERED
    else:
        default_design = params.pop("design", entry.designs[0])
    fixed = {k: v for k, v in params.items() if isinstance(v, (int, float, str, bool))}
    jobs = []
    for values in product(*grids):
        point = dict(zip(names, values))
        design = default_design if entry is None else point.pop("design", default_design)
        for s in _seeds(seeds):
            jobs.append((fn, design, s, {**params, **point}, {**fixed, **point}))
    frame = _map(executor, jobs)
    return frame
