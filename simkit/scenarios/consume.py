"""When does a consumer say "done"? Commit policies under consumer crashes.

A producer writes ``messages`` sign-up events; a consumer group handles each one with
a handler whose side effect (say, sending the welcome email) is one ``side_effect``
row in the trace. The consumers crash now and then, restart, rejoin the group and
carry on from the group's *committed* offset. Whatever was committed but never
handled is lost; whatever was handled but not committed is handled again. Which of
the two a design risks follows only from *when* it commits:

======================  ================================================================
``"auto"``              librdkafka's auto commit: offsets are stored as records are handed
                        over and a timer commits them every ``auto_commit_interval`` ms,
                        done or not. A crash after the timer and before the work: lost.
``"auto_on_poll"``      the Java client's auto commit, inside ``poll()``: it commits what
                        earlier polls returned. Processing each batch before polling again
                        makes that safe: a crash repeats, never loses.
``"auto_on_poll_pool"`` the same, but the poll loop hands records to a pool of ``workers``
                        and polls on at once, so the commit covers records still waiting
                        in the pool. A crash loses them.
``"before_processing"`` commit the batch, then handle it: at most once.
``"after_processing"``  handle a record, then commit it: at least once (the fix for loss;
                        a crash in between repeats the record), at one synchronous commit
                        per record.
``"store_offsets"``     librdkafka's at-least-once idiom: the handler stores the record's
                        offset once its work is done, and the timer commits what was
                        stored. Nothing is lost; what was done since the last tick comes
                        again after a crash, and the commits are one per tick, not one per
                        record.
======================  ================================================================

Why the defaults are what they are. Records arrive about every 5 ms and each takes
10 ms to handle, so a backlog forms and every poll returns a full batch of
``max_poll_records=20`` records (200 ms of work). ``"auto"`` stores the offsets of the
whole batch the moment it is handed over (librdkafka's ``enable.auto.offset.store=true``
stores the offset of every message it returns to the application, so
confluent-kafka's ``consume(num_messages=20)`` stores all twenty at once). The timer
fires every 100 ms, so a tick falls inside every batch and commits all of it: from
that tick to the end of the batch, the rest of the batch is committed and not yet
handled. That window, not half a batch at every moment, is where a crash loses
records: a crash at a random record of a batch loses 2 to 3 of its 20 records on
average (2.3 per crash over seeds 0 to 4 of the default run), and a few crashes
among a few hundred messages (``crash_rate`` 0.01 to 0.05) show as tens of lost
records. Kafka's own defaults (500 records a poll, 5 s interval) have the same
windows, only too long to watch. A crashed consumer's membership lingers until ``session_timeout=300`` ms pass
(``session.timeout.ms``, 45 s in Kafka, shortened so a run takes seconds of simulated
time); it comes back after ``restart_delay=500`` ms, once the group has let the old
membership go, so a restart never rebalances a member in the middle of a batch and
every anomaly traces back to one crash and one commit policy.

The run ends when every record is sent, the group has committed up to the end of
every partition (Kafka's consumer lag is zero) and every consumer waits idle for
more, or at ``max_time`` ms, whichever comes first (``drained`` says which).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Generator

import pandas as pd
import simpy

from .. import checks
from ..broker import Broker, Record
from ..checks import Check
from ..consumer import BUILTIN_POINTS, Consumer, Context
from ..distributions import exponential
from ..glossary import PERCENTILES
from ..groups import ConsumerGroup
from ..params import Params, check_steps, count, distribution, ms, probability, schedule
from ..producer import Producer
from ..results import Report, RunResult
from ..world import World
from ._common import MAX_DRAIN_MS, client_param, latency_fields, until_drained
from .registry import scenario

__all__ = [
    "DESIGNS", "ConsumeParams", "consume", "send_welcome_email", "send_welcome_email_then_store", "signups",
    "welcome_checks",
]

DESIGNS: tuple[str, ...] = ("auto", "auto_on_poll", "auto_on_poll_pool", "before_processing", "after_processing",
                            "store_offsets")

TOPIC = "signups"
GROUP = "welcome"


@dataclass(frozen=True)
class ConsumeParams(Params):
    """The parameters of :func:`consume` (times in ms)."""

    crash_rate: float = probability(0.03, doc="per record handled: crash at one of the consumer's points")
    messages: int = count(300, high=100_000, doc="sign-up events the producer sends")
    partitions: int = count(1, high=64, doc="partitions of the topic")
    consumers: int = count(1, high=64, doc="members of the consumer group")
    workers: int = count(4, high=64, doc="the worker pool of auto_on_poll_pool (ignored by the others)")
    arrival_interval: Any = distribution(exponential(5), doc="time between two sends")
    processing_time: Any = distribution(10, doc="the handler's work per record")
    commit_latency: Any = distribution(0, doc="one commit's round trip to the group coordinator")
    max_poll_records: int = count(20, high=10_000, doc="records one poll returns at most (max.poll.records)")
    auto_commit_interval: float = ms(100, strict=True, doc="the auto-commit timer (auto.commit.interval.ms)")
    session_timeout: float = ms(300, strict=True, doc="how long a crashed member lingers (session.timeout.ms)")
    restart_delay: Any = distribution(500, doc="a crashed consumer's restart")
    crash_schedule: tuple = schedule(BUILTIN_POINTS, doc="exact crashes of consumer-0 as (n, point)")
    max_time: float = ms(600_000, strict=True, high=MAX_DRAIN_MS, doc="the run stops here if the group has not drained")
    client: str = client_param()

    def check(self) -> None:
        # the auto-commit timer ticks until the run ends, at max_time at the latest
        check_steps("auto_commit_interval", self.auto_commit_interval, self.max_time)


FIELDS = ("produced", "processed", "lost", "duplicates", "extra_copies", "crashes", "commits",
          *(f"latency_{s}" for s in PERCENTILES), "duration", "drained")


@scenario("consume", designs=DESIGNS, params=ConsumeParams, fields=FIELDS, lesson="04",
          renamed={"commit": "design"}, legacy_positional=("design", "crash_rate", "messages", "seed"))
def consume(p: ConsumeParams) -> RunResult:
    """Run ``messages`` records through a crashing consumer group that commits by ``design``.

    ``design`` is one of :data:`DESIGNS` (the old keyword ``commit=`` still works, with a
    warning). ``crash_rate`` is the chance that a consumer crashes while handling a
    record, at one of its crash points (``before_process``: handed the record, not
    started; ``after_process``: done, not yet committed). ``crash_schedule`` (pairs
    ``(n, point)``) crashes ``consumer-0`` exactly while it handles its ``n``-th record.
    ``workers`` is used by ``"auto_on_poll_pool"`` only. ``commit_latency`` (ms) is what
    each commit waits for the coordinator's answer: a synchronous commit holds up the
    poll loop that long, the timer's asynchronous commits do not. ``arrival_interval`` (ms between
    sends) is exponential with mean 5 ms unless given.

    Report fields (see :mod:`simkit.glossary`): ``produced``, ``processed`` (records
    whose side effect happened at least once), ``lost`` (records never handled),
    ``duplicates`` (records handled more than once), ``extra_copies`` (side effects
    beyond the first), ``crashes``, ``commits``, ``latency_*`` (ms from send to the first
    side effect), ``duration`` (ms) and ``drained`` (1 if the run ended with zero lag, 0
    if ``max_time`` stopped it). Checks: ``lost`` and ``duplicates``, with example ids.
    """
    # build: a broker, a producer, the group and its members
    world = World(p.seed)
    env = world.env
    broker = Broker(world)
    broker.create_topic(TOPIC, p.partitions)
    producer = Producer(world, broker, "producer", client=p.client)
    group = ConsumerGroup(world, broker, GROUP, session_timeout=p.session_timeout)

    # wire the design: the pool variant is the Java auto commit with workers behind the poll loop
    pool = p.design == "auto_on_poll_pool"
    handler = send_welcome_email_then_store if p.design == "store_offsets" else send_welcome_email
    members = [
        Consumer(world, broker, f"consumer-{i}", TOPIC, handler, client=p.client, group=group,
                 commit="auto_on_poll" if pool else p.design, workers=p.workers if pool else None,
                 max_poll_records=p.max_poll_records, processing_time=p.processing_time,
                 commit_latency=p.commit_latency,
                 auto_commit_interval=p.auto_commit_interval, auto_offset_reset="earliest",
                 crash_rate=p.crash_rate, crash_schedule=p.crash_schedule if i == 0 else (),
                 restart_delay=p.restart_delay)
        for i in range(p.consumers)
    ]

    # run: until the group has drained everything sent, or max_time
    sent = env.event()
    env.process(signups(world, producer, sent, p))
    drained = until_drained(world, broker, group, members, sent)
    world.run(until=drained | env.timeout(p.max_time))

    # check: everything below reads the trace
    trace = world.trace.to_frame()
    found, fields = welcome_checks(trace)
    fields.update(crashes=int((trace["event"] == "crash").sum()), duration=float(env.now),
                  drained=int(drained.triggered))
    return RunResult("consume", p.seed, p.to_dict(), Report(**fields), found, {}, world.trace)


def welcome_checks(trace: pd.DataFrame) -> tuple[dict[str, Check], dict[str, float]]:
    """The checks of a welcome-email run and the report fields they give, from its trace alone.

    Shared by this scenario and the live lab (:func:`simkit.live.consume`): ``lost`` and ``duplicates``
    over the ``side_effect`` rows, ``produced``, ``processed``, ``extra_copies``, ``commits`` and
    ``latency_*`` (send to the side effect, ms).
    """
    found = {"lost": checks.lost(trace, delivered="side_effect"), "duplicates": checks.duplicates(trace, "side_effect")}
    lat = checks.latencies(trace, "send", "side_effect")
    events = trace["event"]
    fields: dict[str, float] = dict(
        produced=int(trace.loc[events == "send", "msg_id"].nunique()),
        processed=int(lat.size),
        lost=found["lost"].count,
        duplicates=found["duplicates"].count,
        extra_copies=int((events == "side_effect").sum()) - int(lat.size),
        commits=int((events == "commit").sum()),
        **latency_fields(lat),
    )
    return found, fields


def signups(world: World, producer: Producer, sent: simpy.Event,
            p: ConsumeParams) -> Generator[simpy.Event, Any, None]:
    """The sign-ups: ``messages`` ``UserSignedUp`` events, keyed by user, ``arrival_interval`` apart."""
    rng = world.rng("arrivals")
    for i in range(p.messages):
        yield world.env.timeout(p.arrival_interval.sample(rng))
        producer.send(TOPIC, value="UserSignedUp", key=f"user-{i}", msg_id=i)
    sent.succeed()


def send_welcome_email(record: Record, ctx: Context) -> None:
    """The handler: its side effect (the welcome email) is one ``side_effect`` row in the trace."""
    ctx.record("side_effect", record, detail="welcome email")


def send_welcome_email_then_store(record: Record, ctx: Context) -> None:
    """The ``"store_offsets"`` handler: send the email, then store the offset (librdkafka's ``store_offsets``)."""
    send_welcome_email(record, ctx)
    ctx.store_offsets(record)
