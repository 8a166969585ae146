"""How fast does a topic drain? Arrivals, partitions, consumers and queueing delay.

Records arrive as a Poisson stream, a producer spreads them over the partitions, and
a group of consumers handles them, each record taking an exponential service time.
With no network delay, one partition and one consumer this is exactly an M/M/1
queue (a fetch returns as soon as a record is there, as with ``fetch.min.bytes=1``),
so its mean latency is ``1 / (service_rate - arrival_rate)``. With ``P`` partitions,
round-robin partitioning and one consumer per partition, each partition sees every
``P``-th arrival: an E_P/M/1 queue.

Besides the report, :func:`message_waits` reads a trace of this scenario and tells,
for every record, how long it waited, how long it was handled and how many records
its consumer handled first (the queue it found); ``series["utilisation"]`` gives the
share of the run each consumer spent handling records.
"""

from __future__ import annotations

import gc
from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np
import pandas as pd

from .. import checks
from ..broker import Broker
from ..consumer import COMMIT_POLICIES, Consumer
from ..distributions import Distribution, exponential
from ..glossary import PERCENTILES, register
from ..params import Params, choice, count, distribution, positive
from ..producer import Producer
from ..results import Lazy, Report, RunResult
from ..trace import Trace, columns
from ..world import World
from ._common import client_param, latency_fields
from .registry import scenario

__all__ = ["DESIGNS", "ThroughputParams", "message_waits", "throughput", "utilisation"]

TOPIC = "events"


DESIGNS = ("round_robin", "key")


@dataclass(frozen=True)
class ThroughputParams(Params):
    """The parameters of :func:`throughput`; the design is the producer's partitioner."""

    arrival_rate: float = positive(0.5, high=1000.0, doc="records per ms arriving (Poisson)")
    service_rate: float = positive(1.0, high=1000.0, doc="records per ms one consumer handles (exponential)")
    partitions: int = count(1, high=1000, doc="partitions of the topic")
    consumers: int = count(1, high=1000, doc="consumers in the group")
    messages: int = count(10_000, high=2_000_000, doc="records sent")
    network_latency: Any = distribution(0, doc="one way, producer to broker and broker to consumer")
    max_poll_records: int = count(500, high=100_000, doc="records one poll returns at most")
    commit: str = choice("auto", COMMIT_POLICIES, doc="the consumers' commit policy")
    client: str = client_param()


FIELDS = ("produced", "processed", "lost", "duplicates", *(f"latency_{s}" for s in PERCENTILES), "throughput",
          "idle_consumers", "utilisation_max", "duration", "theory_latency_mean")
register("throughput", "records/ms", "records processed per ms of the run")
register("idle_consumers", "consumers", "members of the group that never received a record")
register("utilisation_max", "fraction", "the busiest consumer's share of the run spent handling records")
register("theory_latency_mean", "ms", "queueing theory's mean latency for the same system, where it applies")


@scenario("throughput", designs=DESIGNS, params=ThroughputParams, fields=FIELDS, lesson="12",
          renamed={"partitioner": "design"}, legacy_design="round_robin",
          legacy_positional=("arrival_rate", "service_rate", "partitions", "consumers", "messages", "seed"))
def throughput(p: ThroughputParams) -> RunResult:
    """Run ``messages`` records through a topic and measure latency from send to processed.

    The design is the producer's partitioner: ``"round_robin"`` or ``"key"`` (each record
    keyed ``"k<i>"``, spread by murmur2). ``arrival_rate`` and ``service_rate`` are per
    millisecond (0.5 means one record every 2 ms on average). Report fields: ``produced``,
    ``processed``, ``lost``, ``duplicates``, ``latency_*`` (ms), ``throughput`` (records per
    ms), ``idle_consumers`` (members that never received a record: with more consumers than
    partitions, the extras), ``utilisation_max`` (the busiest consumer's share of the run
    spent handling records, 0 to 1) and, for the cases queueing theory answers,
    ``theory_latency_mean`` (NaN elsewhere).

    Series: ``"lag"`` (records appended but not yet processed, per partition over time)
    and ``"utilisation"`` (one row per consumer, see :func:`utilisation`).
    """
    seed, lam, mu, partitions, consumers, messages = (p.seed, p.arrival_rate, p.service_rate, p.partitions,
                                                      p.consumers, p.messages)
    partitioner, latency, max_poll_records, commit = p.design, p.network_latency, p.max_poll_records, p.commit
    params: dict[str, Any] = p.to_dict()

    log, duration = _simulate(seed, lam, mu, partitions, consumers, messages, partitioner, latency,
                              max_poll_records, commit, p.client)
    if messages >= 100_000:  # a big run: free the partition logs and processes (reference cycles) first
        gc.collect()  # (skipped for small runs, where it only costs a control's redraw time)
    # the report reads the trace's compact columns; the DataFrame is built only if someone asks
    lat = checks.latencies(log)
    lost = checks.lost(log)
    dup = checks.duplicates(log)
    util = utilisation(log, [f"consumer-{i}" for i in range(consumers)], duration)
    (fetched_by,) = columns(log, ("component",), "fetch")
    fields: dict[str, float] = dict(
        produced=messages,
        processed=int(lat.size),
        lost=lost.count,
        duplicates=dup.count,
        **latency_fields(lat),
        throughput=messages / duration if duration else float("nan"),
        idle_consumers=consumers - len(set(fetched_by.tolist())),
        utilisation_max=float(util["utilisation"].max()),
        duration=duration,
    )
    theory = _theory_latency_mean(lam, mu, partitions, consumers, partitioner, latency.is_zero)
    fields["theory_latency_mean"] = theory if theory is not None else float("nan")
    # sampled like a lag exporter would: about 2,000 points however long the run
    series = Lazy(lag=lambda: checks.lag(log.to_frame(), TOPIC, by="processed", every=max(duration / 2000, 1e-3)),
                  utilisation=lambda: util)
    return RunResult("throughput", seed, params, Report(**fields),
                     {"lost": lost, "duplicates": dup}, series, log)


