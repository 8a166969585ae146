"""Out-of-order delivery: partitioning by key, and producer retries that reorder a partition.

Users change their email address several times in quick
succession (``updates`` changes a few ms apart, each a ``set email`` record keyed by
the user id). A consumer group applies them to the users' profiles: the last write
wins, so a user whose changes are applied in the wrong order keeps an old address.

``"round_robin"``
    the producer ignores the key and deals records to the partitions in turn (Kafka's
    ``RoundRobinPartitioner``). One user's changes land on several partitions, read by
    several consumers at their own pace: Kafka orders records inside a partition and
    nowhere else, so the changes arrive in whatever order the consumers get to them.
``"key"``
    the producer's default partitioner for keyed records: ``toPositive(murmur2(key)) %
    partitions`` (Kafka's ``BuiltInPartitioner``), so every change of one user lands on
    one partition, is read by one consumer, and arrives in the order it was written.
``"sticky"``
    the sticky partitioner of KIP-480 (Kafka's ``UniformStickyPartitioner``), what a modern
    client does with a record that has no key: every record goes to one partition until
    its batch is sent, then the producer moves to another partition at random. Batches
    are full of one partition's records, but one user's changes still spread over
    partitions, batch by batch, as with ``"round_robin"``.

Partitioning by key is not the whole story: the producer itself can reorder a
partition. The broker has short leader elections (``leader_elections`` outage windows
of ``election_duration`` ms, at times drawn from the stream
``broker/leader_elections``) and the network now and then drops the broker's answers
(``response_cuts`` cuts of the response link, times drawn from
``network/response_cuts``). A request refused during an election is retried after
``retry_backoff`` ms; a request whose answer was lost is retried after
``request_timeout`` ms although the broker wrote it. With several requests in flight
(``max_in_flight`` > 1, Kafka's ``max.in.flight.requests.per.connection``) and no
idempotence, a later request that got through is written *before* the retried one,
and the retried copy of an old change is written *after* a newer one. Kafka's
idempotent producer (``enable.idempotence``, the default since Kafka 3.0) numbers
every batch: the broker refuses the batches behind a gap and drops copies it already
has, so retries neither reorder nor duplicate. Nothing here scripts a reorder; it
follows from the producer's rules in :mod:`simkit.producer`.


Hot keys, the price of keying by user, are :mod:`simkit.scenarios.hot_keys`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Generator, Sequence

import pandas as pd
import simpy

from .. import checks
from ..broker import Broker, Record
from ..checks import Check
from ..consumer import Consumer, Context
from ..distributions import exponential, uniform
from ..errors import ConfigError
from ..glossary import PERCENTILES, register
from ..groups import ConsumerGroup
from ..params import MAX_MS, Params, check_flag, count, distribution, ms, positive
from ..producer import MAX_INT, Producer
from ..results import Report, RunResult
from ..world import World
from ._common import MAX_DRAIN_MS, client_param, latency_fields, until_drained
from .registry import scenario

__all__ = [
    "DESIGNS", "OrderingParams", "email_changes", "email_checks", "ordering", "set_email", "stale_writes",
    "wrong_final",
]

DESIGNS: tuple[str, ...] = ("round_robin", "key", "sticky")

TOPIC = "user-updates"
GROUP = "profiles"


def _optional_flag(param: str, value: Any) -> bool | None:
    return None if value is None else check_flag(param, value)


@dataclass(frozen=True)
class OrderingParams(Params):
    """The parameters of :func:`ordering` (times in ms)."""

    partitions: int = count(6, high=64, doc="partitions of the topic")
    consumers: int = count(3, high=64, doc="members of the consumer group")
    idempotent: bool | None = field(default=None, metadata={
        "check": _optional_flag, "doc": "enable.idempotence; None: the client's default (java: on unless a setting "
                                        "conflicts; librdkafka: off)"})
    producer_retries: int = count(MAX_INT, low=0, high=MAX_INT, doc="the producer's retries (Kafka's retries)")
    max_in_flight: int = count(5, high=100, doc="max.in.flight.requests.per.connection")
    users: int = count(150, high=10_000, doc="users changing their email")
    updates: int = count(4, high=100, doc="changes per user, in one burst")
    burst_rate: float = positive(0.15, high=100, doc="users starting a burst, per ms")
    update_gap: Any = distribution(exponential(3), doc="time between two changes of one user")
    network_latency: Any = distribution(uniform(1, 8), doc="one way between the producer and the broker")
    processing_time: Any = distribution(exponential(2), doc="a consumer's work per change")
    leader_elections: int = count(6, low=0, high=1000, doc="short broker outages while a new leader is elected")
    election_duration: Any = distribution(uniform(5, 20), doc="how long one election lasts")
    response_cuts: int = count(4, low=0, high=1000, doc="times the network drops the broker's answers")
    cut_duration: Any = distribution(uniform(2, 6), doc="how long one cut lasts")
    request_timeout: float = ms(300, strict=True, doc="request.timeout.ms, shortened from Kafka's 30 s")
    retry_backoff: float = ms(100, doc="retry.backoff.ms")
    max_time: float = ms(60_000, strict=True, high=MAX_DRAIN_MS, doc="the run stops here if not drained")
    client: str = client_param()

    def check(self) -> None:
        # the faults strike while the bursts start, within users / burst_rate ms
        if self.users / self.burst_rate > MAX_MS:
            raise ConfigError("burst_rate", self.burst_rate, f"a rate >= {self.users / MAX_MS:g} per ms, so "
                                                             f"{self.users} users start within {MAX_MS:g} ms")


FIELDS = (
    "produced", "applied", "out_of_order", "stale_writes", "wrong_final", "lost", "duplicates", "retries",
    "elections", "link_cuts", *(f"latency_{s}" for s in PERCENTILES), "duration", "drained",
)
register("wrong_final", "keys", "keys whose final state is not their last change sent (last write wins)")
register("elections", "elections", "leader elections that struck during the run (broker down meanwhile)")
register("link_cuts", "cuts", "cuts of a network link that struck during the run")


@scenario("ordering", designs=DESIGNS, params=OrderingParams, fields=FIELDS, lesson="05",
          renamed={"partitioner": "design", "retries": "producer_retries"},
          legacy_positional=("design", "partitions", "consumers", "seed"))
def ordering(p: OrderingParams) -> RunResult:
    """Run ``users`` users changing their email ``updates`` times each; see the module docs.

    ``design`` is the producer's partitioner, one of :data:`DESIGNS` (the old keyword
    ``partitioner=`` still works, with a warning). ``idempotent``, ``producer_retries``
    (Kafka's ``retries``; the old keyword ``retries=`` still works) and ``max_in_flight``
    go to the :class:`~simkit.Producer` unchanged (Kafka's defaults: idempotence on
    unless a setting conflicts, retries 2**31-1, 5 in flight); its own checks refuse
    conflicting settings. ``client="librdkafka"`` (confluent-kafka's defaults) leaves
    idempotence off when ``idempotent`` is None, so retries can reorder and repeat changes. Each user starts a burst of changes at a Poisson rate of
    ``burst_rate`` users per ms, the changes ``update_gap`` ms apart.
    ``request_timeout`` (300 ms) is shortened from Kafka's 30 s so that a lost answer
    is retried within the run; ``retry_backoff`` is Kafka's 100 ms. Consumers handle
    each change in ``processing_time`` ms and commit after processing.

    Report fields (see :mod:`simkit.glossary`): ``produced`` (changes sent),
    ``applied`` (changes applied at least once), ``out_of_order`` (changes applied,
    the first time, after a later change of the same user:
    :func:`simkit.checks.out_of_order`), ``stale_writes`` (applications, first or
    repeated, of a change after a later change of the same user was already applied:
    :func:`stale_writes`; a retried copy of an old change written after a newer one
    counts here, not in ``out_of_order``), ``wrong_final`` (users whose final email is
    not their last change), ``lost`` (changes never applied), ``duplicates`` (changes
    applied more than once), ``retries`` (producer retries), ``elections`` and
    ``link_cuts`` (how many of the ``leader_elections`` and ``response_cuts`` struck),
    ``latency_*`` (ms from send to applied), ``duration`` (ms) and ``drained`` (1 if
    the run ended with nothing left to do). Checks: ``out_of_order``, ``stale_writes``,
    ``wrong_final``, ``lost``, ``duplicates``. Series: ``lag`` (records per partition
    over time).
    """
    # build: a broker, the producer with the design's partitioner, the group applying changes
    world = World(p.seed)
    env = world.env
    broker = Broker(world)
    broker.create_topic(TOPIC, p.partitions)
    producer = Producer(world, broker, "producer", client=p.client, idempotent=p.idempotent, retries=p.producer_retries,
                        max_in_flight=p.max_in_flight, partitioner=p.design, latency=p.network_latency,
                        request_timeout=p.request_timeout, retry_backoff=p.retry_backoff,
                        delivery_timeout=max(120_000.0, p.request_timeout + p.retry_backoff))
    group = ConsumerGroup(world, broker, GROUP)
    members = [
        Consumer(world, broker, f"consumer-{i}", TOPIC, set_email, client=p.client, group=group,
                 commit="after_processing", processing_time=p.processing_time, auto_offset_reset="earliest")
        for i in range(p.consumers)
    ]

    # wire the faults: when they strike is drawn from streams of their own, the same for every design
    horizon = p.users / p.burst_rate
    rng = world.rng("broker/leader_elections")
    for _ in range(p.leader_elections):
        broker.outage(rng.uniform(0, horizon), p.election_duration.sample(rng) or 1.0)
    rng = world.rng("network/response_cuts")
    for _ in range(p.response_cuts):
        producer.link_in.cut(rng.uniform(0, horizon), p.cut_duration.sample(rng) or 1.0)

    # run: until every change is acknowledged (or failed), applied and committed, or max_time
    sent = env.event()
    env.process(email_changes(world, producer, sent, p))
    drained = until_drained(world, broker, group, members, sent)
    world.run(until=drained | env.timeout(p.max_time))

    # check: everything below reads the trace
    trace = world.trace.to_frame()
    found, fields = email_checks(trace)
    events = trace["event"]
    fields.update(
        retries=int((events == "retry").sum()),
        elections=int((events == "broker_down").sum()),
        link_cuts=int((events == "link_down").sum()),
        duration=float(env.now),
        drained=int(drained.triggered),
    )
    series = {"lag": checks.lag(trace, TOPIC, by="processed")}
    params = {**p.to_dict(), "idempotent": producer.idempotent}  # what the producer resolved None to
    return RunResult("ordering", p.seed, params, Report(**fields), found, series, world.trace)


def email_checks(trace: pd.DataFrame) -> tuple[dict[str, Check], dict[str, float]]:
    """The checks of an email-change run and the report fields they give, from its trace alone.

    Shared by this scenario and the live lab (:func:`simkit.live.ordering`), so both judge a run the same
    way: ``out_of_order``, ``stale_writes``, ``wrong_final``, ``lost`` and ``duplicates`` over the
    ``email_set`` rows, ``produced``, ``applied`` and ``latency_*`` (send to applied, ms).
    """
    found = {
        "out_of_order": checks.out_of_order(trace, "email_set"),
        "stale_writes": stale_writes(trace, "email_set"),
        "wrong_final": wrong_final(trace, "email_set"),
        "lost": checks.lost(trace, "send", "email_set"),
        "duplicates": checks.duplicates(trace, "email_set"),
    }
    lat = checks.latencies(trace, "send", "email_set")
    fields: dict[str, float] = dict(
        produced=int(trace.loc[trace["event"] == "send", "msg_id"].nunique()),
        applied=int(lat.size),
        **{name: check.count for name, check in found.items()},
        **latency_fields(lat),
    )
    return found, fields


def email_changes(world: World, producer: Producer, sent: simpy.Event,
                  p: OrderingParams) -> Generator[simpy.Event, Any, None]:
    """The users: each starts a burst of ``updates`` email changes; ``sent`` fires once every send has settled."""
    env = world.env
    rng = world.rng("arrivals")
    futures: list[simpy.Event] = []
    bursts = []
    for u in range(p.users):
        yield env.timeout(rng.expovariate(p.burst_rate))
        bursts.append(env.process(one_user(world, producer, u, futures, p)))
    yield env.all_of(bursts)
    yield _settled(env, futures)
    sent.succeed()


def one_user(world: World, producer: Producer, u: int, futures: list[simpy.Event],
             p: OrderingParams) -> Generator[simpy.Event, Any, None]:
    """User ``u`` changes their email ``updates`` times, ``update_gap`` apart, each a record keyed by the user."""
    rng = world.rng(f"user-{u}/typing")
    for n in range(p.updates):
        if n:
            yield world.env.timeout(p.update_gap.sample(rng))
        futures.append(producer.send(TOPIC, f"user-{u}+v{n}@example.org", key=f"user-{u}",
                                     msg_id=f"user-{u}/v{n}"))


def set_email(record: Record, ctx: Context) -> None:
    """The consumers' handler: last write wins, so the profile keeps whatever was applied last."""
    ctx.record("email_set", record, detail=record.value)


def _settled(env: simpy.Environment, futures: Sequence[simpy.Event]) -> simpy.Event:
    """An event that fires once every send has been acknowledged or has failed for good."""
    done = env.event()
    left = [0]

    def one(_ev: simpy.Event) -> None:
        left[0] -= 1
        if left[0] == 0:
            done.succeed()

    for f in futures:
        if f.callbacks is not None:  # still waiting for the broker's answer
            left[0] += 1
            f.callbacks.append(one)
    if left[0] == 0:
        done.succeed()
    return done


# -- checkers: pure functions over the trace -----------------------------------------------
def wrong_final(trace: pd.DataFrame, applied: str = "email_set", sent: str = "send") -> Check:
    """Keys whose last ``applied`` row is not their last ``sent`` message (last write wins).

    A key that never had anything applied counts too. The examples are the message ids
    that should have won (their last change), to look up in the trace.
    """
    sends = trace.loc[(trace["event"] == sent) & trace["key"].notna(), ["key", "msg_id"]]
    if sends.empty:
        return Check("wrong_final", 0, (), "no keyed messages")
    want = sends.drop_duplicates("key", keep="last").set_index("key")["msg_id"]
    done = trace.loc[(trace["event"] == applied) & trace["key"].notna(), ["key", "msg_id"]]
    got = done.drop_duplicates("key", keep="last").set_index("key")["msg_id"]
    final = got.reindex(want.index)
    bad = want[final.to_numpy() != want.to_numpy()]
    return Check("wrong_final", int(len(bad)), tuple(bad.head(checks.EXAMPLES)),
                 f"{len(want)} keys, last write wins")


def stale_writes(trace: pd.DataFrame, applied: str = "email_set", sent: str = "send") -> Check:
    """Applications of a change after a later change of the same key had already been applied.

    Unlike :func:`simkit.checks.out_of_order`, repeats count too: a retried copy of an
    old change that is written (and applied) after a newer one overwrites the newer
    value under last write wins. The intended order is the order of the ``sent`` rows;
    every ``applied`` row is compared with the newest change of its key applied before
    it. The examples are the stale message ids, in trace order.
    """
    sends = trace.loc[(trace["event"] == sent) & trace["key"].notna(), ["key", "msg_id"]].drop_duplicates("msg_id")
    if sends.empty:
        return Check("stale_writes", 0, (), "no keyed messages")
    rank = pd.Series(range(len(sends)), index=sends["msg_id"].to_numpy())
    done = trace.loc[(trace["event"] == applied) & trace["msg_id"].isin(rank.index), ["key", "msg_id"]]
    frame = pd.DataFrame({"key": done["key"].to_numpy(), "msg_id": done["msg_id"].to_numpy(),
                          "rank": rank.reindex(done["msg_id"].to_numpy()).to_numpy()})
    newest_before = frame.groupby("key", sort=False)["rank"].cummax().groupby(frame["key"], sort=False).shift(
        fill_value=-1)
    bad = frame[frame["rank"] < newest_before]
    return Check("stale_writes", int(len(bad)), tuple(bad["msg_id"].head(checks.EXAMPLES)),
                 f"{len(frame)} applications of {frame['key'].nunique()} keys checked")
