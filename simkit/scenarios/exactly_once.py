"""Exactly-once and its limits: consume-transform-produce with and without Kafka transactions.

Orders arrive on ``orders`` (``partitions`` partitions, about one every 25 ms). The
``invoicer`` application reads each order, sends an invoice for it to ``invoices``, emails
the customer through an outside provider, and moves its offset on. A ``ledger`` consumer
reads the invoices with ``isolation_level`` (``isolation.level``, KIP-98). The invoicer
crashes (``crash_rate`` at one of its points, ``crash_schedule``, ``kill_rate`` at random
instants; see :mod:`simkit.faults`) and comes back ``restart_delay`` ms later with a new
producer. The designs:

``"at_least_once"``
    the invoicer sends the invoice, waits for its acknowledgement, emails, then commits
    the order's offset itself (``after_processing``). A crash after the send and before
    the commit hands the order over again: a second invoice is written and read.
``"transactional"``
    the producer has a ``transactional_id``; each order is one transaction that holds the
    invoice *and* the order's offset (``send_offsets_to_transaction``), committed together
    (``KafkaProducer.sendOffsetsToTransaction`` with the consumer's group metadata, so a stale
    generation is refused, and ``commitTransaction``; KIP-98 and KIP-447).
    A crash leaves the transaction open; the restarted invoicer's ``init_transactions``
    aborts it and fences the old producer. A ``read_committed`` ledger never sees the
    aborted invoice; a ``read_uncommitted`` one does, so it reads that invoice twice.

Neither design covers the email: it is a call to a system outside Kafka, and an order
handled again after a crash between the email and the commit emails its customer again.

Crash points of the invoicer, in code-path order: ``before_process`` (nothing done yet),
``after_send`` (the invoice is on its way), ``after_email`` (the email is sent) and
``after_process`` (the handler returned; under ``"transactional"`` the transaction has
committed, under ``"at_least_once"`` the offset is not yet committed).
"""

from __future__ import annotations

from collections.abc import Generator
from dataclasses import dataclass, replace
from typing import Any

import pandas as pd
import simpy

from .. import checks
from ..broker import Broker, Record
from ..checks import Check
from ..clients import CLIENTS, ISOLATION_LEVELS
from ..commit_policies import CommitPolicy
from ..consumer import Consumer, Context
from ..distributions import exponential
from ..glossary import PERCENTILES, register
from ..groups import ConsumerGroup
from ..params import Params, choice, count, distribution, ms, positive, probability, schedule
from ..producer import Producer
from ..results import Report, RunResult
from ..services import EmailProvider
from ..trace import read_spans
from ..world import World
from ._common import DRAIN_EVERY, MAX_DRAIN_MS, latency_fields, until_drained
from .registry import scenario

__all__ = ["DESIGNS", "ExactlyOnceParams", "OffsetsInTransaction", "aborted_offsets", "aborted_reads",
           "exactly_once"]

DESIGNS: tuple[str, ...] = ("at_least_once", "transactional")
INPUT, OUTPUT = "orders", "invoices"
APP, APP_GROUP = "invoicer", "invoicing"
READER, READER_GROUP = "ledger", "ledger"
SOURCE = "shop"
TRANSACTIONAL_ID = "invoicer-0"
POINTS: tuple[str, ...] = ("before_process", "after_send", "after_email", "after_process")

register("duplicates_in_output", "messages", "input messages whose output record a downstream consumer read more "
                                             "than once")
register("aborted_read", "records", "records of aborted transactions a downstream consumer read (possible only "
                                    "with isolation_level='read_uncommitted')")
register("repeated_side_effects", "messages", "input messages whose side effect outside Kafka (an email, a "
                                              "database write) happened more than once")
register("output_records", "records", "records written to the output topic, aborted ones included (not the "
                                      "transaction markers)")
register("output_read", "records", "output records a downstream consumer read, repeats included")
register("committed_transactions", "markers", "transaction commit markers written (one per partition a "
                                              "committed transaction wrote to)")
