"""Run designs side by side over many seeds and collect their reports in one tidy DataFrame.

Runs are independent, so they spread over cores or machines: pass any
``concurrent.futures`` executor (a ``ProcessPoolExecutor``, or a dask cluster's
``client.get_executor()``). Runs travel to the executor in chunks, about four chunks a
worker, so that shipping a run costs little beside running it; rows come back in the
order the runs were listed whatever executor ran them, so the result is the same with
none, a process pool or a cluster. Past a few runs a progress bar (``tqdm.auto``: a
widget in Jupyter, text elsewhere) shows how far a sweep has got; ``progress=False``
hides it.
"""

from __future__ import annotations

import os
import warnings
from concurrent.futures import Executor, as_completed
from itertools import pairwise, product
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
    raise ConfigError("scenario", scenario, sorted(SCENARIOS))


def _entry(scenario: str | Callable[..., RunResult]) -> Any:
    from .scenarios import SCENARIOS

    fn = resolve_scenario(scenario)
    for entry in SCENARIOS.values():
        if entry.function is fn:
            return entry
    return None


class _Unregistered:
    """The design of a run of a function outside the registry: every parameter by keyword.

    A class, not an ``object()``: it is pickled by reference, so it is still itself in a
    worker process and a process pool runs such a function as a plain loop would.
    """


#: a sweep of at least this many runs shows a progress bar (unless ``progress=False``)
PROGRESS_MIN_RUNS = 8
#: chunks sent to each worker of an executor: enough to balance the load, few enough to ship cheaply
CHUNKS_PER_WORKER = 4


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
    if design is _Unregistered:
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


def _workers(executor: Any) -> int:
    """How many runs ``executor`` runs at once, as far as it tells (else this machine's cores)."""
    client = getattr(executor, "_client", None)  # dask.distributed's ClientExecutor
    if client is not None:
        return max(1, sum(client.nthreads().values()))
    n = getattr(executor, "_max_workers", None)  # concurrent.futures pools
    return n if isinstance(n, int) and n > 0 else os.cpu_count() or 1


def _run_chunk(jobs: list[tuple[Any, ...]]) -> list[dict[str, Any]]:
    return [_run(j) for j in jobs]


def _map(executor: Executor | None, jobs: list[tuple[Any, ...]], progress: bool,
         chunksize: int | None = None) -> pd.DataFrame:
    bar = None
    if progress and len(jobs) >= PROGRESS_MIN_RUNS:
        from tqdm.auto import tqdm

        bar = tqdm(total=len(jobs), unit="run", desc=getattr(jobs[0][0], "__name__", "runs"))
    try:
        if executor is None:
            rows = []
            for job in jobs:
                rows.append(_run(job))
                if bar is not None:
                    bar.update(1)
        else:
            if chunksize:
                chunks = [jobs[i:i + chunksize] for i in range(0, len(jobs), chunksize)]
            else:  # a multiple of the workers, as even as can be, so that they all finish together
                k = min(len(jobs), CHUNKS_PER_WORKER * _workers(executor))
                bounds = [len(jobs) * i // k for i in range(k + 1)]
                chunks = [jobs[a:b] for a, b in pairwise(bounds)]
            futures = {executor.submit(_run_chunk, chunk): k for k, chunk in enumerate(chunks)}
            done: list[list[dict[str, Any]]] = [[] for _ in chunks]
            for future in as_completed(futures):
                k = futures[future]
                done[k] = future.result()
                if bar is not None:
                    bar.update(len(chunks[k]))
            rows = [row for chunk_rows in done for row in chunk_rows]
    finally:
        if bar is not None:
            bar.close()
    return pd.DataFrame(rows)


def compare(
    scenario: str | Callable[..., RunResult],
    designs: Iterable[Any],
    seeds: Iterable[int] | int = 10,
    executor: Executor | None = None,
    progress: bool = True,
    chunksize: int | None = None,
    **params: Any,
) -> pd.DataFrame:
    """Run ``scenario(design, seed=s, **params)`` for every design and seed; one row per run.

    ``seeds`` is a list of seeds or a count (seeds 0..n-1). Under one seed every
    design sees the same arrivals, latencies and crash draws (each comes from its own
    named random stream), so a difference between two rows of one seed comes from the
    design alone. Pass a ``concurrent.futures`` executor to spread runs over cores
    (``chunksize`` runs travel together; by default about four chunks a worker);
    ``progress=False`` hides the progress bar. Columns: ``design``, ``seed``, then the
    report's fields, one row per run in seed-then-design order whatever the executor.
    """
    fn = resolve_scenario(scenario)
    if isinstance(designs, str):
        designs = [designs]
    designs = list(designs)
    if not designs:
        raise ConfigError("designs", designs, "at least one design name")
    jobs = [(fn, d, s, params, {}) for s in _seeds(seeds) for d in designs]
    return _map(executor, jobs, progress, _chunksize(chunksize))


def sweep(
    scenario: str | Callable[..., RunResult],
    over: dict[str, Iterable[Any]],
    seeds: Iterable[int] | int = 3,
    executor: Executor | None = None,
    progress: bool = True,
    chunksize: int | None = None,
    **params: Any,
) -> pd.DataFrame:
    """Run a scenario over a grid of parameter values and seeds; one row per run.

    ``over`` maps parameter names to the values to try, e.g.
    ``sweep("throughput", {"arrival_rate": [0.2, 0.5, 0.8]}, seeds=3, service_rate=1.0)``;
    it may include ``design``. Without a design in ``over`` or ``params`` every run uses
    the scenario's first design. Each row holds ``design``, the swept parameters, the
    fixed ones that are plain values, the seed and the report's fields (a parameter
    wins over a report field of the same name). ``executor``, ``chunksize`` and
    ``progress`` work as in :func:`compare`.
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
        default_design = _Unregistered
    else:
        default_design = params.pop("design", entry.designs[0])
    fixed = {k: v for k, v in params.items() if isinstance(v, (int, float, str, bool))}
    jobs = []
    for values in product(*grids):
        point = dict(zip(names, values))
        design = default_design if entry is None else point.pop("design", default_design)
        for s in _seeds(seeds):
            jobs.append((fn, design, s, {**params, **point}, {**fixed, **point}))
    return _map(executor, jobs, progress, _chunksize(chunksize))


def _chunksize(value: Any) -> int | None:
    if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
        raise ConfigError("chunksize", value, "None (about four chunks a worker) or an int >= 1")
    return value