def _simulate(seed: int, lam: float, mu: float, partitions: int, consumers: int, messages: int,
              partitioner: str, latency: Distribution, max_poll_records: int, commit: str,
              client: str = "java") -> tuple[Trace, float]:
    """Build the world, run it until every record is processed; return the trace and the duration."""
    world = World(seed)
    env = world.env
    broker = Broker(world)
    broker.create_topic(TOPIC, partitions)
    producer = Producer(world, broker, "producer", client=client, partitioner=partitioner, latency=latency)
    done = env.event()
    count = [0]

    def handle(record: Any) -> None:
        count[0] += 1
        if count[0] == messages:
            done.succeed()

    for i in range(consumers):
        Consumer(world, broker, f"consumer-{i}", TOPIC, handle, client=client, group="workers", commit=commit,
                 processing_time=exponential(1.0 / mu), fetch_latency=latency, commit_latency=latency,
                 max_poll_records=max_poll_records, auto_offset_reset="earliest")

    # the Poisson arrivals: each one a timeout whose callback sends the record and draws the next gap
    # (a callback, not a process: a generator resumed per record costs more than the send itself)
    gap = world.rng("arrivals").expovariate
    produce = producer.produce
    keyed = partitioner == "key"
    sent = [0]

    def arrive(_ev: Any) -> None:
        i = sent[0]
        produce(TOPIC, None, f"k{i}" if keyed else None, i)  # nothing waits on a send
        sent[0] = i = i + 1
        if i < messages:
            env.timeout(gap(lam)).callbacks.append(arrive)

    env.timeout(gap(lam)).callbacks.append(arrive)
    # the run makes no reference cycles worth collecting, yet the cyclic collector would walk every
    # record the broker holds again and again; pausing it changes nothing in the history
    collecting = gc.isenabled()
    gc.disable()
    try:
        # no learner code runs here, so the wall-clock guard only has to outlast a big run on a
        # loaded machine: 120 s, or 0.3 ms of real time per record for runs past 400,000 records
        world.run(until=done, wall_limit=max(120.0, messages * 3e-4))
    finally:
        if collecting:
            gc.enable()
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


