"""Run designs side by side over many seeds and collect their reports in one tidy DataFrame."""

from __future__ import annotations

from concurrent.futures import Executor
from typing import Any, Callable, Iterable

import pandas as pd

from .errors import ConfigError
from .results import RunResult

__all__ = ["compare", "resolve_scenario", "sweep"]


def resolve_scenario(scenario: str | Callable[..., RunResult]) -> Callable[..., RunResult]:
    """A scenario function from its name in :mod:`simkit.scenarios`, or the function itself."""
    from . import scenarios

    if callable(scenario):
        return scenario
    if isinstance(scenario, str) and scenario in scenarios.__all__:
        return getattr(scenarios, scenario)
    raise ConfigError("scenario", scenario, sorted(scenarios.__all__))


def _one(args: tuple[Any, ...]) -> dict[str, Any]:
    fn, design, seed, params = args
    result = fn(design, seed=seed, **params)
    return {"design": design, "seed": seed, **result.report.to_dict()}


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
    """
    fn = resolve_scenario(scenario)
    designs = list(designs)
    if not designs:
        raise ConfigError("designs", designs, "at least one design name")
    if isinstance(seeds, int) and not isinstance(seeds, bool):
        if seeds < 1:
            raise ConfigError("seeds", seeds, "a count >= 1 or a list of int seeds")
        seeds = range(seeds)
    seeds = list(seeds)
    jobs = [(fn, d, s, params) for s in seeds for d in designs]
    rows = list(executor.map(_one, jobs)) if executor is not None else [_one(j) for j in jobs]
    return pd.DataFrame(rows)


def _one_point(args: tuple[Any, ...]) -> dict[str, Any]:
    fn, point, seed, params = args
    result = fn(seed=seed, **params, **point)
    fixed = {k: v for k, v in params.items() if isinstance(v, (int, float, str, bool))}
    return {**fixed, **point, "seed": seed, **result.report.to_dict()}


def sweep(
    scenario: str | Callable[..., RunResult],
    over: dict[str, Iterable[Any]],
    seeds: Iterable[int] | int = 3,
    executor: Executor | None = None,
    **params: Any,
) -> pd.DataFrame:
    """Run a scenario over a grid of parameter values and seeds; one row per run.

    ``over`` maps parameter names to the values to try, e.g.
    ``sweep("throughput", {"arrival_rate": [0.2, 0.5, 0.8]}, seeds=3, service_rate=1.0)``.
    Each row holds the parameters (fixed ones that are plain values too), the seed and
    the report's fields.
    """
    from itertools import product

    fn = resolve_scenario(scenario)
    if not isinstance(over, dict) or not over:
        raise ConfigError("over", over, "a dict of parameter name -> values to try")
    names = list(over)
    grids = [list(over[n]) for n in names]
    if any(not g for g in grids):
        raise ConfigError("over", over, "at least one value for every parameter")
    if isinstance(seeds, int) and not isinstance(seeds, bool):
        if seeds < 1:
            raise ConfigError("seeds", seeds, "a count >= 1 or a list of int seeds")
        seeds = range(seeds)
    jobs = [(fn, dict(zip(names, values)), s, params) for values in product(*grids) for s in seeds]
    rows = list(executor.map(_one_point, jobs)) if executor is not None else [_one_point(j) for j in jobs]
    return pd.DataFrame(rows)