register("aborted_transactions", "markers", "transaction abort markers written (one per partition an aborted "
                                            "transaction wrote to)")


@dataclass(frozen=True)
class ExactlyOnceParams(Params):
    """The parameters of :func:`exactly_once` (times in ms)."""

    messages: int = count(400, high=20_000, doc="orders the shop sends")
    partitions: int = count(3, high=64, doc="partitions of the input and of the output topic")
    arrival_interval: Any = distribution(exponential(25), doc="time between two orders")
    processing_time: Any = distribution(5, doc="the invoicer's own work per order, before it sends")
    network_latency: Any = distribution(1, doc="one way between the invoicer's producer and the broker")
    email_latency: Any = distribution(5, doc="one way between the invoicer and the email provider")
    crash_rate: float = probability(0.05, doc="per order handled: crash at one of the invoicer's points")
    crash_schedule: tuple = schedule(POINTS, doc="exact crashes of the invoicer as (n, point), redeliveries counted")
    kill_rate: float = positive(0.0, zero=True, high=1000.0, doc="kills of the invoicer per second of simulated "
                                                                  "time, at random instants")
    restart_delay: Any = distribution(200, doc="how long a crashed invoicer stays down")
    session_timeout: float = ms(300, strict=True, doc="how long a crashed member lingers (session.timeout.ms)")
    isolation_level: str = choice("read_committed", ISOLATION_LEVELS, doc="the ledger's isolation.level")
    max_time: float = ms(600_000, strict=True, high=MAX_DRAIN_MS, doc="the run stops here if it has not drained")
    client: str = choice("java", CLIENTS, doc="the Kafka client whose defaults the producers and consumers take")


FIELDS = ("produced", "processed", "output_records", "output_read", "duplicates_in_output", "aborted_read",
          "repeated_side_effects", "emails_sent", "lost", "crashes", "committed_transactions", "aborted_transactions",
          *(f"latency_{s}" for s in PERCENTILES), "duration", "drained")


class OffsetsInTransaction(CommitPolicy):
    """The consumer commits nothing itself: its offsets travel in the producer's transaction.

    Kafka's consume-transform-produce loop runs with ``enable.auto.commit=false`` and
    hands the offsets to ``KafkaProducer.sendOffsetsToTransaction`` (KIP-98, KIP-447),
    so they reach the group only if the transaction commits.
    """

    name = "in_transaction"


class Invoicer:
    """The consume-transform-produce handler; each new process of the invoicer gets a new producer.

    A restarted process is a new program: it builds its producer again and, if
    transactional, calls ``init_transactions`` with the same ``transactional_id``, which
    aborts what the crashed process left open and fences its producer (KIP-98). It does so
    when it handles its first order, where an application would at start-up; orders left
    uncommitted are waiting for it, so it handles one as soon as it has rejoined its group.
    """

    def __init__(self, world: World, broker: Broker, email: EmailProvider, p: ExactlyOnceParams):
        self.world = world
        self.broker = broker
        self.email = email
        self.p = p
        self.transactional = p.design == "transactional"
        self.incarnation = 0
        self.producer: Producer | None = None

    def handle(self, record: Record, ctx: Context) -> Generator[simpy.Event, Any, None]:
        """Invoice one order: send the invoice, email the customer, and (transactional) commit both offsets and
        invoice at once."""
        if ctx.consumer.incarnation != self.incarnation:  # the process started (again): a new producer
            self.incarnation = ctx.consumer.incarnation
            # a transactional id turns idempotence on, with at most 5 requests in flight, in both clients
            # (Java's ProducerConfig; librdkafka adjusts max.in.flight to 5 for transactions)
            txn: dict[str, Any] = dict(transactional_id=TRANSACTIONAL_ID, idempotent=True, max_in_flight=5) \
                if self.transactional else {}
            self.producer = Producer(self.world, self.broker, f"{APP}-producer-{self.incarnation}",
                                     client=self.p.client, latency=self.p.network_latency, **txn)
            if self.transactional:
                yield from self.producer.init_transactions()
        producer = self.producer
        assert producer is not None
        if self.transactional:
            producer.begin_transaction()
        sent = producer.send(OUTPUT, value=f"invoice for {record.value}", key=record.key, msg_id=record.msg_id)
        ctx.crash_point("after_send")
        if not self.transactional:
            yield sent  # at least once: the invoice is written before the offset is committed
        yield from self.email.send(record.key, "your invoice", msg_id=record.msg_id)
        ctx.crash_point("after_email")
        if self.transactional:
            yield from producer.send_offsets_to_transaction(
                {(record.topic, record.partition): record.offset + 1}, ctx.consumer.group_metadata())
            yield from producer.commit_transaction()


