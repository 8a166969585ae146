"""What a process pool gains on a sweep: 20 seeds of lesson scenarios at their default sizes.

For each workload the sweep runs as a plain loop and on a warmed-up ``ProcessPoolExecutor``
with ``--workers`` processes (default 2, a workshop laptop), in interleaved rounds; the
number to read is the median of the paired speed-ups. Beside it, the same pool runs a
CPU-bound loop (sum over ranges) split into equal parts: that is the most any pool can gain on this
machine right now (other programs share the cores), so ``x_of_ceiling`` says how much of
it the sweep gets.

    python benchmarks/sweep.py              # 20 seeds, 3 rounds
    python benchmarks/sweep.py --quick      # a smoke run for the test suite
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from concurrent.futures import ProcessPoolExecutor
from typing import Any, Callable

import simkit as sk


def workloads(seeds: int, quick: bool) -> dict[str, Callable[[Any], Any]]:
    """Each workload as a function of the executor (None: a plain loop)."""
    size = {"messages": 500} if quick else {}
    designs = sk.scenarios.SCENARIOS["publish"].designs
    return {
        "publish, 3 designs": lambda ex: sk.compare("publish", designs, seeds=seeds, executor=ex, progress=False),
        "throughput": lambda ex: sk.sweep("throughput", {"arrival_rate": [0.9]}, seeds=seeds, service_rate=1.0,
                                          executor=ex, progress=False, **size),
    }


def main(argv: list[str] | None = None) -> dict[str, dict[str, float]]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--quick", action="store_true", help="tiny sizes, for the test suite")
    args = parser.parse_args(argv)
    if args.quick:
        args.seeds, args.rounds = 4, 1
    loads = workloads(args.seeds, args.quick)
    # the ceiling's work: sum() over ranges, a builtin, so that the pool can ship it from any module
    burn = [range(2_000_000 if args.quick else 20_000_000)] * (4 * args.workers)
    gains: dict[str, list[float]] = {name: [] for name in [*loads, "cpu ceiling"]}
    same = True
    with ProcessPoolExecutor(args.workers) as pool:
        pool.submit(int).result()  # start the workers before timing
        for _ in range(args.rounds):
            for name, run in loads.items():
                t0 = time.perf_counter()
                plain = run(None)
                t1 = time.perf_counter()
                pooled = run(pool)
                t2 = time.perf_counter()
                gains[name].append((t1 - t0) / (t2 - t1))
                same = same and plain.equals(pooled)
            t0 = time.perf_counter()
            [sum(r) for r in burn]
            t1 = time.perf_counter()
            list(pool.map(sum, burn))
            t2 = time.perf_counter()
            gains["cpu ceiling"].append((t1 - t0) / (t2 - t1))
    ceiling = statistics.median(gains["cpu ceiling"])
    out = {name: {"speedup": statistics.median(g), "x_of_ceiling": statistics.median(g) / ceiling}
           for name, g in gains.items()}
    print(f"{args.seeds} seeds, a pool of {args.workers} processes, median of {args.rounds} rounds; "
          f"identical rows: {same}")
    for name, row in out.items():
        print(f"  {name:<22} x{row['speedup']:.2f}   ({100 * row['x_of_ceiling']:.0f}% of the ceiling)")
    print(json.dumps(out))
    out["identical"] = {"rows": float(same)}
    return out


if __name__ == "__main__":
    main()
