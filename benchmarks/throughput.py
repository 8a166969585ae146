"""Simulator speed and memory: simkit's ``throughput`` scenario beside bare SimPy, ciw and salabim, in one run.

Every model moves the same Poisson stream (lambda = 0.9 per ms) through one exponential
server (mu = 1 per ms), an M/M/1 queue whose mean sojourn is 1 / (mu - lambda) = 10 ms:

* ``simkit``: the whole ``sk.scenarios.throughput`` call (simulation, report and trace);
* ``simkit_sim``: the same call's simulation alone (``World.run``);
* ``simpy``: the plain SimPy program for it, a source, a ``Store`` and a server process;
* ``simpy_idle_wakeup``: SimPy that wakes the server only when it is idle (a list and one event);
* ``ciw`` and ``salabim``: the same queue in those two simulation libraries.

Each model is timed in CPU seconds of this process (``time.process_time``), which other
programs on a shared machine disturb far less than the wall clock. The machine's speed
still drifts, so the models run in interleaved rounds (each
round in a rotated order) and the number to read is the median over rounds of each model's
rate divided by bare SimPy's rate *in the same round* (a paired ratio). Garbage is
collected, untimed, before every model runs, so that none pays for another's leftovers.

Peak memory is the maximum resident set size of a fresh process running one model once
with ``--memory-messages`` messages (simkit keeps its whole trace available).

    python benchmarks/throughput.py                   # 200k messages x 5 rounds, memory for 1M
    python benchmarks/throughput.py --quick           # a smoke run for the test suite
    python benchmarks/throughput.py --no-memory       # rates only
"""

from __future__ import annotations

import argparse
import gc
import json
import random
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable

import simpy

LAM, MU = 0.9, 1.0
ROOT = Path(__file__).resolve().parent.parent


def simkit_whole(n: int, seed: int = 1) -> tuple[float, float]:
    """The whole ``throughput`` call: (seconds, mean latency in ms from its report)."""
    import simkit as sk

    t0 = time.process_time()
    result = sk.scenarios.throughput("round_robin", arrival_rate=LAM, service_rate=MU, messages=n, seed=seed)
    return time.process_time() - t0, result.report.latency_mean


def simkit_sim(n: int, seed: int = 1) -> tuple[float, float]:
    """Seconds spent in ``World.run`` alone during a ``throughput`` call, and the report's mean latency."""
    import simkit as sk

    spent = {}
    original = sk.World.run

    def timed(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        t0 = time.process_time()
        original(self, *args, **kwargs)
        spent["run"] = time.process_time() - t0

    sk.World.run = timed  # type: ignore[method-assign]
    try:
        result = sk.scenarios.throughput("round_robin", arrival_rate=LAM, service_rate=MU, messages=n, seed=seed)
    finally:
        sk.World.run = original  # type: ignore[method-assign]
    return spent["run"], result.report.latency_mean


def bare_simpy(n: int, seed: int = 1) -> tuple[float, float]:
    """M/M/1 in plain SimPy with a Store: (seconds, mean latency in ms)."""
    t0 = time.process_time()
    env = simpy.Environment()
    store = simpy.Store(env)
    rng = random.Random(seed)
    total = [0.0]

    def source():  # type: ignore[no-untyped-def]
        for _ in range(n):
            yield env.timeout(rng.expovariate(LAM))
            store.put(env.now)

    def server():  # type: ignore[no-untyped-def]
        while True:
            sent = yield store.get()
            yield env.timeout(rng.expovariate(MU))
            total[0] += env.now - sent

    env.process(source())
    env.process(server())
    env.run()
    return time.process_time() - t0, total[0] / n


def simpy_idle_wakeup(n: int, seed: int = 1) -> tuple[float, float]:
    """M/M/1 in SimPy whose server sleeps on an event only when its queue is empty."""
    t0 = time.process_time()
    env = simpy.Environment()
    rng = random.Random(seed)
    queue: list[float] = []
    idle: list[simpy.Event] = []
    total = [0.0]

    def source():  # type: ignore[no-untyped-def]
        for _ in range(n):
            yield env.timeout(rng.expovariate(LAM))
            queue.append(env.now)
            if idle:
                idle.pop().succeed()

    def server():  # type: ignore[no-untyped-def]
        done = 0
        while done < n:
            if not queue:
                ev = env.event()
                idle.append(ev)
                yield ev
            sent = queue.pop(0)
            yield env.timeout(rng.expovariate(MU))
            total[0] += env.now - sent
            done += 1

    env.process(source())
    env.process(server())
    env.run()
    return time.process_time() - t0, total[0] / n


def ciw_model(n: int, seed: int = 1) -> tuple[float, float]:
    """M/M/1 in ciw, run until ``n`` customers have finished."""
    import ciw

    t0 = time.process_time()
    ciw.seed(seed)
    network = ciw.create_network(arrival_distributions=[ciw.dists.Exponential(LAM)],
                                 service_distributions=[ciw.dists.Exponential(MU)], number_of_servers=[1])
    sim = ciw.Simulation(network)
    sim.simulate_until_max_customers(n, method="Finish")
    recs = sim.get_all_records()
    mean = sum(r.exit_date - r.arrival_date for r in recs) / len(recs)
    return time.process_time() - t0, mean


def salabim_model(n: int, seed: int = 1) -> tuple[float, float]:
    """M/M/1 in salabim: a source and a server component around a list, the server passive when idle."""
    import salabim as sim

    t0 = time.process_time()
    sim.yieldless(False)
    env = sim.Environment(trace=False, random_seed="*")
    rng = random.Random(seed)
    queue: list[float] = []
    total = [0.0]

    class Source(sim.Component):  # type: ignore[misc]
        def process(self):  # type: ignore[no-untyped-def]
            for _ in range(n):
                yield self.hold(rng.expovariate(LAM))
                queue.append(env.now())
                if server.ispassive():
                    server.activate()

    class Server(sim.Component):  # type: ignore[misc]
        def process(self):  # type: ignore[no-untyped-def]
            while True:
                while not queue:
                    yield self.passivate()
                sent = queue.pop(0)
                yield self.hold(rng.expovariate(MU))
                total[0] += env.now() - sent

    Source(env=env)
    server = Server(env=env)
    env.run()
    return time.process_time() - t0, total[0] / n


MODELS: dict[str, Callable[[int, int], tuple[float, float]]] = {
    "simkit": simkit_whole,
    "simkit_sim": simkit_sim,
    "simpy": bare_simpy,
    "simpy_idle_wakeup": simpy_idle_wakeup,
    "ciw": ciw_model,
    "salabim": salabim_model,
}


def peak_memory_mib(model: str, n: int) -> float:
    """Maximum resident memory (MiB) of a fresh process that runs ``model`` once with ``n`` messages."""
    code = (
        "import sys\n"
        f"sys.path.insert(0, {str(ROOT / 'benchmarks')!r})\n"
        "import throughput as b\n"
        f"b.MODELS[{model!r}]({n}, 1)\n"
        # VmHWM, not ru_maxrss: Linux carries ru_maxrss over from the parent across fork and exec
        "print([l.split()[1] for l in open('/proc/self/status') if l.startswith('VmHWM')][0])\n"
    )
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True)
    return int(out.stdout.strip().splitlines()[-1]) / 1024.0  # in KiB