@scenario("exactly_once", designs=DESIGNS, params=ExactlyOnceParams, fields=FIELDS, lesson="17")
def exactly_once(p: ExactlyOnceParams) -> RunResult:
    """Consume orders, produce invoices and email customers while the invoicer crashes; see the module docs.

    ``design`` is one of :data:`DESIGNS`; ``isolation_level`` is the downstream ledger's;
    ``client`` (``"java"`` or ``"librdkafka"``) gives every producer and consumer that client's
    defaults (the settings the scenario spells out stay as they are).
    Report fields (see :mod:`simkit.glossary`): ``produced`` (orders), ``processed``
    (orders the invoicer finished), ``output_records`` (invoices written, aborted ones
    included), ``output_read`` (invoices the ledger read), ``duplicates_in_output``
    (orders whose invoice the ledger read more than once), ``aborted_read`` (invoices of
    aborted transactions the ledger read), ``repeated_side_effects`` (orders whose customer
    got more than one email), ``emails_sent``, ``lost`` (orders whose invoice the ledger
    never read), ``crashes`` (of the invoicer), ``committed_transactions`` and
    ``aborted_transactions`` (markers), ``latency_*`` (ms from the order to the ledger's
    first read of its invoice), ``duration`` and ``drained``. Checks:
    ``duplicates_in_output``, ``aborted_read``, ``repeated_side_effects``, ``lost``.
    """
    world = World(p.seed)
    env = world.env
    broker = Broker(world)
    broker.create_topic(INPUT, p.partitions)
    broker.create_topic(OUTPUT, p.partitions)
    shop = Producer(world, broker, SOURCE, client=p.client)
    email = EmailProvider(world, "email", latency=p.email_latency)
    invoicer = Invoicer(world, broker, email, p)
    app_group = ConsumerGroup(world, broker, APP_GROUP, session_timeout=p.session_timeout)
    app = Consumer(world, broker, APP, INPUT, invoicer.handle, client=p.client, group=app_group,
                   commit=OffsetsInTransaction if invoicer.transactional else "after_processing",
                   processing_time=p.processing_time, auto_offset_reset="earliest", crash_points=POINTS,
                   crash_rate=p.crash_rate, crash_schedule=p.crash_schedule, kill_rate=p.kill_rate,
                   restart_delay=p.restart_delay)
    ledger = Consumer(world, broker, READER, OUTPUT, client=p.client, group=READER_GROUP,
                      commit="after_processing", isolation_level=p.isolation_level, auto_offset_reset="earliest")

    sent = env.event()
    env.process(_orders(world, shop, sent, p))
    invoiced = until_drained(world, broker, app_group, [app], sent)
    done = _read_to_the_end(world, broker, ledger, invoiced)
    world.run(until=done | env.timeout(p.max_time))

    trace = world.trace.to_frame()
    events, comps = trace["event"], trace["component"]
    read = trace[(comps == READER) & (events == "processed")]
    found = {
        "duplicates_in_output": replace(checks.duplicates(read, "processed"), name="duplicates_in_output"),
        "aborted_read": aborted_reads(trace, READER),
        "repeated_side_effects": replace(checks.duplicates(trace, "email_sent"), name="repeated_side_effects"),
        "lost": checks.lost(trace[(comps == SOURCE) | (comps == READER)], "send", "processed"),
    }
    fields: dict[str, float] = dict(
        produced=int(((comps == SOURCE) & (events == "send")).sum()),
        processed=int(trace.loc[(comps == APP) & (events == "processed"), "msg_id"].nunique()),
        output_records=int(((events == "append") & (trace["topic"] == OUTPUT)).sum()),
        output_read=len(read),
        duplicates_in_output=found["duplicates_in_output"].count,
        aborted_read=found["aborted_read"].count,
        repeated_side_effects=found["repeated_side_effects"].count,
        emails_sent=int((events == "email_sent").sum()),
        lost=found["lost"].count,
        crashes=int(((comps == APP) & (events == "crash")).sum()),
        committed_transactions=int((events == "txn_commit").sum()),
        aborted_transactions=int((events == "txn_abort").sum()),
        **latency_fields(checks.latencies(trace[(comps == SOURCE) | (comps == READER)], "send", "processed")),
        duration=float(env.now),
        drained=int(done.triggered),
    )
    return RunResult("exactly_once", p.seed, p.to_dict(), Report(**fields), found, {}, world.trace)


