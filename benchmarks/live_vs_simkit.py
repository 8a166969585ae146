"""simkit against the live lab: each design's counts in both, over several runs (not a speed benchmark).

    python benchmarks/live_vs_simkit.py              # 3 runs of each design in each engine
    python benchmarks/live_vs_simkit.py --runs 5

Prints, per scenario and design, the mean and the range (min-max) over the runs of each
count, simkit's beside the live lab's. simkit's runs use seeds 0..runs-1; a live run is
one history, so its numbers move from one invocation to the next.
"""

from __future__ import annotations

import argparse
import time

import pandas as pd

import simkit as sk

PLAN = [
    ("publish", ["dual_write", "publish_then_commit", "outbox"],
     dict(messages=100, crash_rate=0.1, relay_crash_rate=0.05), ("lost", "ghosts", "duplicates", "crashes")),
    ("consume", ["auto", "before_processing", "after_processing", "store_offsets"],
     dict(messages=100, crash_rate=0.05), ("lost", "duplicates", "extra_executions", "crashes")),
    ("ordering", ["round_robin", "key"], dict(users=60, produce_errors=10),
     ("out_of_order", "stale_writes", "lost", "duplicates")),
]


def summary(table: pd.DataFrame, fields: tuple[str, ...]) -> pd.DataFrame:
    """``mean [min-max]`` of each field per design and engine."""
    def cell(values: pd.Series) -> str:
        return f"{values.mean():.1f} [{values.min():g}-{values.max():g}]"

    return table.groupby(["design", "engine"], sort=False)[list(fields)].agg(cell)


def main(argv: list[str] | None = None) -> dict[str, pd.DataFrame]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args(argv)
    out = {}
    for scenario, designs, params, fields in PLAN:
        start = time.time()
        table = sk.live.side_by_side(scenario, designs, runs=args.runs, fields=fields, **params)
        out[scenario] = summary(table, fields)
        print(f"\n{scenario} {params}, {args.runs} runs each ({time.time() - start:.0f} s)")
        print(out[scenario].to_string())
    return out


if __name__ == "__main__":
    main()
