"""Read your own writes: a profile update written synchronously, or sent as an event.

A user changes their profile, waits for the answer, looks at something else for a
moment (the *think time*) and opens their profile again. Do they see their change?

``"sync"``
    the profile service writes the change to its database in a transaction, together
    with an outbox row for a ``ProfileChanged`` event, and answers once the commit is
    done. The next read finds the change, whatever else is going on.
``"async"``
    the profile service only produces an ``UpdateProfile`` record to the
    ``profile-updates`` topic, waits for the broker's acknowledgement (``acks=all``)
    and answers "accepted". A consumer in the ``profile-writer`` group applies the
    record to the database later, with the ``ProfileChanged`` outbox row in the same
    transaction. A read that comes before the consumer got to the record sees the old
    profile: a *stale read*.

Nothing here decides staleness by chance. The consumer is behind because of what it
has to do: the same ``profile-updates`` topic also carries other changes
(``backlog`` records already waiting when the run starts, e.g. a bulk import, and a
steady ``background_rate`` of housekeeping changes such as last-login times), and
each record costs it ``processing_time``. More backlog, more traffic or slower
processing means more consumer lag (Kafka's lag: log end offset minus the group's
committed offset), and more reads that come too early. The same other traffic runs
in both designs; in ``"sync"`` it just is not on the user's path.

In both designs a relay publishes ``ProfileChanged`` from the outbox (the fix from
lesson 03) and two other boundaries consume it on their own time: a CRM sync and
analytics. That is where asynchrony belongs: nobody waits for them. The housekeeping
changes are not business facts and publish nothing.
"""

from __future__ import annotations

import math
from typing import Any, Generator

import numpy as np
import pandas as pd
import simpy

from .. import checks
from ..broker import Broker, Record
from ..checks import Check
from ..consumer import Consumer, Context
from ..database import Database
from ..distributions import DistributionLike, as_distribution, exponential, lognormal
from ..groups import ConsumerGroup
from ..network import Link, Server, call
from ..outbox import Outbox, Relay
from ..producer import Producer
from ..results import Report, RunResult
from ..world import World, check_seed
from ._common import check_choice, check_count, check_positive, latency_fields

__all__ = ["DESIGNS", "caught_up", "consumer_lag", "profile_update", "stale_reads", "unapplied_updates", "visibility"]

DESIGNS: tuple[str, ...] = ("sync", "async")

UPDATES = "profile-updates"
CHANGED = "profile-changed"
PROFILES = "profile.profiles"
OUTBOX = "profile.outbox"
PARTITIONS = 6
#: the other boundaries that react to ProfileChanged, asynchronously
DOWNSTREAM: tuple[str, ...] = ("crm-sync", "analytics")


