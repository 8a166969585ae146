"""Business facts or row changes: what a consumer can react to.

An order service moves each order through three states in its own database table,
``placed`` then ``paid`` then ``shipped``; every step is one committed transaction.
A notifications service must react to two of those steps: send a **receipt** when an
order is paid, and a **tracking e-mail** when it is shipped. The two designs differ
only in *what* reaches the broker; both capture changes with a poller that runs every
``poll_interval`` ms and publishes through the same producer:

``"row_changes"``
    CRUD events. A change-capture process polls the orders table for rows whose
    version moved since its last poll and publishes each such row's *current* state as
    an ``OrderRowChanged`` record (this is query-based capture, as a JDBC source
    connector in timestamp or incrementing mode does it). The consumer keeps the last
    state it saw per order and infers what happened by diffing: ``old -> paid`` sends
    the receipt, ``old -> shipped`` the tracking e-mail. A row that changed twice
    between two polls is published once, in its later state: the consumer sees
    ``placed -> shipped``, the ``paid`` step never reaches it, and no receipt is sent.
    Nobody draws that loss: it happens whenever an order stays ``paid`` for less
    time than is left until the next poll.
``"business_facts"``
    the service writes one fact per step (``OrderPlaced``, ``PaymentCaptured``,
    ``OrderShipped``) to the outbox, committed together with the state change,
    and a :class:`~simkit.Relay` with the same ``poll_interval`` publishes them. A fact
    is appended, never overwritten, so two steps between two polls are two records;
    the consumer reacts to the fact's type (``PaymentCaptured`` sends the receipt).

Both designs see the same orders, the same payment and shipping times (streams
``orders/payment`` and ``orders/shipping``) and the same poll interval. The truth about
what happened is the order service's own trace rows (``order_placed``,
``payment_captured``, ``order_shipped``); :func:`missed_reactions` compares the
consumer's ``receipt_sent`` / ``tracking_sent`` rows with them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Generator

import pandas as pd
import simpy

from ..broker import Broker
from ..checks import EXAMPLES, Check
from ..consumer import Consumer, Context
from ..database import Database
from ..distributions import lognormal, uniform
from ..errors import ClientError
from ..glossary import PERCENTILES, register
from ..outbox import Outbox, Relay
from ..params import Params, check_steps, count, distribution, ms, positive
from ..producer import Producer
from ..results import Report, RunResult
from ..world import World
from ._common import client_param, latency_fields, until_drained
from .registry import scenario

__all__ = [
    "DESIGNS", "FIELDS", "REACTIONS", "STEPS", "FactsVsCrudParams", "OrderService", "RowPoller", "facts_vs_crud",
    "missed_reactions", "order_life", "order_steps", "orders_placed",
]

DESIGNS: tuple[str, ...] = ("row_changes", "business_facts")

#: the order service's steps: (status the row gets, trace row of the truth, the fact the facts design publishes)
STEPS: tuple[tuple[str, str, str], ...] = (
    ("placed", "order_placed", "OrderPlaced"),
    ("paid", "payment_captured", "PaymentCaptured"),
    ("shipped", "order_shipped", "OrderShipped"),
)

#: what the notifications service does when it learns of a step: status -> its trace row
REACTIONS: dict[str, str] = {"paid": "receipt_sent", "shipped": "tracking_sent"}

ORDERS = "orders.orders"
OUTBOX = "orders.outbox"
ROWS_TOPIC = "orders.row_changes"
FACTS_TOPIC = "orders.facts"
_TRUTH = {status: truth for status, truth, _ in STEPS}
_FACT_STATUS = {fact: status for status, _, fact in STEPS}



@dataclass(frozen=True)
class FactsVsCrudParams(Params):
    """The parameters of :func:`facts_vs_crud` (times in ms)."""

    orders: int = count(200, high=100_000, doc="orders placed")
    arrival_rate: float = positive(0.02, high=10.0, doc="orders per ms (0.02 is 20 a second)")
    payment_time: Any = distribution(lognormal(median=400, p99=4000), doc="from placed to paid, per order")
    shipping_time: Any = distribution(lognormal(median=800, p99=8000), doc="from paid to shipped, per order")
    poll_interval: float = ms(500, strict=True, doc="the capture (row poller or outbox relay) polls this often")
    db_latency: Any = distribution(2, doc="each database read and commit")
    network_latency: Any = distribution(uniform(1, 3), doc="each way to the broker")
    partitions: int = count(3, high=64, doc="partitions of the capture's topic, keyed by order id")
    max_time: float = ms(600_000, strict=True, doc="the run stops here even if work is left")
    client: str = client_param()

    def check(self) -> None:
        check_steps("poll_interval", self.poll_interval, self.max_time)


FIELDS = (
    "orders", "payments", "shipments", "published", "unseen_steps", "receipts_sent", "tracking_sent",
    "missed_receipts", "missed_tracking", "missed", *(f"reaction_{s}" for s in PERCENTILES), "duration",
)
register("payments", "steps", "orders that were paid (the order service's own rows)")
register("shipments", "steps", "orders that were shipped (the order service's own rows)")
register("unseen_steps", "steps", "steps of an order that never reached the consumer")
register("receipts_sent", "emails", "receipts the notifications service sent")
register("tracking_sent", "emails", "tracking e-mails the notifications service sent")
register("missed_receipts", "orders", "paid orders whose receipt was never sent")
register("missed_tracking", "orders", "shipped orders whose tracking e-mail was never sent")
register("missed", "reactions", "reactions never triggered: missed receipts plus missed tracking e-mails")


class RowPoller:
    """Query-based change capture: publish the current state of every row that changed since the last poll.

    Every ``poll_interval`` ms (after the previous poll's records were acknowledged)
    it reads ``table``, takes each row whose ``version`` is higher than the version it
    last published for that key (a ``poll`` trace row says how many), writes a
    ``row_read`` trace row for each and publishes the row as it was read. What a row
    went through between two polls is not in the table any more, so it is not in the
    stream either.
    """

    def __init__(self, world: World, db: Database, table: str, producer: Producer, topic: str,
                 poll_interval: float, name: str = "change-capture"):
        self.world = world
        self.db = db
        self.table = table
        self.producer = producer
        self.topic = topic
        self.poll_interval = poll_interval
        self.name = world.claim_name(name)
        self.published: dict[Any, int] = {}
        self.process = world.env.process(self._run())

    def pending(self) -> int:
        """Rows whose latest version has not been published yet."""
        return sum(1 for key, row in self.db.table(self.table).items() if row["version"] > self.published.get(key, 0))

    def _run(self) -> Generator[simpy.Event, Any, None]:
        env = self.world.env
        while True:
            changed = [(key, dict(row)) for key, row in self.db.scan(self.table)
                       if row["version"] > self.published.get(key, 0)]
            self.world.record(self.name, "poll", detail=f"{len(changed)} changed rows")
            for key, row in changed:
                self.world.record(self.name, "row_read", key=key, msg_id=key,
                                  detail=f"status {row['status']} (version {row['version']})")
                try:
                    yield self.producer.send(self.topic, row, key=key, msg_id=key)
                except ClientError:  # the producer wrote send_failed; the row is read again at the next poll
                    continue
                self.published[key] = row["version"]
            yield env.timeout(self.poll_interval)


@scenario("facts_vs_crud", designs=DESIGNS, params=FactsVsCrudParams, fields=FIELDS, lesson="10",
          legacy_positional=("design", "seed"))
def facts_vs_crud(p: FactsVsCrudParams) -> RunResult:
    """Run ``orders`` orders through the order service and one capture ``design`` (module docs); times in ms.

    Orders arrive as a Poisson stream of ``arrival_rate`` per ms. Each is paid
    ``payment_time`` ms after it is placed and shipped ``shipping_time`` ms after it is
    paid (both drawn per order, the same in every design). The capture (the row poller
    or the outbox relay) polls every ``poll_interval`` ms and publishes to a topic of
    ``partitions`` partitions keyed by order id; the notifications consumer commits
    after processing. The run ends when every order is shipped and every record is
    handled (or at ``max_time``).

    Report fields (see :mod:`simkit.glossary`): ``orders``, ``payments``, ``shipments``
    (steps that happened), ``published`` (records the capture appended),
    ``unseen_steps`` (steps of an order that never reached the consumer),
    ``receipts_sent``, ``tracking_sent``, ``missed_receipts``, ``missed_tracking``,
    ``missed`` (both), ``reaction_*`` (ms from a step to its reaction) and
    ``duration`` (ms). Checks:
    ``missed_receipts``, ``missed_tracking``. Series: ``orders`` (one row per order:
    when each step happened, ``paid_for`` = ms it stayed paid, which statuses the
    stream carried, and whether its receipt was sent).
    """
    # build: the broker, the orders database, one producer, the capture's topic
    world = World(p.seed)
    env = world.env
    broker = Broker(world)
    db = Database(world, "orders-db", read_latency=p.db_latency, commit_latency=p.db_latency)
    db.create_table(ORDERS)
    producer = Producer(world, broker, "producer", client=p.client, latency=p.network_latency)
    topic = ROWS_TOPIC if p.design == "row_changes" else FACTS_TOPIC
    broker.create_topic(topic, p.partitions)

    # wire the design: a row poller and a diffing consumer, or an outbox, its relay and a fact reactor
    service = OrderService(world, db, topic)
    if p.design == "row_changes":
        service.poller = RowPoller(world, db, ORDERS, producer, topic, p.poll_interval)
        handler: Any = _RowDiffer()
    else:
        service.outbox = Outbox(db, OUTBOX)
        Relay(world, service.outbox, producer, poll_interval=p.poll_interval, batch_size=50)
        handler = _FactReactor()
    consumer = Consumer(world, broker, "notifications", topic, handler, client=p.client, commit="after_processing",
                        auto_offset_reset="earliest", fetch_latency=p.network_latency)

    # run
    captured = env.process(orders_placed(world, service, p))
    world.run(until=until_drained(world, broker, consumer.group, [consumer], captured) | env.timeout(p.max_time))

    # check: everything below reads the trace
    trace = world.trace.to_frame()
    table = order_steps(trace)
    found = missed_reactions(trace)
    ev = trace["event"]
    fields: dict[str, float] = dict(
        orders=int(len(table)),
        payments=int((ev == "payment_captured").sum()),
        shipments=int((ev == "order_shipped").sum()),
        published=int(((ev == "append") & (trace["topic"] == topic)).sum()),
        unseen_steps=int(table["unseen_steps"].sum()),
        receipts_sent=int((ev == "receipt_sent").sum()),
        tracking_sent=int((ev == "tracking_sent").sum()),
        missed_receipts=found["missed_receipts"].count,
        missed_tracking=found["missed_tracking"].count,
        missed=found["missed_receipts"].count + found["missed_tracking"].count,
        **latency_fields(_reaction_delays(trace), "reaction"),
        duration=float(env.now),
    )
    return RunResult("facts_vs_crud", p.seed, p.to_dict(), Report(**fields), found, {"orders": table}, world.trace)


class OrderService:
    """The order service: moves each order through its steps, one committed transaction per step.

    In ``"business_facts"`` each step's transaction also writes the step's fact to the
    ``outbox``; in ``"row_changes"`` the ``poller`` reads the table on its own.
    """

    def __init__(self, world: World, db: Database, topic: str):
        self.world = world
        self.db = db
        self.topic = topic
        self.outbox: Outbox | None = None
        self.poller: RowPoller | None = None

    def step(self, order_id: str, version: int, status: str, truth: str,
             fact: str) -> Generator[simpy.Event, Any, None]:
        """Commit the order's new ``status`` (with its fact in the outbox, if any), then record the truth."""
        tx = self.db.transaction(owner="orders", msg_id=order_id)
        tx.put(ORDERS, order_id, {"status": status, "version": version})
        if self.outbox is not None:
            self.outbox.add(tx, order_id, self.topic, key=order_id, payload={"fact": fact, "order": order_id})
        yield from tx.commit()
        self.world.record("orders", truth, key=order_id, msg_id=order_id, detail=f"status {status}")

    def uncaptured(self) -> int:
        """Committed steps the capture has not published yet."""
        return self.poller.pending() if self.poller is not None else self.outbox.lag()  # type: ignore[union-attr]


def order_life(world: World, service: OrderService, order_id: str, paid_after: float,
               shipped_after: float) -> Generator[simpy.Event, Any, None]:
    """One order: placed, paid ``paid_after`` ms later, shipped ``shipped_after`` ms after that."""
    waits = (0.0, paid_after, shipped_after)
    for version, ((status, truth, fact), wait) in enumerate(zip(STEPS, waits), start=1):
        if wait:
            yield world.env.timeout(wait)
        yield from service.step(order_id, version, status, truth, fact)


def orders_placed(world: World, service: OrderService, p: FactsVsCrudParams) -> Generator[simpy.Event, Any, None]:
    """The customers: ``orders`` orders as a Poisson stream; done when the capture has published every step."""
    env = world.env
    rng = world.rng("arrivals")
    pay_rng = world.rng("orders/payment")
    ship_rng = world.rng("orders/shipping")
    life: list[simpy.Process] = []
    for i in range(p.orders):
        yield env.timeout(rng.expovariate(p.arrival_rate))
        life.append(env.process(order_life(world, service, f"order-{i}", p.payment_time.sample(pay_rng),
                                           p.shipping_time.sample(ship_rng))))
    yield env.all_of(life)
    # every step is committed: wait until the capture has published the last of it
    while service.uncaptured():
        yield env.timeout(p.poll_interval / 4)


# -- the notifications service: two handlers ---------------------------------------------------
class _RowDiffer:
    """Reacts to row states: keeps the last status seen per order and acts on the difference."""

    def __init__(self) -> None:
        self.last: dict[Any, str] = {}

    def __call__(self, record: Any, ctx: Context) -> None:
        row = record.value
        old, new = self.last.get(record.key, "none"), row["status"]
        self.last[record.key] = new
        ctx.record("row_diff", record, detail=f"{old} -> {new}")
        if new != old and new in REACTIONS:  # the only transition a row state can show: old -> new
            ctx.record(REACTIONS[new], record, detail=f"inferred from {old} -> {new}")


class _FactReactor:
    """Reacts to facts: each record says what happened, so the reaction is keyed on its type."""

    def __call__(self, record: Any, ctx: Context) -> None:
        fact = record.value["fact"]
        status = _FACT_STATUS[fact]
        ctx.record("fact_received", record, detail=fact)
        if status in REACTIONS:
            ctx.record(REACTIONS[status], record, detail=f"on {fact}")


# -- checkers: pure functions over the trace -------------------------------------------------------
def _first(trace: pd.DataFrame, event: str, component: str | None = None) -> pd.Series:
    rows = trace[trace["event"] == event]
    if component is not None:
        rows = rows[rows["component"] == component]
    return rows.drop_duplicates("msg_id").set_index("msg_id")["time"]


def missed_reactions(trace: pd.DataFrame) -> dict[str, Check]:
    """Steps that happened (the order service's rows) with no reaction from the notifications service.

    ``missed_receipts``: orders with a ``payment_captured`` row and no ``receipt_sent``;
    ``missed_tracking``: orders with an ``order_shipped`` row and no ``tracking_sent``.
    """
    out: dict[str, Check] = {}
    for status, name, what in (("paid", "missed_receipts", "paid orders without a receipt"),
                               ("shipped", "missed_tracking", "shipped orders without a tracking e-mail")):
        happened = _first(trace, _TRUTH[status], "orders")
        reacted = set(trace.loc[trace["event"] == REACTIONS[status], "msg_id"])
        missed = [o for o in happened.index if o not in reacted]
        out[name] = Check(name, len(missed), tuple(missed[:EXAMPLES]), f"{len(missed)} of {len(happened)} {what}")
    return out


def order_steps(trace: pd.DataFrame) -> pd.DataFrame:
    """One row per order: when it was placed, paid and shipped (ms), how long it stayed paid, what the stream carried.

    ``seen`` lists the statuses that reached the consumer (its ``row_diff`` rows in the
    row design, its ``fact_received`` rows in the facts design); ``unseen_steps``
    counts the steps that happened and never reached it;
    ``receipt`` says whether the receipt was sent.
    """
    times = {status: _first(trace, truth, "orders") for status, truth, _ in STEPS}
    index = pd.Index(times["placed"].index, name="order")
    table = pd.DataFrame({f"{s}_at": t.reindex(index) for s, t in times.items()}, index=index)
    table["paid_for"] = table["shipped_at"] - table["paid_at"]
    carried = _carried(trace)
    table["seen"] = [" -> ".join(carried.get(o, [])) for o in index]
    happened = {s: table[f"{s}_at"].notna().to_numpy() for s in times}
    table["unseen_steps"] = [sum(1 for s in times if happened[s][i] and s not in carried.get(o, ()))
                             for i, o in enumerate(index)]
    receipts = set(trace.loc[trace["event"] == "receipt_sent", "msg_id"])
    table["receipt"] = [o in receipts for o in index]
    return table


def _carried(trace: pd.DataFrame) -> dict[Any, list[str]]:
    """Per order, the statuses the consumer learned of, in order (its ``row_diff`` and ``fact_received`` rows)."""
    out: dict[Any, list[str]] = {}
    rows = trace[trace["event"].isin(["row_diff", "fact_received"])]
    for mid, event, detail in zip(rows["msg_id"], rows["event"], rows["detail"]):
        status = str(detail).split(" -> ")[-1] if event == "row_diff" else _FACT_STATUS[str(detail)]
        seen = out.setdefault(mid, [])
        if status not in seen:
            seen.append(status)
    return out


def _reaction_delays(trace: pd.DataFrame) -> pd.Series:
    parts = []
    for status, reaction in REACTIONS.items():
        happened = _first(trace, _TRUTH[status], "orders")
        reacted = _first(trace, reaction)
        both = reacted.index.intersection(happened.index)
        parts.append(reacted[both] - happened[both])
    return pd.concat(parts) if parts else pd.Series(dtype=float)
