"""Replication and acks: which acknowledged records survive when a partition's leader dies.

An application sends ``messages`` records, arriving as a Poisson stream, to one
partition replicated on three brokers (:class:`~simkit.replication.Cluster`,
``min_insync_replicas`` of them must have a record before ``acks="all"`` is answered).
Broker 0 leads at first; at ``leader_crash`` it dies for a while and the controller
moves leadership. The producer retries whatever was not answered. The designs:

``"acks_1"``
    the leader answers once it has appended the batch. What it acknowledged and no
    follower had fetched yet is not on the new leader; when broker 0 returns it
    truncates its log to the new leader's (KIP-101), and those records are gone:
    ``lost_acknowledged`` > 0.
``"acks_all"``
    the leader answers once every in-sync replica has the batch (idempotent producer,
    Kafka's default). The new leader, taken from the in-sync set, has everything
    acknowledged: nothing acknowledged is lost.
``"acks_all_unclean"``
    as ``"acks_all"``, with ``unclean_leader_election`` on. Broker 2 is down first
    (``stale_outage``), so it leaves the in-sync set and misses records; then broker 1
    dies together with the leader (one rack, one power supply). When broker 2 comes
    back first it is the only live replica and leads with the log it has: what the
    others acknowledged meanwhile is lost, ``acks="all"`` notwithstanding.

The dice decide only arrivals, latencies and fetch times: every loss comes from the
replication mechanism. Under one seed all designs see the same arrivals.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Generator

import pandas as pd
import simpy

from .. import checks
from ..checks import Check
from ..distributions import uniform
from ..glossary import PERCENTILES, register
from ..params import Params, count, distribution, ms, positive, window
from ..producer import Producer
from ..replication import Cluster
from ..results import Report, RunResult
from ..world import World
from ._common import client_param, latency_fields
from .registry import scenario

__all__ = ["DESIGNS", "ReplicationParams", "final_logs", "lost_acknowledged", "replication"]

DESIGNS = ("acks_1", "acks_all", "acks_all_unclean")
TOPIC = "payments"
BROKERS = 3


@dataclass(frozen=True)
class ReplicationParams(Params):
    """The parameters of :func:`replication` (times in ms)."""

    messages: int = count(4000, high=100_000, doc="records the application sends")
    arrival_rate: float = positive(2.0, high=10.0, doc="records per ms (2 is 2000 a second)")
    min_insync_replicas: int = count(2, high=BROKERS, doc="in-sync replicas acks='all' needs (min.insync.replicas)")
    replica_lag_time_max: float = ms(30000, low=1, doc="a follower this long behind leaves the ISR")
    replication_delay: Any = distribution(uniform(10, 50), doc="one follower fetch from the leader")
    network_latency: Any = distribution(uniform(1, 3), doc="one way between the producer and the cluster")
    leader_crash: tuple[float, float] | None = window((1000.0, 600.0), doc="(start, duration) broker 0 is down")
    stale_outage: tuple[float, float] | None = window(
        (300.0, 1000.0), doc="(start, duration) broker 2 is down first (acks_all_unclean only)")
    batch_size: int = count(100, high=10_000, doc="records per produce request at most")
    request_timeout: float = ms(1000, low=1, doc="the producer's request.timeout.ms")
    delivery_timeout: float = ms(30000, low=1, doc="the producer's delivery.timeout.ms")
    settle: float = ms(1000, low=1, doc="after every answer and every broker back, let replicas converge")
    client: str = client_param()


FIELDS = (
    "produced", "acknowledged", "lost_acknowledged", "unacknowledged", "refused_not_enough_replicas",
    "failovers", "unclean_elections", "truncated", "duplicates", "retries", "crashes",
    *(f"latency_{s}" for s in PERCENTILES), "duration",
)
register("acknowledged", "messages", "records the producer told the application were written (acked)")
register("lost_acknowledged", "messages", "records acknowledged to the producer and absent from the log at the end")
register("unacknowledged", "messages", "records the producer gave up on and reported failed to the application")
register("refused_not_enough_replicas", "requests",
         "produce requests refused with NOT_ENOUGH_REPLICAS: fewer in-sync replicas than min_insync_replicas")
register("failovers", "elections", "times the controller gave a partition a new leader")
register("unclean_elections", "elections", "leaders chosen from outside the in-sync replica set")
register("truncated", "records", "records replicas cut from their logs to follow a new leader")


@scenario("replication", designs=DESIGNS, params=ReplicationParams, fields=FIELDS, lesson="16")
def replication(p: ReplicationParams) -> RunResult:
    """Run one partition on three brokers with one ``design`` of acks; see the module docs for the story.

    ``leader_crash`` and ``stale_outage`` are ``(start, duration)`` windows in ms
    (None: no crash); ``stale_outage`` and broker 1's crash with the leader belong to
    ``"acks_all_unclean"`` only. ``arrival_rate`` is records per ms.

    Report fields (see :mod:`simkit.glossary`): ``produced``, ``acknowledged``,
    ``lost_acknowledged`` (acknowledged, not in the final leader's log),
    ``unacknowledged`` (the producer gave up), ``refused_not_enough_replicas``,
    ``failovers``, ``unclean_elections``, ``truncated``, ``duplicates`` (in the final
    log more than once), ``retries``, ``crashes`` (broker crashes), ``latency_*`` (send to
    acknowledgement, ms) and ``duration``. Checks: ``lost_acknowledged``, ``duplicates``.
    """
    world = World(p.seed)
    env = world.env
    unclean = p.design == "acks_all_unclean"
    cluster = Cluster(world, BROKERS, replication_factor=BROKERS, min_insync_replicas=p.min_insync_replicas,
                      replica_lag_time_max=p.replica_lag_time_max, replication_delay=p.replication_delay,
                      unclean_leader_election=unclean)
    cluster.create_topic(TOPIC, 1)
    producer = Producer(world, cluster, "producer", client=p.client, acks=1 if p.design == "acks_1" else "all",
                        latency=p.network_latency, request_timeout=p.request_timeout,
                        delivery_timeout=p.delivery_timeout, batch_size=p.batch_size)
    ends = [0.0]
    if p.leader_crash:
        ends.append(cluster.crash(0, *p.leader_crash)[1])
        if unclean:
            ends.append(cluster.crash(1, *p.leader_crash)[1])
    if unclean and p.stale_outage:
        ends.append(cluster.crash(2, *p.stale_outage)[1])
    answered = env.event()
    env.process(_app(world, producer, p, answered))
    world.run(until=env.process(_finish(world, answered, max(ends), p.settle)))

    trace = world.trace.to_frame()
    found = {"lost_acknowledged": lost_acknowledged(trace), "duplicates": _final_duplicates(trace)}
    elections = trace[(trace["event"] == "leader_elected") & ~trace["detail"].str.startswith("none", na=False)]
    rejected = trace[trace["event"] == "rejected"]
    fields: dict[str, float] = dict(
        produced=int((trace["event"] == "send").sum()),
        acknowledged=int((trace["event"] == "acked").sum()),
        lost_acknowledged=found["lost_acknowledged"].count,
        unacknowledged=int((trace["event"] == "send_failed").sum()),
        refused_not_enough_replicas=int(rejected["detail"].str.startswith("NOT_ENOUGH_REPLICAS", na=False).sum()),
        failovers=len(elections),
        unclean_elections=int(elections["detail"].str.endswith("unclean", na=False).sum()),
        truncated=int((trace["event"] == "truncate").sum()),
        duplicates=found["duplicates"].count,
        retries=int((trace["event"] == "retry").sum()),
        crashes=int((trace["event"] == "broker_down").sum()),
        **latency_fields(checks.latencies(trace, "send", "acked")),
        duration=float(env.now),
    )
    return RunResult("replication", p.seed, p.to_dict(), Report(**fields), found, {}, world.trace)


def _app(world: World, producer: Producer, p: ReplicationParams,
         answered: simpy.Event) -> Generator[simpy.Event, Any, None]:
    """The application: ``messages`` records, each acknowledgement written to the trace as ``acked``."""
    env = world.env
    rng = world.rng("arrivals")
    left = [p.messages]

    def on_delivery(i: int, error: Any, offset: int) -> None:
        if error is None:
            world.record("app", "acked", topic=TOPIC, partition=0, offset=offset, msg_id=f"payment-{i}")
        left[0] -= 1
        if left[0] == 0:
            answered.succeed()

    for i in range(p.messages):
        yield env.timeout(rng.expovariate(p.arrival_rate))
        producer.produce(TOPIC, {"amount": i}, key=f"account-{i % 50}", msg_id=f"payment-{i}",
                         on_delivery=lambda err, off, i=i: on_delivery(i, err, off))


def _finish(world: World, answered: simpy.Event, last_up: float,
            settle: float) -> Generator[simpy.Event, Any, None]:
    """Every record's fate known and every broker back, then ``settle`` ms for the replicas to converge."""
    env = world.env
    yield answered
    yield env.timeout(max(0.0, last_up - env.now) + settle)


# -- checkers: pure functions over the trace -------------------------------------------------
def final_logs(trace: pd.DataFrame) -> dict[tuple[str, str, int], list[Any]]:
    """Every replica's log at the end, rebuilt from the trace: ``(broker, topic, partition)`` -> msg_ids.

    ``append`` (a leader's write) and ``replicate`` (a follower's copy) rows put a record
    at an offset, ``truncate`` rows take it away.
    """
    logs: dict[tuple[str, str, int], dict[int, Any]] = {}
    rows = trace[trace["event"].isin(("append", "replicate", "truncate"))]
    for comp, event, topic, part, offset, msg_id in zip(rows["component"], rows["event"], rows["topic"],
                                                         rows["partition"], rows["offset"], rows["msg_id"]):
        log = logs.setdefault((comp, topic, int(part)), {})
        if event == "truncate":
            log.pop(int(offset), None)
        else:
            log[int(offset)] = msg_id
    return {k: [v[o] for o in sorted(v)] for k, v in logs.items()}


def _final_leaders(trace: pd.DataFrame) -> dict[tuple[str, int], str]:
    """The broker leading each partition at the end (the last election that found one; else the first)."""
    leaders: dict[tuple[str, int], str] = {}
    first = trace[trace["event"] == "append"].drop_duplicates(["topic", "partition"])
    for topic, part, comp in zip(first["topic"], first["partition"], first["component"]):
        leaders[(topic, int(part))] = comp
    rows = trace[(trace["event"] == "leader_elected") & ~trace["detail"].str.startswith("none", na=False)]
    for topic, part, detail in zip(rows["topic"], rows["partition"], rows["detail"]):
        leaders[(topic, int(part))] = str(detail).split()[0]
    return leaders


def _final_leader_logs(trace: pd.DataFrame) -> dict[tuple[str, int], list[Any]]:
    logs = final_logs(trace)
    return {tp: logs.get((broker, *tp), []) for tp, broker in _final_leaders(trace).items()}


def lost_acknowledged(trace: pd.DataFrame) -> Check:
    """Records with an ``acked`` row that are not in their partition's final leader's log."""
    kept = {m for log in _final_leader_logs(trace).values() for m in log}
    acked = trace.loc[trace["event"] == "acked", "msg_id"].drop_duplicates()
    missing = [m for m in acked if m not in kept]
    return Check("lost_acknowledged", len(missing), tuple(missing[:checks.EXAMPLES]),
                 f"of {len(acked)} acknowledged, not in the final leader's log")


def _final_duplicates(trace: pd.DataFrame) -> Check:
    ids = pd.Series([m for log in _final_leader_logs(trace).values() for m in log], dtype=object)
    dup = ids[ids.duplicated()].drop_duplicates()
    return Check("duplicates", len(dup), tuple(dup.head(checks.EXAMPLES)), "in the final leader's log twice")