def profile_update(
    design: str,
    seed: int = 0,
    *,
    users: int = 200,
    arrival_rate: float = 0.02,
    think_time: DistributionLike = lognormal(median=800, p99=8000),
    processing_time: DistributionLike = exponential(5),
    backlog: int = 300,
    background_rate: float = 0.05,
    consumers: int = 1,
    fetch_latency: DistributionLike = lognormal(median=2, p99=20),
    network_latency: DistributionLike = lognormal(median=2, p99=20),
    service_time: DistributionLike = exponential(2),
    db_latency: DistributionLike = lognormal(median=3, p99=30),
    downstream_time: DistributionLike = exponential(5),
    lag_every: float = 100,
    drain: float = 60_000,
) -> RunResult:
    """``users`` users each update their profile and read it back after a think time (ms).

    Users arrive as a Poisson stream of ``arrival_rate`` per ms; each waits
    ``think_time`` after the answer to the update before reading. The consumer that
    applies updates (``"async"``; in ``"sync"`` it applies only the other traffic) runs
    ``consumers`` members over the topic's 6 partitions, pays ``fetch_latency`` per
    poll and ``processing_time`` per record. ``backlog`` other records wait on the topic
    at the start and ``background_rate`` more arrive per ms while users are active.
    ``network_latency`` is each leg between client and service and between clients and
    the broker; ``service_time`` the profile service's own work (4 workers);
    ``db_latency`` each read and commit. Consumer lag is sampled every ``lag_every`` ms.
    After the last read the run waits up to ``drain`` ms for every consumer to catch up.

    Report fields: ``users``, ``reads``, ``stale_reads``, ``stale_read_rate``;
    ``visible_mean``, ``visible_p50``, ``visible_p99`` (ms from the update request to the
    commit that makes it visible); ``response_mean``, ``response_p50``, ``response_p99``
    (ms, the update call as the user sees it); ``consumer_lag_mean``,
    ``consumer_lag_p99``, ``consumer_lag_max`` (records the ``profile-writer`` group is
    behind on ``profile-updates``, sampled); ``consumer_delay_mean``,
    ``consumer_delay_p99`` (ms from a record's append to the writer having handled it);
    ``unapplied`` (updates never visible by the end); ``events_published``
    (``ProfileChanged`` in the broker), ``crm_synced``, ``analytics_counted``;
    ``duration`` (ms). Checks: ``stale_reads`` (example update ids) and ``unapplied``.
    Series: ``consumer_lag`` (time, lag summed over partitions).
    """
    check_choice("design", design, DESIGNS)
    seed = check_seed(seed)
    users = check_count("users", users, 1, 100_000)
    lam = check_positive("arrival_rate", arrival_rate)
    think = as_distribution("think_time", think_time)
    processing = as_distribution("processing_time", processing_time)
    backlog = check_count("backlog", backlog, 0, 1_000_000)
    bg_rate = check_positive("background_rate", background_rate, allow_zero=True)
    consumers = check_count("consumers", consumers, 1, PARTITIONS)
    fetch = as_distribution("fetch_latency", fetch_latency)
    net = as_distribution("network_latency", network_latency)
    service = as_distribution("service_time", service_time)
    db_lat = as_distribution("db_latency", db_latency)
    downstream = as_distribution("downstream_time", downstream_time)
    lag_every = check_positive("lag_every", lag_every)
    drain = check_positive("drain", drain, allow_zero=True)
    params: dict[str, Any] = dict(
        design=design, users=users, arrival_rate=lam, think_time=think, processing_time=processing,
        backlog=backlog, background_rate=bg_rate, consumers=consumers, fetch_latency=fetch,
        network_latency=net, service_time=service, db_latency=db_lat, downstream_time=downstream,
        lag_every=lag_every, drain=drain)

    world = World(seed)
    env = world.env
    broker = Broker(world)
    broker.create_topic(UPDATES, PARTITIONS)
    broker.create_topic(CHANGED, PARTITIONS)
    db = Database(world, "profile-db", read_latency=db_lat, commit_latency=db_lat)
    db.create_table(PROFILES)
    outbox = Outbox(db, OUTBOX)
    Relay(world, outbox, Producer(world, broker, "relay-producer", latency=net), poll_interval=50)
    api_producer = Producer(world, broker, "profile-api", latency=net)

    def apply(record: Record, ctx: Context) -> Generator[simpy.Event, Any, None]:
        """The profile-writer's handler: apply one change; a user's change is a business fact."""
        tx = db.transaction(owner="profile", msg_id=record.msg_id)
        tx.put(PROFILES, record.key, record.msg_id)
        if record.value == "UpdateProfile":
            outbox.add(tx, f"{record.msg_id}/changed", CHANGED, key=record.key, payload="ProfileChanged")
        yield from tx.commit()

    writer = ConsumerGroup(world, broker, "profile-writer")
    members = [Consumer(world, broker, f"profile-writer-{i}", UPDATES, apply, group=writer,
                        commit="after_processing", fetch_latency=fetch, processing_time=processing,
                        auto_offset_reset="earliest") for i in range(consumers)]
    groups = [writer]
    for name in DOWNSTREAM:
        group = ConsumerGroup(world, broker, name)
        groups.append(group)
        members.append(Consumer(world, broker, f"{name}-0", CHANGED, None, group=group,
                                commit="after_processing", fetch_latency=fetch, processing_time=downstream,
                                auto_offset_reset="earliest"))

    api = Server(world, "profile-service", service, capacity=4)
    to_svc, from_svc = Link(world, "client->profile-service", net), Link(world, "profile-service->client", net)

    def update(user: str, update_id: str) -> Generator[simpy.Event, Any, None]:
        if design == "sync":
            tx = db.transaction(owner="profile", msg_id=update_id)
            tx.put(PROFILES, user, update_id)
            outbox.add(tx, f"{update_id}/changed", CHANGED, key=user, payload="ProfileChanged")
            yield from tx.commit()
        else:
            yield api_producer.send(UPDATES, "UpdateProfile", key=user, msg_id=update_id)

    def read(user: str) -> Generator[simpy.Event, Any, Any]:
        value = yield from db.read(PROFILES, user)
        return value

    def session(i: int) -> Generator[simpy.Event, Any, None]:
        user, update_id = f"user-{i}", f"update-{i}"
        world.record("client", "request", key=user, msg_id=update_id, detail="update profile")
        yield from call(world, to_svc, from_svc, lambda _r: api.serve(lambda: update(user, update_id)), i)
        world.record("client", "responded", key=user, msg_id=update_id)
        yield env.timeout(think.sample(world.rng("users/think")))
        seen = yield from call(world, to_svc, from_svc, lambda _r: api.serve(lambda: read(user)), i)
        world.record("client", "profile_read", key=user, msg_id=update_id, detail=seen)

    sessions: list[simpy.Process] = []
    active = [True]

    def users_arrive() -> Generator[simpy.Event, Any, None]:
        rng = world.rng("users/arrivals")
        for i in range(users):
            yield env.timeout(rng.expovariate(lam))
            sessions.append(env.process(session(i)))

    def other_traffic() -> Generator[simpy.Event, Any, None]:
        """The other changes on the topic: a backlog at the start, then a steady stream."""
        producer = Producer(world, broker, "other-changes", latency=net)
        keys = world.rng("other/keys")
        for n in range(backlog):
            producer.send(UPDATES, "LastLoginSet", key=f"member-{keys.randrange(10_000)}", msg_id=f"other-{n}")
        if bg_rate == 0:
            return
        rng = world.rng("other/arrivals")
        n = backlog
        while active[0]:
            yield env.timeout(rng.expovariate(bg_rate))
            producer.send(UPDATES, "LastLoginSet", key=f"member-{keys.randrange(10_000)}", msg_id=f"other-{n}")
            n += 1

    def finish() -> Generator[simpy.Event, Any, None]:
        yield env.process(users_arrive())
        yield env.all_of(sessions)
        active[0] = False
        deadline = env.now + drain
        while env.now < deadline and not (outbox.lag() == 0 and caught_up(broker, [writer], UPDATES)
                                          and caught_up(broker, groups[1:], CHANGED)):
            yield env.timeout(20)

    env.process(other_traffic())
    world.run(until=env.process(finish()))

    trace = world.trace.to_frame()
    stale = stale_reads(trace)
    visible = visibility(trace)
    reads = int((trace["event"] == "profile_read").sum())
    lag = consumer_lag(trace, UPDATES, lag_every)
    delay = checks.latencies(_writer_rows(trace), "append", "processed")
    changed = trace[trace["topic"] == CHANGED]
    unapplied = unapplied_updates(trace)
    fields: dict[str, float] = dict(
        users=users,
        reads=reads,
        stale_reads=stale.count,
        stale_read_rate=stale.count / reads if reads else math.nan,
        **latency_fields(visible, "visible"),
        **latency_fields(checks.latencies(trace, "request", "responded"), "response"),
        consumer_lag_mean=float(lag["lag"].mean()) if len(lag) else 0.0,
        consumer_lag_p99=float(np.percentile(lag["lag"], 99)) if len(lag) else 0.0,
        consumer_lag_max=float(lag["lag"].max()) if len(lag) else 0.0,
        consumer_delay_mean=float(delay.mean()) if len(delay) else math.nan,
        consumer_delay_p99=float(np.percentile(delay, 99)) if len(delay) else math.nan,
        unapplied=unapplied.count,
        events_published=int(changed.loc[changed["event"] == "append", "msg_id"].nunique()),
        crm_synced=_handled(changed, "crm-sync-0"),
        analytics_counted=_handled(changed, "analytics-0"),
        duration=float(env.now),
    )
    return RunResult("profile_update", seed, params, Report(**fields),
                     {"stale_reads": stale, "unapplied": unapplied}, {"consumer_lag": lag}, world.trace)


