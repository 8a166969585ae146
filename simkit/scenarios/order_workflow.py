"""Workflows, not rollbacks: an order that touches a payment provider and a carrier.

Placing an order takes three steps: reserve the stock (our own database), have the
payment provider authorize the card (an external system), and have the carrier create
a shipping label (another external system). Things go wrong for reasons, never by
dice on outcomes:

* the provider **declines** a card when the order's amount is over the customer's card
  limit (both drawn once per order and customer from the streams ``orders/amounts``
  and ``customers/cards``, the same for every design);
* a provider or carrier call **times out** when its work (drawn per order from
  ``payment-provider/latency`` and ``carrier/latency``) plus the network takes longer
  than ``payment_timeout`` or ``carrier_timeout``. A timeout is an *indefinite*
  failure: the provider goes on and may charge the card after the shop gave up;
* the carrier is **down** during ``carrier_outages`` windows and refuses every call.

The provider and the carrier honour an idempotency key (the order id, as payment
APIs do): asking twice for the same order returns the first answer instead of
charging twice or printing two labels, and they handle one order's requests one at
a time. A charge can be refunded and a label voided, each by a separate business
call; neither can be "rolled back".

``"rollback"``
    the one-transaction illusion: open a database transaction, write the order and
    the reservation, call the provider, call the carrier, commit. On any failure roll
    the transaction back. The database forgets the order, but the outside world does
    not: a charge that went through after a timeout, or before the carrier failed,
    stays. The only event anyone else hears is a CRUD ``OrderUpdated`` for the rows
    that committed, which says nothing about the charge left behind.
``"saga"``
    the order is a workflow of business facts (``OrderPlaced``, ``InventoryReserved``,
    ``PaymentAuthorized`` / ``PaymentDeclined`` / ``PaymentTimedOut``, ``LabelCreated``
    / ``ShippingFailed``, ...), each committed by the boundary that owns it, and each
    fact has a business reaction: a decline releases the stock and contacts the
    customer; a timeout is *reconciled* by asking the provider what happened; a carrier
    that stays down past ``shipping_deadline`` cancels the order: refund the charge,
    release the stock, tell the customer, void any label.

The report counts orders per business state (:data:`STATES`) and the orders whose
outside-world facts (the provider's and carrier's own trace rows) disagree with their
state: :func:`inconsistent_orders`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Generator

import numpy as np
import pandas as pd
import simpy

from ..checks import EXAMPLES, Check
from ..database import Database
from ..distributions import lognormal
from ..errors import ClientError, ConfigError, RequestTimeout
from ..glossary import PERCENTILES, register
from ..network import Link, call
from ..params import Params, check_steps, check_window, count, distribution, ms, positive
from ..results import Report, RunResult
from ..services import Carrier, PaymentProvider
from ..world import World
from ._common import latency_fields
from .registry import scenario

__all__ = [
    "DESIGNS", "FIELDS", "STATES", "Order", "OrderWorkflowParams", "Shop", "inconsistent_orders", "order_arrivals",
    "order_states", "order_workflow",
]

DESIGNS: tuple[str, ...] = ("rollback", "saga")

#: the business states an order can end in; ``open`` means it had not ended when the run stopped
STATES: tuple[str, ...] = ("completed", "declined_customer_contacted", "cancelled", "rolled_back", "open")

#: the trace row that closes an order, and the state it means
FINAL_EVENTS: dict[str, str] = {
    "OrderCompleted": "completed",     # saga: paid and labelled
    "OrderOnHold": "declined_customer_contacted",  # saga: declined, stock released, customer asked
    "OrderCancelled": "cancelled",     # saga: could not ship, refunded, voided, customer told
    "OrderUpdated": "completed",       # rollback: the only rows that ever commit are completed orders
    "rolled_back": "rolled_back",      # rollback: the transaction was rolled back
}

ORDERS = "orders.orders"
RESERVATIONS = "inventory.reservations"
CONTACTS = "notifications.contacts"


#: the most outage windows one run may have
MAX_WINDOWS = 1000


def check_windows(param: str, value: Any) -> tuple[tuple[float, float], ...]:
    """A list of ``(start, duration)`` windows in ms, each as :func:`~simkit.params.check_window` allows."""
    if isinstance(value, (str, bytes)):
        raise ConfigError(param, value, "a list of (start, duration) windows in ms")
    try:
        items = list(value)
    except TypeError:
        raise ConfigError(param, value, "a list of (start, duration) windows in ms") from None
    if len(items) > MAX_WINDOWS or any(w is None for w in items):
        raise ConfigError(param, value, f"at most {MAX_WINDOWS} (start, duration) windows in ms")
    return tuple(check_window(param, w) for w in items)  # type: ignore[misc]


@dataclass(frozen=True)
class OrderWorkflowParams(Params):
    """The parameters of :func:`order_workflow` (times in ms)."""

    orders: int = count(200, high=100_000, doc="orders placed")
    arrival_rate: float = positive(0.02, high=10.0, doc="orders per ms (0.02 is 20 a second)")
    customers: int = count(100, high=100_000, doc="customers placing them; one in ten has a low card limit")
    payment_latency: Any = distribution(lognormal(median=150, p99=1500), doc="the provider's own work per call")
    payment_timeout: float = ms(1000, strict=True, doc="the shop gives up on a provider call after this")
    carrier_latency: Any = distribution(lognormal(median=100, p99=1200), doc="the carrier's own work per call")
    carrier_timeout: float = ms(1000, strict=True, doc="the shop gives up on a carrier call after this")
    carrier_outages: tuple = field(default=((4000, 3000),), metadata={
        "check": check_windows, "doc": "(start, duration) windows in which the carrier refuses every call"})
    network_latency: Any = distribution(5, doc="each way to the provider and the carrier")
    db_latency: Any = distribution(2, doc="each database read and commit")
    shipping_deadline: float = ms(2000, doc="saga: label calls are retried for this long after the payment")
    retry_backoff: float = ms(250, strict=True, doc="saga: between label calls, and between compensating calls")
    reconcile_delay: float = ms(500, strict=True, doc="saga: between questions to the provider after a timeout")
    max_time: float = ms(120_000, strict=True, doc="the run stops here; orders still at work count as open")

    def check(self) -> None:
        check_steps("retry_backoff", self.retry_backoff, self.max_time)
        check_steps("reconcile_delay", self.reconcile_delay, self.max_time)


FIELDS = (
    "orders", *STATES, "inconsistent", "charged_no_shipment", "shipped_no_charge", "orphan_labels", "charges",
    "declines", "refunds", "labels", "voided_labels", "payment_timeouts", "carrier_failures", "reconciled",
    "customers_contacted", *(f"latency_{s}" for s in PERCENTILES), "duration",
)
register("completed", "orders", "orders that ended paid and labelled")
register("declined_customer_contacted", "orders", "orders on hold: card declined, stock released, customer asked")
register("cancelled", "orders", "orders cancelled after they could not ship: refunded, label voided, customer told")
register("rolled_back", "orders", "orders whose database transaction was rolled back")
register("open", "orders", "orders whose workflow had not ended when the run stopped")
register("charged_no_shipment", "orders", "ended orders with a standing charge and no completed shipment")
register("shipped_no_charge", "orders", "ended orders with a live label and no standing charge")
register("orphan_labels", "labels", "live labels of orders that will not ship")
register("charges", "charges", "cards the payment provider charged")
register("declines", "payments", "payments the provider declined")
register("refunds", "refunds", "charges the provider refunded")
register("labels", "labels", "shipping labels the carrier created")
register("voided_labels", "labels", "labels the carrier voided")
register("payment_timeouts", "calls", "payment provider calls the shop gave up on")
register("carrier_failures", "calls", "label calls that failed or timed out")
register("reconciled", "orders", "timed-out payments settled by asking the provider what it did")
register("customers_contacted", "contacts", "times the shop told a customer about their order")


@scenario("order_workflow", designs=DESIGNS, params=OrderWorkflowParams, fields=FIELDS, lesson="10",
          legacy_positional=("design", "seed"))
def order_workflow(p: OrderWorkflowParams) -> RunResult:
    """Run ``orders`` orders through one ``design`` (see the module docs); times in ms.

    Orders arrive as a Poisson stream of ``arrival_rate`` per ms from ``customers``
    customers; amounts are uniform from 10 to 400, and one customer in ten has a card
    limit of 100 (the rest 5000), so some orders are declined. ``payment_latency`` and
    ``carrier_latency`` are the external systems' own working times; calls add
    ``network_latency`` each way and give up after ``payment_timeout`` /
    ``carrier_timeout``. ``carrier_outages`` is a list of ``(start, duration)``
    windows. Saga only: a failed label call is tried again every ``retry_backoff`` ms
    until ``shipping_deadline`` ms after the payment; a timed-out payment is
    reconciled by asking the provider every ``reconcile_delay`` ms.

    Report fields (see :mod:`simkit.glossary`): ``orders``, one count per state in :data:`STATES` (``completed``,
    ``declined_customer_contacted``, ``cancelled``, ``rolled_back``, ``open``),
    ``inconsistent`` (orders whose charge and label disagree with their state),
    ``charged_no_shipment``, ``shipped_no_charge``, ``orphan_labels`` (live labels of
    orders that will not ship), ``charges``, ``declines``, ``refunds``, ``labels``,
    ``voided_labels`` (from the provider's and carrier's rows), ``payment_timeouts``,
    ``carrier_failures`` (label calls that failed or timed out), ``reconciled``,
    ``customers_contacted``, ``latency_*`` (ms from the order to its final state) and
    ``duration`` (ms). The consistency counts judge ended orders only; an order whose
    workflow is still at work when ``max_time`` stops the run counts as ``open``.
    Checks: ``inconsistent``, ``open``. Series: ``states`` (each order's state and
    when it was placed and ended).
    """
    # build: the shop's database, the payment provider, the carrier, the shop
    world = World(p.seed)
    env = world.env
    db = Database(world, "shop-db", read_latency=p.db_latency, commit_latency=p.db_latency)
    for table in (ORDERS, RESERVATIONS, CONTACTS):
        db.create_table(table)
    provider = PaymentProvider(world, p.payment_latency)
    carrier = Carrier(world, p.carrier_latency, p.carrier_outages)

    # wire the design
    shop = Shop(world, db, provider, carrier, p)
    run_order = shop.rollback if p.design == "rollback" else shop.saga

    # run
    rng_card = world.rng("customers/cards")
    limits = [100.0 if rng_card.random() < 0.1 else 5000.0 for _ in range(p.customers)]
    world.run(until=env.process(order_arrivals(world, run_order, limits, p)) | env.timeout(p.max_time))

    # check: everything below reads the trace
    trace = world.trace.to_frame()
    states = order_states(trace)
    found = {"inconsistent": inconsistent_orders(trace)}
    still_open = states.index[states["state"] == "open"]
    found["open"] = Check("open", int(len(still_open)), tuple(still_open[:EXAMPLES]), "not ended when the run stopped")
    facts = _facts(trace, states)[states["state"] != "open"]
    ev = trace["event"]
    counts = states["state"].value_counts()
    fields: dict[str, float] = dict(orders=int(len(states)))
    fields.update({s: int(counts.get(s, 0)) for s in STATES})
    fields.update(
        inconsistent=found["inconsistent"].count,
        charged_no_shipment=int((facts["charged"] & ~(facts["completed"] & facts["labelled"])).sum()),
        shipped_no_charge=int((facts["labelled"] & ~facts["charged"]).sum()),
        orphan_labels=int((facts["labelled"] & ~facts["completed"]).sum()),
        charges=int((ev == "charged").sum()),
        declines=int((ev == "declined").sum()),
        refunds=int((ev == "refunded").sum()),
        labels=int((ev == "label_created").sum()),
        voided_labels=int((ev == "label_voided").sum()),
        payment_timeouts=int(((ev == "call_failed") & (trace["component"] == "payments")).sum()),
        carrier_failures=int(((ev == "call_failed") & (trace["component"] == "shipping")).sum()),
        reconciled=int((ev == "PaymentReconciled").sum()),
        customers_contacted=int((ev == "CustomerContacted").sum()),
        **latency_fields((states["closed_at"] - states["placed_at"]).dropna()),
        duration=float(env.now),
    )
    return RunResult("order_workflow", p.seed, p.to_dict(), Report(**fields), found, {"states": states}, world.trace)


@dataclass(frozen=True)
class Order:
    """One order and everything drawn for it up front (the same in every design)."""

    id: str
    amount: float
    card_limit: float
    charge_work: float
    label_work: float


def order_arrivals(world: World, run_order: Callable[[Order], Generator[simpy.Event, Any, None]],
                   limits: list[float], p: OrderWorkflowParams) -> Generator[simpy.Event, Any, None]:
    """The customers: ``orders`` orders as a Poisson stream, each drawn up front, then every order ended."""
    env = world.env
    rng = world.rng("arrivals")
    amounts = world.rng("orders/amounts")
    pay_rng = world.rng("payment-provider/latency")
    label_rng = world.rng("carrier/latency")
    done: list[simpy.Process] = []
    for i in range(p.orders):
        yield env.timeout(rng.expovariate(p.arrival_rate))
        order = Order(f"order-{i}", round(amounts.uniform(10, 400), 2), limits[amounts.randrange(p.customers)],
                      p.payment_latency.sample(pay_rng), p.carrier_latency.sample(label_rng))
        world.record("customer", "request", msg_id=order.id, detail=f"amount {order.amount:.2f}")
        done.append(env.process(run_order(order)))
    yield env.all_of(done)


# -- the shop: the two designs ------------------------------------------------------------------
class Shop:
    """The shop's code: one method per design, each the life of one order."""

    def __init__(self, world: World, db: Database, provider: PaymentProvider, carrier: Carrier,
                 p: OrderWorkflowParams):
        self.world = world
        self.db = db
        self.provider = provider
        self.carrier = carrier
        self.payment_timeout = p.payment_timeout
        self.carrier_timeout = p.carrier_timeout
        self.shipping_deadline = p.shipping_deadline
        self.retry_backoff = p.retry_backoff
        self.reconcile_delay = p.reconcile_delay
        self.to_provider = Link(world, "shop->payment-provider", p.network_latency)
        self.from_provider = Link(world, "payment-provider->shop", p.network_latency)
        self.to_carrier = Link(world, "shop->carrier", p.network_latency)
        self.from_carrier = Link(world, "carrier->shop", p.network_latency)
        self._retry_rng = world.rng("carrier/retries")

    def _call_provider(self, fn: Callable[..., Generator[simpy.Event, Any, str]], request: Any
                       ) -> Generator[simpy.Event, Any, str]:
        answer = yield from call(self.world, self.to_provider, self.from_provider, fn, request, self.payment_timeout)
        return answer

    def _call_carrier(self, fn: Callable[..., Generator[simpy.Event, Any, str]], request: Any
                      ) -> Generator[simpy.Event, Any, str]:
        answer = yield from call(self.world, self.to_carrier, self.from_carrier, fn, request, self.carrier_timeout)
        return answer

    def _failed(self, boundary: str, order_id: str, why: str) -> None:
        self.world.record(boundary, "call_failed", msg_id=order_id, detail=why)

    # -- "rollback": one local transaction around two external calls -------------------------
    def rollback(self, order: Order) -> Generator[simpy.Event, Any, None]:
        """The one-transaction illusion: both calls inside a local transaction, rolled back on failure."""
        tx = self.db.transaction(msg_id=order.id)
        tx.put(ORDERS, order.id, {"status": "placed", "amount": order.amount})
        tx.put(RESERVATIONS, order.id, 1)
        try:
            try:
                paid = yield from self._call_provider(self.provider.authorize, (order, order.charge_work))
            except RequestTimeout:
                self._failed("payments", order.id, "payment provider: timeout")
                raise
            if paid != "charged":
                raise ClientError(f"payment {paid}")
            try:
                label = yield from self._call_carrier(self.carrier.create_label, (order.id, order.label_work))
            except RequestTimeout:
                self._failed("shipping", order.id, "carrier: timeout")
                raise
            if label != "created":
                self._failed("shipping", order.id, f"carrier: {label}")
                raise ClientError(f"carrier {label}")
            tx.put(ORDERS, order.id, {"status": "completed", "amount": order.amount})
            yield from tx.commit()
        except ClientError as err:
            tx.abort()
            self.world.record("orders", "rolled_back", msg_id=order.id, detail=str(err))
            return
        # a change-data event of the row that committed: it says what the row looks like, not what happened
        self.world.record("orders", "OrderUpdated", msg_id=order.id, detail="status: placed -> completed")

    # -- "saga": business facts and business reactions ---------------------------------------
    def _fact(self, boundary: str, fact: str, order_id: str, detail: str | None = None,
              table: str | None = None, value: Any = None, delete: bool = False
              ) -> Generator[simpy.Event, Any, None]:
        """The owning boundary commits its change and states the business fact."""
        if table is not None:
            tx = self.db.transaction(owner=boundary, msg_id=order_id)
            if delete:
                tx.delete(table, order_id)
            else:
                tx.put(table, order_id, value)
            yield from tx.commit()
        self.world.record(boundary, fact, msg_id=order_id, detail=detail)

    def saga(self, order: Order) -> Generator[simpy.Event, Any, None]:
        """The order as a workflow of business facts, each failure met by a business reaction."""
        oid = order.id
        yield from self._fact("orders", "OrderPlaced", oid, table=ORDERS, value={"status": "placed"})
        yield from self._fact("inventory", "InventoryReserved", oid, table=RESERVATIONS, value=1)
        paid = yield from self._authorize(order)
        if paid != "charged":
            yield from self._fact("payments", "PaymentDeclined", oid, detail=f"amount {order.amount:.2f} over limit")
            yield from self._fact("inventory", "InventoryReleased", oid, table=RESERVATIONS, delete=True)
            yield from self._fact("notifications", "CustomerContacted", oid, "payment declined: asked for another card",
                                  table=CONTACTS, value="declined")
            yield from self._fact("orders", "OrderOnHold", oid, "waiting for the customer's new card",
                                  table=ORDERS, value={"status": "on_hold"})
            return
        yield from self._fact("payments", "PaymentAuthorized", oid)
        shipped = yield from self._ship(order)
        if shipped:
            yield from self._fact("shipping", "LabelCreated", oid)
            yield from self._fact("orders", "OrderCompleted", oid, table=ORDERS, value={"status": "completed"})
            return
        yield from self._fact("shipping", "ShippingFailed", oid, "carrier unavailable past the shipping deadline")
        # the customer's money first; the label (a timed-out call may have created one) once the carrier answers
        yield from self._until_answered(self._call_provider, self.provider.refund, oid, ("refunded",), "payments")
        yield from self._fact("payments", "PaymentRefunded", oid)
        yield from self._fact("inventory", "InventoryReleased", oid, table=RESERVATIONS, delete=True)
        yield from self._fact("notifications", "CustomerContacted", oid, "cannot ship: refunded",
                              table=CONTACTS, value="cancelled")
        voided = yield from self._until_answered(self._call_carrier, self.carrier.void_label, oid,
                                                 ("voided", "no_label"), "shipping")
        if voided == "voided":
            yield from self._fact("shipping", "LabelVoided", oid)
        yield from self._fact("orders", "OrderCancelled", oid, table=ORDERS, value={"status": "cancelled"})

    def _authorize(self, order: Order) -> Generator[simpy.Event, Any, str]:
        """Authorize; after a timeout, reconcile by asking the provider what it did."""
        env = self.world.env
        try:
            answer = yield from self._call_provider(self.provider.authorize, (order, order.charge_work))
            return answer
        except RequestTimeout:
            self._failed("payments", order.id, "payment provider: timeout")
        yield from self._fact("payments", "PaymentTimedOut", order.id, "outcome unknown: reconcile")
        while True:
            yield env.timeout(self.reconcile_delay)
            try:
                state = yield from self._call_provider(self.provider.status, order.id)
            except RequestTimeout:
                self._failed("payments", order.id, "payment provider: timeout (status)")
                continue
            if state == "unknown":  # it never got the request: ask again, same idempotency key
                try:
                    state = yield from self._call_provider(self.provider.authorize, (order, order.charge_work))
                except RequestTimeout:
                    self._failed("payments", order.id, "payment provider: timeout")
                    continue
            yield from self._fact("payments", "PaymentReconciled", order.id, f"provider says {state}")
            return state

    def _ship(self, order: Order) -> Generator[simpy.Event, Any, bool]:
        """Ask for a label, again every retry_backoff ms, until the shipping deadline."""
        env = self.world.env
        deadline = env.now + self.shipping_deadline
        work = order.label_work
        while True:
            try:
                label = yield from self._call_carrier(self.carrier.create_label, (order.id, work))
            except RequestTimeout:
                label = "timeout"
            if label == "created":
                return True
            self._failed("shipping", order.id, f"carrier: {label}")
            if env.now + self.retry_backoff > deadline:
                return False
            yield env.timeout(self.retry_backoff)
            work = self.carrier.latency.sample(self._retry_rng)

    def _until_answered(self, caller: Callable[..., Generator[simpy.Event, Any, str]],
                        fn: Callable[[str], Generator[simpy.Event, Any, str]], order_id: str,
                        good: tuple[str, ...], boundary: str) -> Generator[simpy.Event, Any, str]:
        """A compensating call, repeated (it is idempotent) until the other side answers."""
        env = self.world.env
        while True:
            try:
                answer = yield from caller(fn, order_id)
            except RequestTimeout:
                answer = "timeout"
            if answer in good:
                return answer
            self._failed(boundary, order_id, f"{getattr(fn, '__name__', 'call')}: {answer}")
            yield env.timeout(self.retry_backoff)