def main(argv: list[str] | None = None) -> dict[str, dict[str, float]]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=200_000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--memory-messages", type=int, default=1_000_000)
    parser.add_argument("--models", default=",".join(MODELS), help="comma-separated, from: " + ", ".join(MODELS))
    parser.add_argument("--no-memory", action="store_true", help="skip the peak-memory subprocesses")
    parser.add_argument("--quick", action="store_true", help="tiny sizes, for the test suite")
    args = parser.parse_args(argv)
    if args.quick:
        args.messages, args.rounds, args.memory_messages = 2_000, 1, 3_000
    models = [m for m in args.models.split(",") if m]
    if "simpy" not in models:
        models.insert(0, "simpy")  # the reference every ratio is paired with
    rates: dict[str, list[float]] = {m: [] for m in models}
    ratios: dict[str, list[float]] = {m: [] for m in models}
    means: dict[str, float] = {}
    for r in range(args.rounds):
        order = models[r % len(models):] + models[:r % len(models)]
        got = {}
        for m in order:
            gc.collect()  # untimed: no model pays for the garbage the one before it left (ciw leaves cycles)
            seconds, means[m] = MODELS[m](args.messages, r + 1)
            got[m] = args.messages / seconds
            rates[m].append(got[m])
        for m in models:
            ratios[m].append(got[m] / got["simpy"])
    out: dict[str, dict[str, float]] = {}
    for m in models:
        out[m] = {"msgs_per_s": statistics.median(rates[m]), "ratio_to_simpy": statistics.median(ratios[m]),
                  "mean_latency_ms": means[m]}
        if not args.no_memory and m != "simkit_sim":
            out[m]["peak_memory_mib"] = peak_memory_mib(m, args.memory_messages)
    print(f"M/M/1 lambda={LAM} mu={MU}, {args.messages:,} messages, {args.rounds} interleaved rounds; "
          f"peak memory at {args.memory_messages:,} messages")
    print(f"{'model':<18} {'messages/s':>11} {'x simpy':>8} {'mean ms':>8} {'peak MiB':>9}")
    for m, row in out.items():
        mem = row.get("peak_memory_mib")
        print(f"{m:<18} {row['msgs_per_s']:>11,.0f} {row['ratio_to_simpy']:>8.2f} {row['mean_latency_ms']:>8.2f} "
              f"{'' if mem is None else format(mem, '9.0f'):>9}")
    if "ciw" in out and "simkit" in out:
        # through the paired ratios to SimPy, as the table reads: the two runs of a round are not adjacent
        print(f"simkit whole call / ciw: x{out['simkit']['ratio_to_simpy'] / out['ciw']['ratio_to_simpy']:.2f}")
    print(json.dumps(out))
    return out


if __name__ == "__main__":
    main()
