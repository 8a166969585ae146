"""How simkit's cost grows: with the number of messages, and with the number of partitions.

Both tables time the whole ``sk.scenarios.throughput`` call (simulation, report and trace)
in CPU seconds of this process, and give the cost per message in microseconds:

* messages (10k, 100k, 1M) through one partition and one consumer, an M/M/1 queue at
  lambda = 0.9, mu = 1 per ms: the cost per message should stay flat;
* partitions (1, 4, 16, 64) at 0.9 arrivals per ms spread round robin, each partition
  with its own consumer that handles a record in about a microsecond, so that whatever
  the partition count every record is fetched by a poll of its own and takes the same
  steps: the per-message cost should not grow with the partition count (nothing may look
  at every partition for every record).
  ``x_one_partition`` is each row's cost per message over the 1-partition row's, the
  median over interleaved rounds of the ratio within a round;
* the same partition counts with M/M/1-like consumers (mu = 1 per ms) at the same load on
  each partition (0.9 x partitions per ms): here part of the growth is the model's own,
  since the more regular arrivals of a partition make its consumer poll once per record.

    python benchmarks/scaling.py                 # 10k/100k/1M and 1/4/16/64 partitions at 100k, 3 rounds
    python benchmarks/scaling.py --quick         # a smoke run for the test suite
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

import simkit as sk

LAM, MU = 0.9, 1.0
FAST = 1000.0  # a consumer that handles a record in 1 us on average


def cost_us(messages: int, partitions: int = 0, seed: int = 1, loaded: bool = False) -> float:
    """CPU microseconds per message of one whole ``throughput`` call: the M/M/1 queue, or
    ``partitions`` partitions with near-instant consumers, or ``loaded`` ones (see the module docs)."""
    t0 = time.process_time()
    if loaded:
        r = sk.scenarios.throughput("round_robin", arrival_rate=LAM * partitions, service_rate=MU,
                                    partitions=partitions, consumers=partitions,
                                    messages=messages, seed=seed)
    elif partitions:
        r = sk.scenarios.throughput("round_robin", arrival_rate=LAM, service_rate=FAST, partitions=partitions,
                                    consumers=partitions, messages=messages,
                                    seed=seed)
    else:
        r = sk.scenarios.throughput("round_robin", arrival_rate=LAM, service_rate=MU, messages=messages, seed=seed)
    spent = time.process_time() - t0
    assert r.report.processed == messages
    return spent / messages * 1e6


def main(argv: list[str] | None = None) -> dict[str, list[dict[str, float]]]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", default="10000,100000,1000000", help="sizes for the first table")
    parser.add_argument("--partitions", default="1,4,16,64", help="partition counts for the second table")
    parser.add_argument("--partition-messages", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="tiny sizes, for the test suite")
    args = parser.parse_args(argv)
    sizes = [int(x) for x in args.messages.split(",")]
    counts = [int(x) for x in args.partitions.split(",")]
    if args.quick:
        sizes, counts, args.partition_messages, args.rounds = [500, 2_000], [1, 4], 2_000, 1

    by_size: dict[int, list[float]] = {n: [] for n in sizes}
    by_parts: dict[int, list[float]] = {p: [] for p in counts}
    ratios: dict[int, list[float]] = {p: [] for p in counts}
    by_load: dict[int, list[float]] = {p: [] for p in counts}
    load_ratios: dict[int, list[float]] = {p: [] for p in counts}
    for r in range(args.rounds):
        for n in sizes:
            by_size[n].append(cost_us(n, 0, r + 1))
        got = {p: cost_us(args.partition_messages, p, r + 1) for p in counts}
        for p in counts:
            by_parts[p].append(got[p])
            ratios[p].append(got[p] / got[counts[0]])
        got = {p: cost_us(args.partition_messages, p, r + 1, loaded=True) for p in counts}
        for p in counts:
            by_load[p].append(got[p])
            load_ratios[p].append(got[p] / got[counts[0]])
    out = {
        "messages": [{"messages": n, "us_per_message": statistics.median(v)} for n, v in by_size.items()],
        "partitions": [{"partitions": p, "messages": args.partition_messages,
                        "us_per_message": statistics.median(by_parts[p]),
                        "x_one_partition": statistics.median(ratios[p])} for p in counts],
        "loaded_partitions": [{"partitions": p, "messages": args.partition_messages,
                               "us_per_message": statistics.median(by_load[p]),
                               "x_one_partition": statistics.median(load_ratios[p])} for p in counts],
    }
    print(f"cost of a whole throughput() call, CPU us per message, median of {args.rounds} rounds")
    for row in out["messages"]:
        print(f"  {row['messages']:>9,} messages, M/M/1           {row['us_per_message']:7.2f} us")
    for row in out["partitions"]:
        print(f"  {row['partitions']:>3} partitions x {row['messages']:,} messages  {row['us_per_message']:7.2f} us"
              f"   x{row['x_one_partition']:.2f} of 1 partition")
    print("  the same partitions, each a queue at 0.9 load (mu = 1 per ms)")
    for row in out["loaded_partitions"]:
        print(f"  {row['partitions']:>3} partitions x {row['messages']:,} messages  {row['us_per_message']:7.2f} us"
              f"   x{row['x_one_partition']:.2f} of 1 partition")
    print(json.dumps(out))
    return out


if __name__ == "__main__":
    main()
