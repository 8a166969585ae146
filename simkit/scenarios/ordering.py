"""Out-of-order delivery: partitioning by key, producer retries, and hot keys.

:func:`ordering`. Users change their email address several times in quick
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

:func:`hot_keys`. One user (an API integration, say) sends a ``share`` of all traffic.
With ``"key"`` all of it lands on one partition, whose single consumer cannot keep up:
its lag grows while the other partitions idle. ``"fine_key"`` keys by user id *and*
event type, which spreads that user over several partitions, at a price: events of
different types of that user are no longer ordered with respect to each other.
"""

from __future__ import annotations

from typing import Any, Generator, Sequence

import pandas as pd
import simpy

from .. import checks
from ..broker import Broker, Record
from ..checks import Check
from ..consumer import Consumer, Context
from ..distributions import DistributionLike, as_distribution, exponential, uniform
from ..errors import ConfigError
from ..groups import ConsumerGroup
from ..producer import MAX_INT, Producer
from ..results import Report, RunResult
from ..world import World, check_seed
from ._common import check_choice, check_count, check_positive, latency_fields, until_drained

__all__ = [
    "DESIGNS", "EVENT_TYPES", "HOT_KEY_DESIGNS", "HOT_USER", "cross_type_inversions", "hot_keys",
    "ordering", "partition_shares", "stale_writes", "wrong_final",
]

DESIGNS: tuple[str, ...] = ("round_robin", "key")
HOT_KEY_DESIGNS: tuple[str, ...] = ("key", "fine_key")

#: what the hot user's integration sends, in this order, over and over
EVENT_TYPES: tuple[str, ...] = (
    "profile_updated", "email_changed", "address_changed", "phone_changed", "preferences_changed",
    "avatar_changed",
)
HOT_USER = "user-0"

TOPIC = "user-updates"
GROUP = "profiles"


