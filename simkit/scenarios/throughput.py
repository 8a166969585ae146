"""How fast does a topic drain? Arrivals, partitions, consumers and queueing delay.

Records arrive as a Poisson stream, a producer spreads them over the partitions, and
a group of consumers handles them, each record taking an exponential service time.
With no network delay, one partition and one consumer this is exactly an M/M/1
queue (a fetch returns as soon as a record is there, as with ``fetch.min.bytes=1``),
so its mean latency is ``1 / (service_rate - arrival_rate)``. With ``P`` partitions,
round-robin partitioning and one consumer per partition, each partition sees every
``P``-th arrival: an E_P/M/1 queue.
"""

from __future__ import annotations

import gc
from typing import Any

from .. import checks
from ..broker import Broker
from ..consumer import Consumer
from ..distributions import Distribution, DistributionLike, as_distribution, exponential
from ..producer import Producer
from ..results import Report, RunResult
from ..trace import Trace
from ..world import World, check_seed
from ._common import check_choice, check_count, check_positive, latency_fields

__all__ = ["throughput"]

TOPIC = "events"


def throughput(
    arrival_rate: float,
    service_rate: float,
    partitions: int = 1,
    consumers: int = 1,
    messages: int = 10_000,
    seed: int = 0,
    *,
    partitioner: str = "round_robin",
    network_latency: DistributionLike = 0,
    max_poll_records: int = 500,
    commit: str = "auto",
) -> RunResult:
    """Run ``messages`` records through a topic and measure latency from send to processed.

    ``arrival_rate`` and ``service_rate`` are per millisecond (0.5 means one record
    every 2 ms on average). ``partitioner`` is ``"round_robin"`` or ``"key"`` (each
    record keyed ``"k<i>"``, spread by murmur2). Report fields: ``produced``,
    ``processed``, ``lost``, ``duplicates``, ``latency_mean``, ``latency_p50``,
    ``latency_p99`` (ms), ``throughput`` (records per ms), ``idle_consumers`` (members that
    never received a record: with more consumers than partitions, the extras) and,
    for the cases queueing theory answers, ``theory_latency_mean``.
    """
    lam = check_positive("arrival_rate", arrival_rate)
    mu = check_positive("service_rate", service_rate)
    partitions = check_count("partitions", partitions)
    consumers = check_count("consumers", consumers)
    messages = check_count("messages", messages)
    seed = check_seed(seed)
    check_choice("partitioner", partitioner, ("round_robin", "key"))
    latency = as_distribution("network_latency", network_latency)
    params: dict[str, Any] = dict(arrival_rate=lam, service_rate=mu, partitions=partitions, consumers=consumers,
                                  messages=messages, partitioner=partitioner, network_latency=latency,
                                  max_poll_records=max_poll_records, commit=commit)

    log, duration = _simulate(seed, lam, mu, partitions, consumers, messages, partitioner, latency,
                              max_poll_records, commit)
    gc.collect()  # the partition logs and processes are gone: only the trace is needed now
    trace = log.to_frame()
    lat = checks.latencies(trace)
    lost = checks.lost(trace)
    dup = checks.duplicates(trace)
    fields: dict[str, float] = dict(
        produced=messages,
        processed=int(lat.size),
        lost=lost.count,
        duplicates=dup.count,
        **latency_fields(lat),
        throughput=messages / duration if duration else float("nan"),
        idle_consumers=consumers - int(trace.loc[trace["event"] == "fetch", "component"].nunique()),
        duration=duration,
    )
    theory = _theory_latency_mean(lam, mu, partitions, consumers, partitioner, latency.is_zero)
    if theory is not None:
        fields["theory_latency_mean"] = theory
    # sampled like a lag exporter would: about 2,000 points however long the run
    series = {"lag": checks.lag(trace, TOPIC, by="processed", every=max(duration / 2000, 1e-3))}
    return RunResult("throughput", seed, params, Report(**fields),
                     {"lost": lost, "duplicates": dup}, series, log)


def _simulate(seed: int, lam: float, mu: float, partitions: int, consumers: int, messages: int,
              partitioner: str, latency: Distribution, max_poll_records: int, commit: str) -> tuple[Trace, float]:
    """Build the world, run it until every record is processed; return the trace and the duration."""
    world = World(seed)
    env = world.env
    broker = Broker(world)
    broker.create_topic(TOPIC, partitions)
    producer = Producer(world, broker, "producer", partitioner=partitioner, latency=latency)
    done = env.event()
    count = [0]

    def handle(record: Any) -> None:
        count[0] += 1
        if count[0] == messages:
            done.succeed()

    for i in range(consumers):
        Consumer(world, broker, f"consumer-{i}", TOPIC, handle, group="workers", commit=commit,
                 processing_time=exponential(1.0 / mu), fetch_latency=latency, commit_latency=latency,
                 max_poll_records=max_poll_records, auto_offset_reset="earliest")

    def arrivals():  # type: ignore[no-untyped-def]
        rng = world.rng("arrivals")
        keyed = partitioner == "key"
        for i in range(messages):
            yield env.timeout(rng.expovariate(lam))
            producer.send(TOPIC, key=f"k{i}" if keyed else None, msg_id=i)

    env.process(arrivals())
    world.run(until=done)
    return world.trace, float(env.now)


def _theory_latency_mean(lam: float, mu: float, partitions: int, consumers: int, partitioner: str,
                         no_network: bool) -> float | None:
    """Mean sojourn time from queueing theory, where it applies (one consumer per partition)."""
    if not no_network or consumers < partitions:
        return None
    if partitions == 1:
        return 1.0 / (mu - lam) if lam < mu else None
    if partitioner == "round_robin":
        return gm1_erlang_sojourn(lam, mu, partitions)
    return 1.0 / (mu - lam / partitions) if lam / partitions < mu else None


def gm1_erlang_sojourn(lam: float, mu: float, k: int) -> float | None:
    """Mean sojourn of an E_k/M/1 queue whose arrivals are every k-th of a Poisson(lam) stream.

    G/M/1 theory: ``sigma`` solves ``sigma = A*(mu (1 - sigma))`` with the interarrival
    transform ``A*(s) = (lam / (lam + s))**k``; the mean sojourn is ``1 / (mu (1 - sigma))``.
    """
    if lam / k >= mu:
        return None
    sigma = 0.5
    for _ in range(10_000):
        nxt = (lam / (lam + mu * (1 - sigma))) ** k
        if abs(nxt - sigma) < 1e-14:
            break
        sigma = nxt
    return 1.0 / (mu * (1 - sigma))