def caught_up(broker: Broker, groups: list[ConsumerGroup], topic: str) -> bool:
    """True when every group has committed up to the end of every partition of ``topic`` (zero lag)."""
    return all((g.committed_offset(topic, log.partition) or 0) == log.end_offset
               for g in groups for log in broker.log_of(topic))


# -- checkers: pure functions over the trace -------------------------------------------------
def stale_reads(trace: pd.DataFrame) -> Check:
    """Reads that did not see the user's own update.

    Each ``profile_read`` row carries the update the user expects (``msg_id``) and the
    update the database returned (``detail``, None for a profile never written): a read
    is stale when they differ.
    """
    reads = trace[trace["event"] == "profile_read"]
    bad = reads[reads["msg_id"].to_numpy() != reads["detail"].to_numpy()]
    return Check("stale_reads", int(len(bad)), tuple(bad["msg_id"].head(checks.EXAMPLES)),
                 f"of {len(reads)} reads, the user's own update was not there yet")


def _update_rows(trace: pd.DataFrame) -> pd.DataFrame:
    """The users' update requests and the commits that wrote the profile table."""
    ev = trace["event"]
    commits = trace[ev == "db_commit"]
    wrote = commits["detail"].map(lambda d: isinstance(d, str) and PROFILES in d.split(","))
    keep = ((ev == "request") & (trace["component"] == "client")).to_numpy().copy()
    keep[trace.index.get_indexer(commits.index[wrote.to_numpy(dtype=bool)])] = True
    return trace[keep]


