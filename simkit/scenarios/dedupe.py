"""Idempotent consumers: making the second delivery of a message harmless.

Every design here commits offsets *after* processing (at least once), so a consumer
that crashes before its commit gets the message again. Each ``UserSignedUp`` event
asks the consumer to do two things: count the sign-up in its own database (schema
``welcome``) and send the user a welcome email through an external
:class:`~simkit.dedupe.EmailProvider`. The designs differ in how they treat a
message they may have seen before:

============================  ==========================================================
``"none"``                    send the email, then add one to ``welcome.stats.signups``,
                              on every delivery.
``"natural"``                 send the email, then *set* ``welcome.users[user]`` (the
                              count is the number of rows): repeating a set changes
                              nothing, but the email goes out again.
``"dedupe_table"``            look the message id up in a dedupe table and skip it if
                              found; else email, then one transaction that adds to the
                              counter *and* records the id.
``"dedupe_table_separate_tx"``  the same, but the counter and the id are two commits; a
                              crash between them lets the next delivery count again.
``"business_check"``          ask the business state ("was this user welcomed?") and skip
                              if so; else email, then one transaction that counts and
                              marks the user welcomed. No extra table, no TTL.
============================  ==========================================================

The email is outside the database, so no transaction covers it: a crash after the
email and before the commit (crash point ``after_email``) sends it again on the next
delivery, whatever the design, unless the provider honours an idempotency key
(``email_idempotency_key=True``; the consumer always passes ``welcome/<msg_id>``).

Crash points of the consumer, the same for every design so that one seed crashes
every design at the same place: ``before_process``, ``after_email`` (email sent,
nothing committed), ``after_effect_tx`` (the counting transaction committed; for
``dedupe_table_separate_tx`` the id is not recorded yet) and ``after_process``
(done, offset not committed).

``ttl`` (ms) bounds the dedupe table: a cleanup every ``cleanup_interval`` ms deletes
older ids. ``redeliver_after`` (ms) makes an upstream publisher send a share
(``redeliver_share``) of the messages a second time that long after the first, as
a replay or a relay that re-publishes does; later than the TTL, such a copy is no
longer in the table and slips through.

Defaults: a sign-up every 25 ms on average, each handled in about 20 ms (2 ms of work,
a 1 ms read, a 10 ms email round trip, 2 ms commits), so the consumer keeps up and
each crash (``crash_rate`` 0.05: one every 20 deliveries or so) costs a restart of
500 ms (after the 300 ms session timeout has removed the crashed member, as in
:mod:`~simkit.scenarios.consume`) and redelivers the message it was handling.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Generator

import simpy

from .. import checks
from ..broker import Broker, Record
from ..consumer import Consumer, Context
from ..database import Database
from ..dedupe import DedupeTable, EmailProvider, table_size
from ..distributions import exponential
from ..glossary import PERCENTILES, register
from ..groups import ConsumerGroup
from ..params import (
    MAX_MS,
    Params,
    check_steps,
    count,
    distribution,
    flag,
    ms,
    positive,
    probability,
    schedule,
)
from ..producer import Producer
from ..results import Report, RunResult
from ..world import World
from ._common import MAX_DRAIN_MS, client_param, latency_fields, until_drained
from .registry import scenario

__all__ = ["CRASH_POINTS", "DESIGNS", "DedupeParams", "Welcome", "dedupe", "signups"]

DESIGNS: tuple[str, ...] = ("none", "natural", "dedupe_table", "dedupe_table_separate_tx", "business_check")
CRASH_POINTS: tuple[str, ...] = ("before_process", "after_email", "after_effect_tx", "after_process")

TOPIC = "signups"
STATS = "welcome.stats"
USERS = "welcome.users"
PROCESSED = "welcome.processed"
#: The dedupe table's size is sampled this often (ms) for ``series["dedupe_table_size"]``.
SAMPLE_EVERY = 100.0


@dataclass(frozen=True)
class DedupeParams(Params):
    """The parameters of :func:`dedupe` (times in ms)."""

    crash_rate: float = probability(0.05, doc="per delivery: crash at one of the consumer's points")
    messages: int = count(200, high=100_000, doc="sign-up events the producer sends")
    ttl: float | None = positive(2000, optional=True, high=MAX_MS, doc="ids older than this leave the table")
    cleanup_interval: float = ms(500, strict=True, doc="the TTL cleanup runs this often")
    redeliver_after: float | None = positive(None, optional=True, high=MAX_MS,
                                             doc="an upstream copy of a message arrives this long after it")
    redeliver_share: float = probability(0.1, doc="share of the messages sent a second time upstream")
    email_idempotency_key: bool = flag(False, doc="the email provider honours idempotency keys")
    arrival_interval: Any = distribution(exponential(25), doc="time between two sends")
    processing_time: Any = distribution(2, doc="the handler's own work per delivery")
    read_latency: Any = distribution(1, doc="a database read")
    commit_latency: Any = distribution(2, doc="a database commit")
    email_latency: Any = distribution(5, doc="one way to the email provider")
    max_poll_records: int = count(10, high=10_000, doc="records one poll returns at most (max.poll.records)")
    session_timeout: float = ms(300, strict=True, doc="how long a crashed member lingers (session.timeout.ms)")
    restart_delay: Any = distribution(500, doc="a crashed consumer's restart")
    crash_schedule: tuple = schedule(CRASH_POINTS, doc="exact crashes as (n, point), redeliveries counted")
    max_time: float = ms(600_000, strict=True, high=MAX_DRAIN_MS, doc="the run stops here if not drained")
    client: str = client_param()

    def check(self) -> None:
        check_steps("cleanup_interval", self.cleanup_interval, self.max_time)


FIELDS = (
    "produced", "processed", "lost", "redelivered", "duplicates", "repeated_sets", "emails_sent",
    "duplicate_emails", "emails_ignored", "skipped", "crashes", "dedupe_table_size_max", "dedupe_table_size_final",
    "expired", *(f"latency_{s}" for s in PERCENTILES), "duration", "drained",
)
register("repeated_sets", "messages", "messages whose idempotent write ran more than once (harmless)")
register("emails_sent", "emails", "emails the provider sent")
register("duplicate_emails", "messages", "messages that caused more than one email")
register("emails_ignored", "emails", "repeated emails the provider recognised by their idempotency key")
register("skipped", "deliveries", "deliveries the consumer recognised as seen before and skipped")
register("dedupe_table_size_max", "ids", "the most ids the dedupe table held at once")
register("dedupe_table_size_final", "ids", "ids in the dedupe table when the run ended")
register("expired", "ids", "ids the TTL cleanup deleted from the dedupe table")


@scenario("dedupe", designs=DESIGNS, params=DedupeParams, fields=FIELDS, lesson="06",
          renamed={"strategy": "design"}, legacy_positional=("design", "crash_rate", "messages", "seed"))
def dedupe(p: DedupeParams) -> RunResult:
    """Run ``messages`` sign-ups through a crashing at-least-once consumer built by ``design``.

    ``design`` is one of :data:`DESIGNS` (the old keyword ``strategy=`` still works, with
    a warning); ``crash_schedule`` pairs ``(n, point)`` crash the consumer exactly while
    it handles its ``n``-th delivery (0-based, redeliveries counted), ``point`` one of
    :data:`CRASH_POINTS`. ``arrival_interval`` is exponential with mean 25 ms unless given.

    Report fields (see :mod:`simkit.glossary`): ``produced``, ``processed``, ``lost``,
    ``redelivered`` (messages handled more than once), ``duplicates`` (messages whose
    database side effect, the counter, was applied more than once), ``repeated_sets``
    (messages whose idempotent set ran more than once: harmless), ``emails_sent``,
    ``duplicate_emails`` (messages that caused more than one email), ``emails_ignored``
    (repeats the provider recognised by their key), ``skipped`` (deliveries the design
    recognised and skipped), ``crashes``, ``dedupe_table_size_max``,
    ``dedupe_table_size_final``, ``expired`` (ids the TTL cleanup deleted),
    ``latency_*`` (ms, send to first processed), ``duration`` (ms), ``drained``.
    ``series["dedupe_table_size"]`` is the table's size sampled every 100 ms by a
    :class:`~simkit.monitor.Monitor`. Checks: ``lost``, ``redelivered``, ``duplicates``,
    ``duplicate_emails``.
    """
    # build: a broker, a producer, the consumer's database, its dedupe table and the email provider
    world = World(p.seed)
    env = world.env
    broker = Broker(world)
    broker.create_topic(TOPIC, 1)
    producer = Producer(world, broker, "producer", client=p.client)
    db = Database(world, "db", read_latency=p.read_latency, commit_latency=p.commit_latency)
    db.create_table(STATS)
    db.create_table(USERS)
    table = DedupeTable(world, db, PROCESSED, ttl=p.ttl, cleanup_interval=p.cleanup_interval,
                        sample_interval=SAMPLE_EVERY)
    email = EmailProvider(world, "email", latency=p.email_latency, accepts_idempotency_key=p.email_idempotency_key)

    # wire the design: one consumer committing after processing, its handler doing what the design says
    group = ConsumerGroup(world, broker, "welcome", session_timeout=p.session_timeout)
    consumer = Consumer(world, broker, "consumer", TOPIC, Welcome(p.design, db, table, email), group=group,
                        client=p.client, commit="after_processing", max_poll_records=p.max_poll_records,
                        processing_time=p.processing_time, auto_offset_reset="earliest", crash_rate=p.crash_rate,
                        crash_schedule=p.crash_schedule, restart_delay=p.restart_delay)

    # run: until everything sent (late copies included) is handled and committed, or max_time
    sent = env.event()
    env.process(signups(world, producer, sent, p))
    drained = until_drained(world, broker, group, [consumer], sent)
    world.run(until=drained | env.timeout(p.max_time))

    # check: everything below reads the trace
    trace = world.trace.to_frame()
    events = trace["event"]
    lost = checks.lost(trace)
    redelivered = checks.duplicates(trace, "process")
    dup = checks.duplicates(trace, "counter_incremented")
    dup_emails = checks.duplicates(trace, "email_sent")
    lat = checks.latencies(trace)
    size = table_size(trace, PROCESSED)
    fields: dict[str, float] = dict(
        produced=int(trace.loc[events == "send", "msg_id"].nunique()),
        processed=int(lat.size),
        lost=lost.count,
        redelivered=redelivered.count,
        duplicates=dup.count,
        repeated_sets=checks.duplicates(trace, "value_set").count,
        emails_sent=int((events == "email_sent").sum()),
        duplicate_emails=dup_emails.count,
        emails_ignored=int((events == "email_ignored").sum()),
        skipped=int((events == "duplicate_skipped").sum()),
        crashes=int((events == "crash").sum()),
        dedupe_table_size_max=int(size["size"].max()) if len(size) else 0,
        dedupe_table_size_final=int(size["size"].iloc[-1]) if len(size) else 0,
        expired=int((events == "dedupe_expired").sum()),
        **latency_fields(lat),
        duration=float(env.now),
        drained=int(drained.triggered),
    )
    result_checks = {"lost": lost, "redelivered": redelivered, "duplicates": dup, "duplicate_emails": dup_emails}
    series = {"dedupe_table_size": table.size_series()}
    return RunResult("dedupe", p.seed, p.to_dict(), Report(**fields), result_checks, series, world.trace)


def signups(world: World, producer: Producer, sent: simpy.Event,
            p: DedupeParams) -> Generator[simpy.Event, Any, None]:
    """The sign-ups, and upstream's late copies: ``redeliver_share`` of them sent again ``redeliver_after`` ms on."""
    env = world.env
    rng, pick = world.rng("arrivals"), world.rng("upstream/replay")
    copies = []
    for i in range(p.messages):
        yield env.timeout(p.arrival_interval.sample(rng))
        producer.send(TOPIC, value="UserSignedUp", key=f"user-{i}", msg_id=i)
        if pick.random() < p.redeliver_share and p.redeliver_after is not None:
            copies.append(env.process(late_copy(world, producer, i, p.redeliver_after)))
    yield env.all_of(copies)
    sent.succeed()