# -- the ordering scenario -------------------------------------------------------------------
def ordering(
    partitioner: str,
    partitions: int = 6,
    consumers: int = 3,
    seed: int = 0,
    *,
    idempotent: bool | None = None,
    retries: int = MAX_INT,
    max_in_flight: int = 5,
    users: int = 150,
    updates: int = 4,
    burst_rate: float = 0.15,
    update_gap: DistributionLike = exponential(3),
    network_latency: DistributionLike = uniform(1, 8),
    processing_time: DistributionLike = exponential(2),
    leader_elections: int = 6,
    election_duration: DistributionLike = uniform(5, 20),
    response_cuts: int = 4,
    cut_duration: DistributionLike = uniform(2, 6),
    request_timeout: float = 300,
    retry_backoff: float = 100,
    max_time: float = 60_000,
) -> RunResult:
    """Run ``users`` users changing their email ``updates`` times each; see the module docs.

    ``partitioner`` is one of :data:`DESIGNS`. ``idempotent``, ``retries`` and
    ``max_in_flight`` go to the :class:`~simkit.Producer` unchanged (Kafka's defaults:
    idempotence on unless a setting conflicts, retries 2**31-1, 5 in flight); its own
    checks refuse conflicting settings. Each user starts a burst of changes at a
    Poisson rate of ``burst_rate`` users per ms, the changes ``update_gap`` ms apart.
    ``request_timeout`` (300 ms) is shortened from Kafka's 30 s so that a lost answer
    is retried within the run; ``retry_backoff`` is Kafka's 100 ms. Consumers handle
    each change in ``processing_time`` ms and commit after processing.

    Report fields: ``produced`` (changes sent), ``applied`` (changes applied at least
    once), ``out_of_order`` (changes applied, the first time, after a later change of
    the same user: :func:`simkit.checks.out_of_order`), ``stale_writes`` (applications,
    first or repeated, of a change after a later change of the same user was already
    applied: :func:`stale_writes`; a retried copy of an old change written after a newer
    one counts here, not in ``out_of_order``), ``wrong_final`` (users whose
    final email is not their last change), ``lost`` (changes never applied),
    ``duplicates`` (changes applied more than once), ``retries`` (producer retries),
    ``leader_elections`` and ``response_cuts`` (how many struck), ``latency_*`` (ms
    from send to applied), ``duration`` (ms) and ``drained`` (1 if the run ended with
    nothing left to do). Checks: ``out_of_order``, ``stale_writes``, ``wrong_final``,
    ``lost``, ``duplicates``. Series: ``lag`` (records per partition over time).
    """
    check_choice("partitioner", partitioner, DESIGNS)
    partitions = check_count("partitions", partitions, 1, 64)
    consumers = check_count("consumers", consumers, 1, 64)
    seed = check_seed(seed)
    users = check_count("users", users, 1, 10_000)
    updates = check_count("updates", updates, 1, 100)
    burst_rate = check_positive("burst_rate", burst_rate)
    gap = as_distribution("update_gap", update_gap)
    latency = as_distribution("network_latency", network_latency)
    processing = as_distribution("processing_time", processing_time)
    leader_elections = check_count("leader_elections", leader_elections, 0, 1000)
    election = as_distribution("election_duration", election_duration)
    response_cuts = check_count("response_cuts", response_cuts, 0, 1000)
    cut = as_distribution("cut_duration", cut_duration)
    request_timeout = check_positive("request_timeout", request_timeout)
    retry_backoff = check_positive("retry_backoff", retry_backoff, allow_zero=True)
    max_time = check_positive("max_time", max_time)
    params: dict[str, Any] = dict(
        partitioner=partitioner, partitions=partitions, consumers=consumers, idempotent=idempotent,
        retries=retries, max_in_flight=max_in_flight, users=users, updates=updates, burst_rate=burst_rate,
        update_gap=gap, network_latency=latency, processing_time=processing, leader_elections=leader_elections,
        election_duration=election, response_cuts=response_cuts, cut_duration=cut,
        request_timeout=request_timeout, retry_backoff=retry_backoff, max_time=max_time)

    world = World(seed)
    env = world.env
    broker = Broker(world)
    broker.create_topic(TOPIC, partitions)
    producer = Producer(world, broker, "producer", idempotent=idempotent, retries=retries,
                        max_in_flight=max_in_flight, partitioner=partitioner, latency=latency,
                        request_timeout=request_timeout, retry_backoff=retry_backoff,
                        delivery_timeout=max(120_000.0, request_timeout + retry_backoff))
    params["idempotent"] = producer.idempotent
    group = ConsumerGroup(world, broker, GROUP)

    def set_email(record: Record, ctx: Context) -> None:
        # last write wins: the profile keeps whatever was applied last
        ctx.record("email_set", record, detail=record.value)

    members = [
        Consumer(world, broker, f"consumer-{i}", TOPIC, set_email, group=group, commit="after_processing",
                 processing_time=processing, auto_offset_reset="earliest")
        for i in range(consumers)
    ]

    # the faults: when they strike is drawn from streams of their own, the same for every design
    horizon = users / burst_rate
    rng = world.rng("broker/leader_elections")
    for _ in range(leader_elections):
        broker.outage(rng.uniform(0, horizon), election.sample(rng) or 1.0)
    rng = world.rng("network/response_cuts")
    for _ in range(response_cuts):
        producer.link_in.cut(rng.uniform(0, horizon), cut.sample(rng) or 1.0)

    futures: list[simpy.Event] = []
    sent = env.event()

    def user(u: int) -> Generator[simpy.Event, Any, None]:
        rng_gap = world.rng(f"user-{u}/typing")
        for n in range(updates):
            if n:
                yield env.timeout(gap.sample(rng_gap))
            futures.append(producer.send(TOPIC, f"user-{u}+v{n}@example.org", key=f"user-{u}",
                                         msg_id=f"user-{u}/v{n}"))

    def arrivals() -> Generator[simpy.Event, Any, None]:
        rng_arr = world.rng("arrivals")
        procs = []
        for u in range(users):
            yield env.timeout(rng_arr.expovariate(burst_rate))
            procs.append(env.process(user(u)))
        yield env.all_of(procs)
        yield _settled(env, futures)
        sent.succeed()

    env.process(arrivals())
    drained = until_drained(world, broker, group, members, sent)
    world.run(until=drained | env.timeout(max_time))

    trace = world.trace.to_frame()
    found = {
        "out_of_order": checks.out_of_order(trace, "email_set"),
        "stale_writes": stale_writes(trace, "email_set"),
        "wrong_final": wrong_final(trace, "email_set"),
        "lost": checks.lost(trace, "send", "email_set"),
        "duplicates": checks.duplicates(trace, "email_set"),
    }
    events = trace["event"]
    lat = checks.latencies(trace, "send", "email_set")
    fields: dict[str, float] = dict(
        produced=int(trace.loc[events == "send", "msg_id"].nunique()),
        applied=int(lat.size),
        out_of_order=found["out_of_order"].count,
        stale_writes=found["stale_writes"].count,
        wrong_final=found["wrong_final"].count,
        lost=found["lost"].count,
        duplicates=found["duplicates"].count,
        retries=int((events == "retry").sum()),
        leader_elections=int((events == "broker_down").sum()),
        response_cuts=int((events == "link_down").sum()),
        **latency_fields(lat),
        duration=float(env.now),
        drained=int(drained.triggered),
    )
    series = {"lag": checks.lag(trace, TOPIC, by="processed")}
    return RunResult("ordering", seed, params, Report(**fields), found, series, world.trace)


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


