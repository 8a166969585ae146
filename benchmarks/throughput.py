"""Simulator speed and memory: simkit's ``throughput`` scenario beside a bare-SimPy M/M/1, in one run.

Both move the same Poisson stream (lambda = 0.5 per ms) through one exponential server
(mu = 1 per ms). The bare model is the fastest honest SimPy program for it: a source
process, a ``Store`` and one server process (about four SimPy events a message).
Rounds alternate between the two so that drift in the machine's speed hits both; the
ratio of the medians is the number to read.

Peak memory is measured in a fresh subprocess (its maximum resident set size), for a
run of ``--memory-messages`` messages that keeps the whole trace.

    python benchmarks/throughput.py                 # 200k messages x 3 rounds, memory for 1M
    python benchmarks/throughput.py --quick         # a smoke run for the test suite
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import subprocess
import sys
import time

import simpy

import simkit as sk

LAM, MU = 0.5, 1.0


def bare_simpy(n: int, seed: int = 1) -> float:
    """M/M/1 in plain SimPy; returns the mean latency in ms (to check both models agree)."""
    env = simpy.Environment()
    store = simpy.Store(env)
    rng = random.Random(seed)
    total = [0.0]

    def source():
        for i in range(n):
            yield env.timeout(rng.expovariate(LAM))
            store.put(env.now)

    def server():
        while True:
            sent = yield store.get()
            yield env.timeout(rng.expovariate(MU))
            total[0] += env.now - sent

    env.process(source())
    env.process(server())
    env.run()
    return total[0] / n


def simkit_run(n: int, seed: int = 1) -> tuple[float, float]:
    """Seconds spent simulating (world.run only) and the mean latency the report gives."""
    spent = {}
    original = sk.World.run

    def timed(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        t0 = time.perf_counter()
        original(self, *args, **kwargs)
        spent["run"] = time.perf_counter() - t0

    sk.World.run = timed  # type: ignore[method-assign]
    try:
        result = sk.scenarios.throughput(LAM, MU, messages=n, seed=seed)
    finally:
        sk.World.run = original  # type: ignore[method-assign]
    return spent["run"], result.report.latency_mean


def peak_memory_mib(n: int) -> float:
    """Maximum resident memory of a fresh process that runs ``throughput`` with ``n`` messages."""
    code = (
        "import resource, simkit as sk\n"
        f"r = sk.scenarios.throughput({LAM}, {MU}, messages={n}, seed=1)\n"
        "assert r.report.processed == r.report.produced\n"
        "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True)
    return int(out.stdout.strip()) / 1024.0  # Linux reports KiB


def main(argv: list[str] | None = None) -> dict[str, float]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=200_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--memory-messages", type=int, default=1_000_000)
    parser.add_argument("--quick", action="store_true", help="tiny sizes, for the test suite")
    args = parser.parse_args(argv)
    if args.quick:
        args.messages, args.rounds, args.memory_messages = 2_000, 1, 5_000

    bare_rates, kit_rates = [], []
    for _ in range(args.rounds):
        t0 = time.perf_counter()
        bare_mean = bare_simpy(args.messages)
        bare_rates.append(args.messages / (time.perf_counter() - t0))
        seconds, kit_mean = simkit_run(args.messages)
        kit_rates.append(args.messages / seconds)
    result = {
        "messages": args.messages,
        "bare_simpy_msgs_per_s": statistics.median(bare_rates),
        "simkit_msgs_per_s": statistics.median(kit_rates),
        "ratio": statistics.median(kit_rates) / statistics.median(bare_rates),
        "bare_mean_latency_ms": bare_mean,
        "simkit_mean_latency_ms": kit_mean,
        "memory_messages": args.memory_messages,
        "peak_memory_mib": peak_memory_mib(args.memory_messages),
    }
    print(json.dumps(result, indent=2))
    return result


if __name__ == "__main__":
    main()