def late_copy(world: World, producer: Producer, i: int, delay: float) -> Generator[simpy.Event, Any, None]:
    """Upstream publishes sign-up ``i`` again, ``delay`` ms after the first time (a replay, a relay's repeat)."""
    yield world.env.timeout(delay)
    world.record("upstream", "republish", topic=TOPIC, key=f"user-{i}", msg_id=i,
                 detail=f"sent again {delay:g} ms after the first time")
    producer.send(TOPIC, value="UserSignedUp", key=f"user-{i}", msg_id=i)


class Welcome:
    """The consumer's handler: email the new user and count the sign-up, as ``design`` says.

    Called with ``(record, ctx)`` for every delivery; its own crash points
    (``after_email``, ``after_effect_tx``) are in :attr:`crash_points`.
    """

    crash_points = CRASH_POINTS[1:3]

    def __init__(self, design: str, db: Database, table: DedupeTable, email: EmailProvider):
        self.design = design
        self.db = db
        self.table = table
        self.email = email

    def __call__(self, rec: Record, ctx: Context) -> Generator[simpy.Event, Any, None]:
        user, mid = rec.key, rec.msg_id
        if (yield from self.seen_before(rec, ctx)):
            return
        yield from self.email.send(user, "Welcome aboard!", idempotency_key=f"welcome/{mid}", msg_id=mid)
        ctx.crash_point("after_email")
        tx = self.db.transaction("welcome", msg_id=mid)
        if self.design == "natural":
            tx.put(USERS, user, "signed_up")
            yield from tx.commit()
            ctx.record("value_set", rec, detail=f"users[{user}] = signed_up")
        else:
            signups = tx.get(STATS, "signups", 0) + 1
            tx.put(STATS, "signups", signups)
            if self.design == "dedupe_table":
                self.table.add(tx, mid)
            elif self.design == "business_check":
                tx.put(USERS, user, "welcomed")
            yield from tx.commit()
            ctx.record("counter_incremented", rec, detail=f"signups = {signups}")
        ctx.crash_point("after_effect_tx")
        if self.design == "dedupe_table_separate_tx":  # the id in a second commit: a crash before it counts again
            tx = self.db.transaction("welcome", msg_id=mid)
            self.table.add(tx, mid)
            yield from tx.commit()

    def seen_before(self, rec: Record, ctx: Context) -> Generator[simpy.Event, Any, bool]:
        """True (and a ``duplicate_skipped`` row) if the design recognises this delivery as a repeat."""
        if self.design in ("dedupe_table", "dedupe_table_separate_tx"):
            if (yield from self.table.contains(rec.msg_id)):
                ctx.record("duplicate_skipped", rec, detail=f"{rec.msg_id} is in {PROCESSED}")
                return True
        elif self.design == "business_check":
            if (yield from self.db.read(USERS, rec.key)) == "welcomed":
                ctx.record("duplicate_skipped", rec, detail=f"{rec.key} was already welcomed")
                return True
        return False
