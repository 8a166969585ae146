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
from dataclasses import dataclass
from typing import Any, Generator

import pandas as pd
import simpy

from .. import checks
from ..broker import Broker, Record
from ..checks import Check
from ..consumer import Consumer, Context
from ..database import Database
from ..distributions import exponential, lognormal
from ..errors import ClientError, ConfigError
from ..glossary import PERCENTILES, register
from ..groups import ConsumerGroup
from ..network import Link, Server, call
from ..outbox import Outbox, Relay
from ..params import Params, check_steps, count, distribution, ms, positive
from ..producer import Producer
from ..results import Report, RunResult
from ..world import World
from ._common import client_param, latency_fields
from .registry import scenario

__all__ = [
    "DESIGNS", "FIELDS", "ProfileService", "ProfileUpdateParams", "caught_up", "consumer_lag", "finish",
    "other_traffic", "profile_update", "session", "stale_reads", "unapplied_updates", "user_arrivals",
    "visibility",
]

DESIGNS: tuple[str, ...] = ("sync", "async")

UPDATES = "profile-updates"
CHANGED = "profile-changed"
PROFILES = "profile.profiles"
OUTBOX = "profile.outbox"
PARTITIONS = 6
#: the other boundaries that react to ProfileChanged, asynchronously
DOWNSTREAM: tuple[str, ...] = ("crm-sync", "analytics")
#: the most other records one run puts on the topic (backlog plus background traffic): the stream stops
#: there, so a run whose users stay active for hours (a huge think or service time) still ends
MAX_OTHER_RECORDS = 100_000


@dataclass(frozen=True)
class ProfileUpdateParams(Params):
    """The parameters of :func:`profile_update` (times in ms)."""

    users: int = count(200, high=100_000, doc="users who update their profile and read it back")
    arrival_rate: float = positive(0.02, high=10.0, doc="users arriving per ms (0.02 is 20 a second)")
    think_time: Any = distribution(lognormal(median=800, p99=8000), doc="from the answer to the read")
    processing_time: Any = distribution(exponential(5), doc="the writer's work per record")
    backlog: int = count(300, low=0, high=MAX_OTHER_RECORDS, doc="other records waiting at the start")
    background_rate: float = positive(0.05, zero=True, high=10.0, doc="other records per ms while users are active")
    consumers: int = count(1, high=PARTITIONS, doc="members of the profile-writer group")
    fetch_latency: Any = distribution(lognormal(median=2, p99=20), doc="one consumer poll")
    network_latency: Any = distribution(lognormal(median=2, p99=20), doc="each leg between client, service, broker")
    service_time: Any = distribution(exponential(2), doc="the profile service's own work (4 workers)")
    db_latency: Any = distribution(lognormal(median=3, p99=30), doc="each database read and commit")
    downstream_time: Any = distribution(exponential(5), doc="CRM sync and analytics work per event")
    lag_every: float = ms(100, strict=True, doc="consumer lag is sampled this often")
    drain: float = ms(60_000, doc="after the last read, wait this long for every consumer to catch up")
    client: str = client_param()

    def check(self) -> None:
        span = self.users / self.arrival_rate
        check_steps("lag_every", self.lag_every, span + self.drain)
        if self.background_rate * span > MAX_OTHER_RECORDS:
            raise ConfigError("background_rate", self.background_rate,
                              f"at most {MAX_OTHER_RECORDS / span:g} records per ms for {self.users} users "
                              f"arriving at {self.arrival_rate:g} per ms (at most {MAX_OTHER_RECORDS} records)")


FIELDS = (
    "users", "reads", "stale_reads", "stale_read_rate", *(f"visible_{s}" for s in PERCENTILES),
    *(f"response_{s}" for s in PERCENTILES), *(f"lag_{s}" for s in PERCENTILES),
    *(f"delay_{s}" for s in PERCENTILES), "unapplied", "published", "crm_synced", "analytics_counted", "duration",
)
register("reads", "reads", "profile reads users made after their update")
register("stale_read_rate", "fraction", "share of reads that did not see the reader's own latest write")
register("unapplied", "updates", "profile updates never visible by the end of the run")
register("crm_synced", "events", "ProfileChanged events the CRM sync handled")
register("analytics_counted", "events", "ProfileChanged events analytics handled")


@scenario("profile_update", designs=DESIGNS, params=ProfileUpdateParams, fields=FIELDS, lesson="01",
          legacy_positional=("design", "seed"))