def _orders(world: World, shop: Producer, sent: simpy.Event,
            p: ExactlyOnceParams) -> Generator[simpy.Event, Any, None]:
    """The shop: ``messages`` orders, keyed by customer, numbered from 0."""
    rng = world.rng("arrivals")
    for i in range(p.messages):
        yield world.env.timeout(p.arrival_interval.sample(rng))
        shop.produce(INPUT, value=f"order {i}", key=f"customer-{i % 40}", msg_id=i)
    sent.succeed()


def _read_to_the_end(world: World, broker: Broker, reader: Consumer, after: simpy.Event,
                     every: float = DRAIN_EVERY) -> simpy.Event:
    """An event that fires once ``after`` has and ``reader`` is idle at the end of every output partition.

    The end is the log end offset, transaction markers included: a consumer steps over
    them, and over aborted records when it reads committed, once nothing is open.
    """
    env = world.env
    done = env.event()

    def watch() -> Generator[simpy.Event, Any, None]:
        yield after
        logs = broker.log_of(OUTPUT)
        while True:
            if reader.idle and all(reader.positions.get((OUTPUT, log.partition)) == log.end_offset for log in logs):
                done.succeed()
                return
            yield env.timeout(every)

    env.process(watch())
    return done


# -- checkers: pure functions over the trace -------------------------------------------------
def aborted_offsets(trace: pd.DataFrame) -> set[tuple[str, int, int]]:
    """Every ``(topic, partition, offset)`` whose transaction aborted, read from the ``txn_abort`` rows.

    Each abort marker's row names the records it voided in that partition (see
    :meth:`simkit.broker.Broker.end_transaction`).
    """
    out: set[tuple[str, int, int]] = set()
    rows = trace[trace["event"] == "txn_abort"]
    for topic, partition, detail in zip(rows["topic"], rows["partition"], rows["detail"]):
        offsets = str(detail).rpartition(" at ")[2]
        out.update((topic, int(partition), o) for o in read_spans(offsets))
    return out


def aborted_reads(trace: pd.DataFrame, reader: str) -> Check:
    """Records of aborted transactions that consumer ``reader`` handled (its ``processed`` rows)."""
    void = aborted_offsets(trace)
    rows = trace[(trace["component"] == reader) & (trace["event"] == "processed")]
    hits = [m for t, part, off, m in zip(rows["topic"], rows["partition"], rows["offset"], rows["msg_id"])
            if (t, int(part), int(off)) in void]
    return Check("aborted_read", len(hits), tuple(hits[:checks.EXAMPLES]),
                 f"records of aborted transactions {reader} read")