# -- checkers: pure functions over the trace -------------------------------------------------
def order_states(trace: pd.DataFrame) -> pd.DataFrame:
    """Each order's business state, from its last closing row (:data:`FINAL_EVENTS`).

    Orders are the ``request`` rows of the ``customer``; one with no closing row is
    ``open``. Columns: state, placed_at and closed_at (ms, NaN while open).
    """
    placed = trace[(trace["event"] == "request") & (trace["component"] == "customer")]
    orders = pd.Index(placed["msg_id"].drop_duplicates(), name="order")
    placed_at = placed.drop_duplicates("msg_id").set_index("msg_id")["time"]
    closing = trace[trace["event"].isin(list(FINAL_EVENTS)) & trace["msg_id"].isin(orders)]
    last = closing.drop_duplicates("msg_id", keep="last").set_index("msg_id")
    state = last["event"].astype(str).map(FINAL_EVENTS).reindex(orders).fillna("open")
    return pd.DataFrame({"state": state.to_numpy(), "placed_at": placed_at.reindex(orders).to_numpy(),
                         "closed_at": last["time"].reindex(orders).to_numpy()}, index=orders)


def _facts(trace: pd.DataFrame, states: pd.DataFrame) -> pd.DataFrame:
    """Per order: is a charge still standing, is a label still live, did the order complete?"""
    ev = trace["event"]

    def net(plus: str, minus: str) -> pd.Series:
        up = trace.loc[ev == plus, "msg_id"].value_counts()
        down = trace.loc[ev == minus, "msg_id"].value_counts()
        return (up.reindex(states.index, fill_value=0) - down.reindex(states.index, fill_value=0)) > 0

    return pd.DataFrame({"charged": net("charged", "refunded"), "labelled": net("label_created", "label_voided"),
                         "completed": states["state"] == "completed"}, index=states.index)


def inconsistent_orders(trace: pd.DataFrame) -> Check:
    """Ended orders whose outside-world facts disagree with their business state.

    A completed order must have a standing charge and a live label; an order that
    ended in any other state must have neither. Orders still ``open`` (their workflow
    is still at work when the run stops) are not judged. The truth about the outside world is what the
    payment provider and the carrier wrote (``charged``, ``refunded``,
    ``label_created``, ``label_voided``), not what the shop believes.
    """
    states = order_states(trace)
    f = _facts(trace, states)
    ok = np.where(f["completed"], f["charged"] & f["labelled"], ~f["charged"] & ~f["labelled"])
    bad = states.index[~ok & (states["state"] != "open").to_numpy()]
    return Check("inconsistent", int(len(bad)), tuple(bad[:EXAMPLES]),
                 f"of {int((states['state'] != 'open').sum())} ended orders, charge or label disagrees with the state")