# -- the hot key scenario --------------------------------------------------------------------
def hot_keys(
    key_design: str,
    share: float = 0.3,
    seed: int = 0,
    *,
    partitions: int = 6,
    consumers: int = 6,
    users: int = 50,
    messages: int = 3000,
    arrival_rate: float = 1.0,
    processing_time: DistributionLike = exponential(4),
    max_time: float = 600_000,
) -> RunResult:
    """One user sends ``share`` of ``messages`` profile events; see the module docs.

    ``key_design`` is one of :data:`HOT_KEY_DESIGNS`: ``"key"`` keys every event by its
    user id, ``"fine_key"`` by ``"<user>:<event type>"``. Events arrive as a Poisson
    stream of ``arrival_rate`` per ms; each one is the hot user's (:data:`HOT_USER`,
    cycling through :data:`EVENT_TYPES` in order) with chance ``share``, else one of
    the ``users - 1`` others with a random type. ``consumers`` each take
    ``processing_time`` ms an event (4 ms: 0.25 events per ms per consumer), enough
    for an even load but not for a partition carrying a large share.

    Report fields: ``produced``, ``processed``, ``max_partition_share`` (the busiest
    partition's share of all records), ``hot_user_partitions`` (how many partitions
    carry the hot user), ``max_lag`` (records, the largest backlog of any partition),
    ``out_of_order`` (per-key inversions, for the key the design partitions by),
    ``cross_type_inversions`` (per-user inversions across event types),
    ``lost``, ``duplicates``, ``latency_*`` (ms from send to processed) and
    ``duration`` (ms). Series: ``lag`` (records per partition over time) and
    ``load`` (records per partition).
    """
    check_choice("key_design", key_design, HOT_KEY_DESIGNS)
    if isinstance(share, bool) or not isinstance(share, (int, float)) or not 0 <= share <= 1:
        raise ConfigError("share", share, "a fraction from 0 to 1")
    seed = check_seed(seed)
    partitions = check_count("partitions", partitions, 1, 64)
    consumers = check_count("consumers", consumers, 1, 64)
    users = check_count("users", users, 2, 100_000)
    messages = check_count("messages", messages, 1, 100_000)
    lam = check_positive("arrival_rate", arrival_rate)
    processing = as_distribution("processing_time", processing_time)
    max_time = check_positive("max_time", max_time)
    params: dict[str, Any] = dict(
        key_design=key_design, share=float(share), partitions=partitions, consumers=consumers, users=users,
        messages=messages, arrival_rate=lam, processing_time=processing, max_time=max_time)

    world = World(seed)
    env = world.env
    broker = Broker(world)
    broker.create_topic(TOPIC, partitions)
    producer = Producer(world, broker, "producer", partitioner="key")
    group = ConsumerGroup(world, broker, GROUP)
    members = [
        Consumer(world, broker, f"consumer-{i}", TOPIC, group=group, commit="after_processing",
                 processing_time=processing, auto_offset_reset="earliest")
        for i in range(consumers)
    ]
    sent = env.event()

    def traffic() -> Generator[simpy.Event, Any, None]:
        rng = world.rng("arrivals")
        who = world.rng("arrivals/who")
        hot_turn = 0
        for i in range(messages):
            yield env.timeout(rng.expovariate(lam))
            hot, pick, kind = who.random(), who.randrange(1, users), who.randrange(len(EVENT_TYPES))
            if hot < share:
                user, etype = HOT_USER, EVENT_TYPES[hot_turn % len(EVENT_TYPES)]
                hot_turn += 1
            else:
                user, etype = f"user-{pick}", EVENT_TYPES[kind]
            key = user if key_design == "key" else f"{user}:{etype}"
            producer.send(TOPIC, etype, key=key, msg_id=f"{user}/{i}/{etype}")
        sent.succeed()

    env.process(traffic())
    drained = until_drained(world, broker, group, members, sent)
    world.run(until=drained | env.timeout(max_time))

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
        max_partition_share=float(load["share"].max()) if len(load) else 0.0,
        hot_user_partitions=int(hot_parts),
        max_lag=int(lag["lag"].max()) if len(lag) else 0,
        out_of_order=found["out_of_order"].count,
        cross_type_inversions=found["cross_type_inversions"].count,
        lost=found["lost"].count,
        duplicates=found["duplicates"].count,
        **latency_fields(lat),
        duration=float(env.now),
    )
    return RunResult("hot_keys", seed, params, Report(**fields), found, {"lag": lag, "load": load}, world.trace)


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