def profile_update(p: ProfileUpdateParams) -> RunResult:
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

    Report fields (see :mod:`simkit.glossary`): ``users``, ``reads``, ``stale_reads``,
    ``stale_read_rate``; ``visible_*`` (ms from the update request to the commit that
    makes it visible); ``response_*`` (ms, the update call as the user sees it);
    ``lag_*`` (records the ``profile-writer`` group is behind on ``profile-updates``,
    sampled); ``delay_*`` (ms from a record's append to the writer having handled it);
    ``unapplied`` (updates never visible by the end); ``published`` (``ProfileChanged``
    in the broker), ``crm_synced``, ``analytics_counted``; ``duration`` (ms). Checks:
    ``stale_reads`` (example update ids) and ``unapplied``. Series: ``consumer_lag``
    (time, lag summed over partitions).
    """
    # build: the broker, the profile database with its outbox and relay, the service
    world = World(p.seed)
    env = world.env
    broker = Broker(world)
    broker.create_topic(UPDATES, PARTITIONS)
    broker.create_topic(CHANGED, PARTITIONS)
    db = Database(world, "profile-db", read_latency=p.db_latency, commit_latency=p.db_latency)
    db.create_table(PROFILES)
    outbox = Outbox(db, OUTBOX)
    Relay(world, outbox, Producer(world, broker, "relay-producer", client=p.client, latency=p.network_latency),
          poll_interval=50)
    service = ProfileService(world, p, db, outbox,
                             Producer(world, broker, "profile-api", client=p.client, latency=p.network_latency))

    # wire: the writer applies the topic's records; two boundaries react to ProfileChanged
    writer = ConsumerGroup(world, broker, "profile-writer")
    members = [Consumer(world, broker, f"profile-writer-{i}", UPDATES, service.apply, client=p.client, group=writer,
                        commit="after_processing", fetch_latency=p.fetch_latency, processing_time=p.processing_time,
                        auto_offset_reset="earliest") for i in range(p.consumers)]
    downstream = []
    for name in DOWNSTREAM:
        group = ConsumerGroup(world, broker, name)
        downstream.append(group)
        members.append(Consumer(world, broker, f"{name}-0", CHANGED, None, client=p.client, group=group,
                                commit="after_processing", fetch_latency=p.fetch_latency,
                                processing_time=p.downstream_time, auto_offset_reset="earliest"))

    # run
    users_done = env.event()
    env.process(other_traffic(world, broker, p, users_done))
    world.run(until=env.process(finish(world, broker, service, writer, downstream, users_done, p)))

    # check: everything below reads the trace
    trace = world.trace.to_frame()
    stale = stale_reads(trace)
    reads = int((trace["event"] == "profile_read").sum())
    lag = consumer_lag(trace, UPDATES, p.lag_every)
    changed = trace[trace["topic"] == CHANGED]
    unapplied = unapplied_updates(trace)
    fields: dict[str, float] = dict(
        users=p.users,
        reads=reads,
        stale_reads=stale.count,
        stale_read_rate=stale.count / reads if reads else math.nan,
        **latency_fields(visibility(trace), "visible"),
        **latency_fields(checks.latencies(trace, "request", "responded"), "response"),
        **(latency_fields(lag["lag"], "lag") if len(lag) else {f"lag_{s}": 0.0 for s in PERCENTILES}),
        **latency_fields(checks.latencies(_writer_rows(trace), "append", "processed"), "delay"),
        unapplied=unapplied.count,
        published=int(changed.loc[changed["event"] == "append", "msg_id"].nunique()),
        crm_synced=_handled(changed, "crm-sync-0"),
        analytics_counted=_handled(changed, "analytics-0"),
        duration=float(env.now),
    )
    return RunResult("profile_update", p.seed, p.to_dict(), Report(**fields),
                     {"stale_reads": stale, "unapplied": unapplied}, {"consumer_lag": lag}, world.trace)


class ProfileService:
    """The profile service: its API (4 workers behind two network links), its database and outbox.

    ``update`` is what the API does with a change in the run's design; ``apply`` is the
    profile-writer's handler, which applies a record from the topic.
    """

    def __init__(self, world: World, p: ProfileUpdateParams, db: Database, outbox: Outbox, producer: Producer):
        self.world = world
        self.design = p.design
        self.db = db
        self.outbox = outbox
        self.producer = producer
        self.server = Server(world, "profile-service", p.service_time, capacity=4)
        self.to_service = Link(world, "client->profile-service", p.network_latency)
        self.from_service = Link(world, "profile-service->client", p.network_latency)

    def request(self, work: Any, i: int) -> Generator[simpy.Event, Any, Any]:
        """One call from a user's client: there, ``work()`` on a free worker, and back."""
        answer = yield from call(self.world, self.to_service, self.from_service,
                                 lambda _r: self.server.serve(work), i)
        return answer

    def update(self, user: str, update_id: str) -> Generator[simpy.Event, Any, str | None]:
        """``"sync"``: commit the change with its outbox row; ``"async"``: produce it and wait for the ack.

        Returns None, or the error the API answers with when its producer gave up on the
        record (past ``delivery_timeout``, as a Kafka producer's send fails).
        """
        if self.design == "sync":
            tx = self.db.transaction(owner="profile", msg_id=update_id)
            tx.put(PROFILES, user, update_id)
            self.outbox.add(tx, f"{update_id}/changed", CHANGED, key=user, payload="ProfileChanged")
            yield from tx.commit()
            return None
        try:
            yield self.producer.send(UPDATES, "UpdateProfile", key=user, msg_id=update_id)
        except ClientError as err:
            return f"{type(err).__name__}: the producer gave up on the update"
        return None

    def read(self, user: str) -> Generator[simpy.Event, Any, Any]:
        """The user's profile as the database has it now (the id of the last update applied)."""
        value = yield from self.db.read(PROFILES, user)
        return value

    def apply(self, record: Record, ctx: Context) -> Generator[simpy.Event, Any, None]:
        """The profile-writer's handler: apply one change; a user's change is a business fact."""
        tx = self.db.transaction(owner="profile", msg_id=record.msg_id)
        tx.put(PROFILES, record.key, record.msg_id)
        if record.value == "UpdateProfile":
            self.outbox.add(tx, f"{record.msg_id}/changed", CHANGED, key=record.key, payload="ProfileChanged")
        yield from tx.commit()


def session(world: World, service: ProfileService, think_time: Any, i: int) -> Generator[simpy.Event, Any, None]:
    """User ``i``: update the profile, wait for the answer, think, read the profile back."""
    user, update_id = f"user-{i}", f"update-{i}"
    world.record("client", "request", key=user, msg_id=update_id, detail="update profile")
    error = yield from service.request(lambda: service.update(user, update_id), i)
    if error is not None:  # the user saw an error and does not read the profile back
        world.record("client", "request_failed", key=user, msg_id=update_id, detail=error)
        return
    world.record("client", "responded", key=user, msg_id=update_id)
    yield world.env.timeout(think_time.sample(world.rng("users/think")))
    seen = yield from service.request(lambda: service.read(user), i)
    world.record("client", "profile_read", key=user, msg_id=update_id, detail=seen)


def user_arrivals(world: World, service: ProfileService, p: ProfileUpdateParams,
                  sessions: list[simpy.Process]) -> Generator[simpy.Event, Any, None]:
    """The users: ``users`` sessions starting as a Poisson stream, each added to ``sessions``."""
    env = world.env
    rng = world.rng("users/arrivals")
    for i in range(p.users):
        yield env.timeout(rng.expovariate(p.arrival_rate))
        sessions.append(env.process(session(world, service, p.think_time, i)))


def other_traffic(world: World, broker: Broker, p: ProfileUpdateParams,
                  users_done: simpy.Event) -> Generator[simpy.Event, Any, None]:
    """The other changes on the topic: a backlog at the start, then a steady stream until ``users_done``.

    The stream stops after :data:`MAX_OTHER_RECORDS` records in all, which keeps every run finite.
    """
    env = world.env
    producer = Producer(world, broker, "other-changes", client=p.client, latency=p.network_latency)
    keys = world.rng("other/keys")
    for n in range(p.backlog):
        producer.send(UPDATES, "LastLoginSet", key=f"member-{keys.randrange(10_000)}", msg_id=f"other-{n}")
    if p.background_rate == 0:
        return
    rng = world.rng("other/arrivals")
    n = p.backlog
    while not users_done.triggered and n < MAX_OTHER_RECORDS:
        yield env.timeout(rng.expovariate(p.background_rate))
        producer.send(UPDATES, "LastLoginSet", key=f"member-{keys.randrange(10_000)}", msg_id=f"other-{n}")
        n += 1


def finish(world: World, broker: Broker, service: ProfileService, writer: ConsumerGroup,
           downstream: list[ConsumerGroup], users_done: simpy.Event,
           p: ProfileUpdateParams) -> Generator[simpy.Event, Any, None]:
    """The end of the run: every session done, then every consumer caught up (up to ``drain`` ms)."""
    env = world.env
    sessions: list[simpy.Process] = []
    yield env.process(user_arrivals(world, service, p, sessions))
    yield env.all_of(sessions)
    users_done.succeed()
    deadline = env.now + p.drain
    while env.now < deadline and not (service.outbox.lag() == 0 and caught_up(broker, [writer], UPDATES)
                                      and caught_up(broker, downstream, CHANGED)):
        yield env.timeout(20)


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
