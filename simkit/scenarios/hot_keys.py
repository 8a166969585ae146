"""Hot keys: one user sends a large share of the traffic, and keying by user piles it on one partition.

Profile events (of the :data:`EVENT_TYPES`) arrive as a Poisson stream; one user,
:data:`HOT_USER` (an API integration, say), sends a ``share`` of them. The designs are
how the producer keys an event:

``"key"``
    by user id, as :mod:`simkit.scenarios.ordering` recommends. All of the hot user's
    traffic lands on one partition, whose single consumer cannot keep up: its lag grows
    while the other partitions idle.
``"fine_key"``
    by user id *and* event type (``"<user>:<event type>"``), which spreads that user
    over several partitions, at a price: events of different types of that user are no
    longer ordered with respect to each other (``cross_type_inversions``).

Both designs use the producer's default partitioner for keyed records
(``toPositive(murmur2(key)) % partitions``, Kafka's ``BuiltInPartitioner``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Generator

import pandas as pd
import simpy

from .. import checks
from ..broker import Broker
from ..checks import Check
from ..consumer import Consumer
from ..distributions import exponential
from ..glossary import PERCENTILES, register
from ..groups import ConsumerGroup
from ..params import Params, count, distribution, ms, positive, probability
from ..producer import Producer
from ..results import Report, RunResult
from ..world import World
from ._common import MAX_DRAIN_MS, client_param, latency_fields, until_drained
from .ordering import GROUP, TOPIC
from .registry import scenario

__all__ = [
    "DESIGNS", "EVENT_TYPES", "HOT_USER", "HotKeysParams", "cross_type_inversions", "hot_keys", "partition_shares",
    "traffic",
]

DESIGNS: tuple[str, ...] = ("key", "fine_key")

#: what the hot user's integration sends, in this order, over and over
EVENT_TYPES: tuple[str, ...] = (
    "profile_updated", "email_changed", "address_changed", "phone_changed", "preferences_changed",
    "avatar_changed",
)
HOT_USER = "user-0"


@dataclass(frozen=True)
class HotKeysParams(Params):
    """The parameters of :func:`hot_keys` (times in ms)."""

    share: float = probability(0.3, doc="the hot user's share of all events")
    partitions: int = count(6, high=64, doc="partitions of the topic")
    consumers: int = count(6, high=64, doc="members of the consumer group")
    users: int = count(50, low=2, high=100_000, doc="users, the hot one included")
    messages: int = count(3000, high=100_000, doc="events sent")
    arrival_rate: float = positive(1.0, high=1000, doc="events per ms")
    processing_time: Any = distribution(exponential(4), doc="a consumer's work per event")
    max_time: float = ms(600_000, strict=True, high=MAX_DRAIN_MS, doc="the run stops here if not drained")
    client: str = client_param()


FIELDS = (
    "produced", "processed", "partition_share_max", "hot_user_partitions", "lag_max", "out_of_order",
    "cross_type_inversions", "lost", "duplicates", *(f"latency_{s}" for s in PERCENTILES), "duration",
)
register("partition_share_max", "fraction", "the busiest partition's share of all records appended")
register("hot_user_partitions", "partitions", "partitions that carry the hot user's records")
register("cross_type_inversions", "messages", "messages handled after a later message of the same user, "
                                              "whatever their keys")


@scenario("hot_keys", designs=DESIGNS, params=HotKeysParams, fields=FIELDS, lesson="05",
          renamed={"key_design": "design"}, legacy_positional=("design", "share", "seed"))
def hot_keys(p: HotKeysParams) -> RunResult:
    """One user sends ``share`` of ``messages`` profile events; see the module docs.

    ``design`` is one of :data:`DESIGNS` (the old keyword ``key_design=`` still works,
    with a warning): ``"key"`` keys every event by its user id, ``"fine_key"`` by
    ``"<user>:<event type>"``. Events arrive as a Poisson stream of ``arrival_rate`` per
    ms; each one is the hot user's (:data:`HOT_USER`, cycling through
    :data:`EVENT_TYPES` in order) with chance ``share``, else one of the ``users - 1``
    others with a random type. ``consumers`` each take ``processing_time`` ms an event
    (4 ms: 0.25 events per ms per consumer), enough for an even load but not for a
    partition carrying a large share.

    Report fields (see :mod:`simkit.glossary`): ``produced``, ``processed``,
    ``partition_share_max`` (the busiest partition's share of all records),
    ``hot_user_partitions`` (how many partitions carry the hot user), ``lag_max``
    (records, the largest consumer lag of any partition), ``out_of_order`` (per-key
    inversions, for the key the design partitions by), ``cross_type_inversions``
    (per-user inversions across event types), ``lost``, ``duplicates``, ``latency_*``
    (ms from send to processed) and ``duration`` (ms). Series: ``lag`` (records per
    partition over time) and ``load`` (records per partition).
    """
    # build: a broker, a keyed producer, a group that only handles (no side effect to check)
    world = World(p.seed)
    env = world.env
    broker = Broker(world)
    broker.create_topic(TOPIC, p.partitions)
    producer = Producer(world, broker, "producer", client=p.client)
    group = ConsumerGroup(world, broker, GROUP)
    members = [
        Consumer(world, broker, f"consumer-{i}", TOPIC, client=p.client, group=group, commit="after_processing",
                 processing_time=p.processing_time, auto_offset_reset="earliest")
        for i in range(p.consumers)
    ]

    # run: the design is in how traffic() keys each event
    sent = env.event()
    env.process(traffic(world, producer, sent, p))
    drained = until_drained(world, broker, group, members, sent)
    world.run(until=drained | env.timeout(p.max_time))

    # check: everything below reads the trace
    trace = world.trace.to_frame()
    load = partition_shares(trace, TOPIC)
    lag = checks.lag(trace, TOPIC, by="processed")
    found = {
        "out_of_order": checks.out_of_order(trace),
        "cross_type_inversions": cross_type_inversions(trace),
        "lost": checks.lost(trace),
        "duplicates": checks.duplicates(trace),
    }
    sends = trace[trace["event"] == "send"]
    hot_parts = sends.loc[sends["msg_id"].astype(str).str.startswith(f"{HOT_USER}/"), "partition"].nunique()
    lat = checks.latencies(trace)
    fields: dict[str, float] = dict(
        produced=int(sends["msg_id"].nunique()),
        processed=int(lat.size),
        partition_share_max=float(load["share"].max()) if len(load) else 0.0,
        hot_user_partitions=int(hot_parts),
        lag_max=int(lag["lag"].max()) if len(lag) else 0,
        out_of_order=found["out_of_order"].count,
        cross_type_inversions=found["cross_type_inversions"].count,
        lost=found["lost"].count,
        duplicates=found["duplicates"].count,
        **latency_fields(lat),
        duration=float(env.now),
    )
    return RunResult("hot_keys", p.seed, p.to_dict(), Report(**fields), found, {"lag": lag, "load": load},
                     world.trace)


def traffic(world: World, producer: Producer, sent: simpy.Event,
            p: HotKeysParams) -> Generator[simpy.Event, Any, None]:
    """The users' events: the hot user's with chance ``share`` (its types in turn), keyed as the design says."""
    env = world.env
    rng = world.rng("arrivals")
    who = world.rng("arrivals/who")
    hot_turn = 0
    for i in range(p.messages):
        yield env.timeout(rng.expovariate(p.arrival_rate))
        hot, pick, kind = who.random(), who.randrange(1, p.users), who.randrange(len(EVENT_TYPES))
        if hot < p.share:
            user, etype = HOT_USER, EVENT_TYPES[hot_turn % len(EVENT_TYPES)]
            hot_turn += 1
        else:
            user, etype = f"user-{pick}", EVENT_TYPES[kind]
        key = user if p.design == "key" else f"{user}:{etype}"
        producer.send(TOPIC, etype, key=key, msg_id=f"{user}/{i}/{etype}")
    sent.succeed()


# -- checkers: pure functions over the trace -----------------------------------------------
def cross_type_inversions(trace: pd.DataFrame, event: str = "processed", sent: str = "send") -> Check:
    """Per-user inversions across event types: :func:`simkit.checks.out_of_order` keyed by the user.

    Keys are ``"<user>"`` or ``"<user>:<event type>"``; both are folded to the user, so
    an ``address_changed`` handled before an earlier ``email_changed`` of the same user
    counts even when the two had different keys.
    """
    rows = trace.loc[trace["event"].isin([event, sent]), ["event", "key", "msg_id"]].copy()
    rows["key"] = rows["key"].map(lambda k: k if k is None else str(k).split(":", 1)[0])
    found = checks.out_of_order(rows, event, sent)
    return Check("cross_type_inversions", found.count, found.examples, found.detail.replace("keys", "users"))


def partition_shares(trace: pd.DataFrame, topic: str | None = None) -> pd.DataFrame:
    """Records appended per partition and each partition's share of them (columns partition, records, share)."""
    rows = trace[trace["event"] == "append"]
    if topic is not None:
        rows = rows[rows["topic"] == topic]
    counts = rows.groupby("partition").size()
    total = int(counts.sum())
    return pd.DataFrame({"partition": counts.index.to_numpy(dtype=int), "records": counts.to_numpy(dtype=int),
                         "share": counts.to_numpy(dtype=float) / total if total else 0.0})