def visibility(trace: pd.DataFrame) -> pd.Series:
    """Per update, ms from the user's request to the database commit that makes it readable."""
    return checks.latencies(_update_rows(trace), "request", "db_commit").rename("visible_ms")


def unapplied_updates(trace: pd.DataFrame) -> Check:
    """Update requests whose change never reached the profile table before the run ended."""
    found = checks.lost(_update_rows(trace), produced="request", delivered="db_commit")
    return Check("unapplied", found.count, found.examples, "updates never committed to the profile table")


def consumer_lag(trace: pd.DataFrame, topic: str = UPDATES, every: float = 100) -> pd.DataFrame:
    """The group's lag on ``topic`` summed over partitions, sampled every ``every`` ms (Kafka's definition)."""
    per = checks.lag(trace, topic, by="committed", every=every)
    if per.empty:
        return pd.DataFrame({"time": pd.Series(dtype=float), "lag": pd.Series(dtype=int)})
    return per.groupby("time", as_index=False)["lag"].sum()


def _writer_rows(trace: pd.DataFrame) -> pd.DataFrame:
    keep = (trace["topic"] == UPDATES) & (((trace["event"] == "append"))
                                         | ((trace["event"] == "processed")
                                            & trace["component"].astype(str).str.startswith("profile-writer")))
    return trace[keep]


def _handled(rows: pd.DataFrame, component: str) -> int:
    return int(rows.loc[(rows["event"] == "processed") & (rows["component"] == component), "msg_id"].nunique())