def utilisation(trace: pd.DataFrame | Trace, consumers: Sequence[str] | None = None,
                duration: float | None = None) -> pd.DataFrame:
    """How busy each consumer was: the share of the run it spent inside its handler.

    Reads the ``process`` and ``processed`` rows of ``trace`` (a DataFrame or a
    :class:`~simkit.trace.Trace`). ``consumers`` lists the
    consumer names to report (a consumer that never handled a record gets 0; default:
    every component with a ``process`` row); ``duration`` is the length of the run in ms
    (default: the time of the last row). Returns one row per consumer, in the given
    order, with columns ``consumer``, ``partitions`` (how many partitions it handled
    records from), ``records``, ``busy_ms`` and ``utilisation`` (busy_ms / duration, 0 to 1).
    """
    if duration is None:
        (every,) = columns(trace, ("time",))
        duration = float(every.max()) if len(every) else 0.0
    started, start_times, partition = columns(trace, ("component", "time", "partition"), "process")
    ended, end_times = columns(trace, ("component", "time"), "processed")
    if consumers is None:  # in the order they first handled a record
        _, first = np.unique(started.codes, return_index=True)
        consumers = [started.categories[c] for c in started.codes[np.sort(first)] if c >= 0]
    # sums and counts per consumer by its code: no string per row, no hash table
    busy, records, parts = {}, {}, {}
    for cat, times, into in ((started, start_times, -1.0), (ended, end_times, 1.0)):
        sums = np.bincount(cat.codes[cat.codes >= 0], weights=times[cat.codes >= 0], minlength=len(cat.categories))
        for name, total in zip(cat.categories, sums):
            busy[name] = busy.get(name, 0.0) + into * float(total)
    for name, n in zip(ended.categories, np.bincount(ended.codes[ended.codes >= 0], minlength=len(ended.categories))):
        records[name] = int(n)
    base = int(partition.max()) + 2 if len(partition) else 1
    pairs = np.unique(started.codes.astype(np.int64) * base + partition.astype(np.int64) + 1)
    for code, n in zip(*np.unique(pairs // base, return_counts=True)):
        if code >= 0:
            parts[started.categories[code]] = int(n)
    names = list(consumers)
    out = pd.DataFrame({
        "consumer": names,
        "partitions": [int(parts.get(c, 0)) for c in names],
        "records": [int(records.get(c, 0)) for c in names],
        "busy_ms": [float(busy.get(c, 0.0)) for c in names],
    })
    out["utilisation"] = out["busy_ms"] / duration if duration > 0 else 0.0
    return out


def message_waits(trace: pd.DataFrame) -> pd.DataFrame:
    """Where each record's time went, from a trace of this scenario (one row per handled record).

    Index ``msg_id``; columns ``consumer``, ``partition``, ``offset``; the times (ms) of its
    ``send``, ``append``, ``fetch`` (the poll that returned it), ``process``, ``processed``
    and ``commit`` (the first commit of its partition past its offset; NaN if none came);
    ``waited_ms`` (send to the start of its handling), ``handled_ms`` (process to processed),
    ``latency_ms`` (send to processed) and ``ahead`` (how many records its consumer
    handled, or was handling, between this record's append and the start of its own
    handling: the queue it found on arrival).
    """
    msg = trace[trace["msg_id"].notna()]
    first = msg.drop_duplicates(["msg_id", "event"])
    times = first.pivot(index="msg_id", columns="event", values="time")
    for col in ("send", "append", "process", "processed"):
        if col not in times:
            times[col] = np.nan
    started = first[first["event"] == "process"].set_index("msg_id")
    out = pd.DataFrame({
        "consumer": started["component"].astype(str),
        "partition": started["partition"].astype(int),
        "offset": started["offset"].astype(int),
    })
    out = out.join(times[["send", "append", "process", "processed"]])
    out["fetch"] = np.nan
    out["commit"] = np.nan
    out["ahead"] = 0
    ev, comp = trace["event"].to_numpy(), trace["component"].to_numpy()
    all_times = trace["time"].to_numpy()
    for consumer, rows in out.groupby("consumer", sort=False):
        fetches = np.sort(all_times[(ev == "fetch") & (comp == consumer)])
        p = rows["process"].to_numpy()
        if fetches.size:
            i = np.searchsorted(fetches, p, side="right") - 1
            out.loc[rows.index, "fetch"] = np.where(i >= 0, fetches[np.clip(i, 0, None)], np.nan)
        # records handled one after another: the k-th to start is also the k-th to finish
        order = np.argsort(p, kind="stable")
        rank = np.empty(len(p), dtype=int)
        rank[order] = np.arange(len(p))
        done = np.sort(rows["processed"].to_numpy())
        finished_before = np.searchsorted(done, rows["append"].to_numpy(), side="right")
        out.loc[rows.index, "ahead"] = np.maximum(rank - finished_before, 0)
    commits = trace[trace["event"] == "commit"]
    for partition, rows in out.groupby("partition", sort=False):
        c = commits[commits["partition"] == partition].sort_values("time", kind="stable")
        if c.empty:
            continue
        reach = np.maximum.accumulate(c["offset"].to_numpy())  # furthest committed so far
        i = np.searchsorted(reach, rows["offset"].to_numpy(), side="right")
        ok = i < len(reach)
        out.loc[rows.index, "commit"] = np.where(ok, c["time"].to_numpy()[np.clip(i, 0, len(reach) - 1)], np.nan)
    out["waited_ms"] = out["process"] - out["send"]
    out["handled_ms"] = out["processed"] - out["process"]
    out["latency_ms"] = out["processed"] - out["send"]
    cols = ["consumer", "partition", "offset", "send", "append", "fetch", "process", "processed", "commit",
            "waited_ms", "handled_ms", "latency_ms", "ahead"]
    return out[cols].sort_index()
