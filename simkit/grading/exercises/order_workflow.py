"""Exercise 08: the order workflow's payment step (lesson 10), graded on double charges, unpaid shipments, stuck orders.

The learner's ``handle(event, tools, ctx)`` gets one ``OrderPlaced`` event at a time (``event.order_id``,
``event.amount``) and sees only:

* ``yield from tools.payments.charge(order_id, amount, idempotency_key)``: returns ``"approved"``, raises
  ``tools.PaymentDeclined`` or, when the answer is slower than 100 ms, ``tools.Timeout`` (the charge may still
  go through at the provider);
* ``yield from tools.payments.status(idempotency_key)``: ``"approved"``, ``"declined"`` or ``None`` (no charge
  with that key has reached the provider yet);
* ``yield from tools.shipping.ship(order_id)`` (the carrier ships an order once, whatever the calls);
* ``tools.db.transaction()`` (``get/put/commit`` as in exercise 01) and ``yield from tools.emit(fact, order_id)``;
* ``ctx.now``, ``ctx.timeout(ms)``, ``ctx.crash_point(name)``.

Mechanisms: a charge reaches the provider half-way through its latency and is recorded there; its answer comes
back at the end. Charges sent during the workload's slow window take 300 ms, so they time out, yet are made. A second
case, run once without crashes, puts the slow window at another time.
A crash restarts the workflow 200 ms later with fresh Python state and the same event again (at-least-once).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pandas as pd

from ...database import Database
from ...distributions import uniform
from ...errors import Crash
from ..faults import Faults, call, drive
from ..spec import Anomaly, Case, Criterion, Exercise, register
from ..tools import LearnerContext
from .welcome import LearnerDatabase

__all__ = ["EXERCISE"]

TIMEOUT_MS, SLOW_MS, RESTART_MS = 100, 300, 200


class PaymentDeclined(Exception):
    """The provider declined the card."""


class Timeout(Exception):
    """No answer within the timeout: the charge's outcome is unknown."""


class OrderPlaced:
    """The event: ``order_id`` and ``amount``."""

    __slots__ = ("amount", "order_id")

    def __init__(self, order_id: str, amount: int):
        self.order_id, self.amount = order_id, amount


class _Provider:
    def __init__(self, world: Any, declined: set, slow: tuple[float, float]):
        self.world, self.declined, self.slow = world, declined, slow
        self.outcome: dict[Any, str] = {}
        self.order_of: dict[Any, str] = {}
        self.amount_of: dict[str, Any] = {}  # order id -> the amount its (first) charge asked for
        self._latency, self._rng = uniform(5, 20), world.rng("payments")

    def request(self, order_id: str, key: Any, amount: Any = None) -> Any:
        env = self.world.env
        lo, hi = self.slow
        latency = SLOW_MS if lo <= env.now < hi else self._latency.sample(self._rng)
        answer = env.event()

        def serve():  # type: ignore[no-untyped-def]
            yield env.timeout(latency / 2)
            if key not in self.outcome:
                self.order_of[key] = order_id
                self.amount_of.setdefault(order_id, amount)
                self.outcome[key] = "declined" if order_id in self.declined else "approved"
                self.world.record("payments", "charged" if self.outcome[key] == "approved" else "declined",
                                  key=order_id, detail=repr(key)[:40])
            elif self.order_of[key] != order_id:  # the key of another order: its outcome, and no charge
                self.world.record("payments", "key_reused", key=order_id,
                                  detail=f"{key!r} of {self.order_of[key]}"[:60])
            yield env.timeout(latency / 2)
            answer.succeed(self.outcome[key])

        env.process(serve())
        return answer


class _Payments:
    def __init__(self, provider: _Provider, faults: Faults):
        self._p, self._faults = provider, faults

    def charge(self, order_id: Any, amount: Any, idempotency_key: Any) -> Any:
        """Charge the card: ``yield from``; returns "approved", raises PaymentDeclined or Timeout."""
        env = self._p.world.env
        self._faults.step("before", f"payments.charge({order_id!r})")
        answer = self._p.request(order_id, idempotency_key, amount)
        yield answer | env.timeout(TIMEOUT_MS)
        self._faults.step("after", f"payments.charge({order_id!r})")
        if not answer.triggered:
            raise Timeout(f"no answer for {order_id!r} within {TIMEOUT_MS} ms")
        if answer.value == "declined":
            raise PaymentDeclined(order_id)
        return "approved"

    def status(self, idempotency_key: Any) -> Any:
        """The recorded outcome of the charge with that key, or None: ``yield from``."""
        yield self._p.world.env.timeout(5)
        return self._p.outcome.get(idempotency_key)


class _Shipping:
    def __init__(self, world: Any, faults: Faults):
        self._world, self._faults = world, faults
        self._shipped: set = set()

    def ship(self, order_id: Any) -> Any:
        """Ship the order (once, however often it is called): ``yield from``."""
        self._faults.step("before", f"shipping.ship({order_id!r})")
        yield self._world.env.timeout(10)
        if order_id not in self._shipped:
            self._shipped.add(order_id)
            self._world.record("carrier", "label_created", key=order_id)
        self._faults.step("after", f"shipping.ship({order_id!r})")


class Tools:
    """What the workflow step may use."""

    PaymentDeclined, Timeout = PaymentDeclined, Timeout

    def __init__(self, world: Any, faults: Faults, payments: _Payments, shipping: _Shipping, db: Any):
        self._world, self._faults = world, faults
        self.payments, self.shipping, self.db = payments, shipping, db

    def emit(self, fact: str, order_id: Any) -> Any:
        """Publish a business fact such as "OrderShipped" or "OrderCancelled": ``yield from``."""
        self._faults.step("before", f"emit({fact!r})")
        yield self._world.env.timeout(2)
        self._world.record("workflow", "fact", key=order_id, detail=str(fact)[:40])
        self._faults.step("after", f"emit({fact!r})")


def simulate(run: Any) -> dict:
    """Orders arrive every 50 ms; one workflow handles them in turn; returns what the provider and carrier saw."""
    world, faults, w = run.world, run.faults, run.workload
    env = world.env
    n = int(w.get("orders", 8))
    orders = [f"order-{i}" for i in range(n)]
    amounts = {order: 100 + i for i, order in enumerate(orders)}
    declined = {orders[i] for i in w.get("declined", (3, 6)) if i < n}
    provider = _Provider(world, declined, tuple(w.get("slow", (100, 400))))
    shipping = _Shipping(world, faults)
    db = Database(world, "db", commit_latency=uniform(1, 3))
    tools = Tools(world, faults, _Payments(provider, faults), shipping, LearnerDatabase(db, faults))
    ctx = LearnerContext(world, faults)
    done = env.event()

    def workflow():  # type: ignore[no-untyped-def]
        handle = run.learner.fresh()
        for i, order in enumerate(orders):
            if env.now < 50 * i:
                yield env.timeout(50 * i - env.now)
            while True:
                faults.current = order
                try:
                    steps = call(handle, faults, "handle", OrderPlaced(order, amounts[order]), tools, ctx)
                    yield from drive(steps, faults, "handle")
                    break
                except Crash as crash:
                    world.record("workflow", "crash", key=order, detail=str(crash)[:60])
                    yield env.timeout(RESTART_MS)
                    handle = run.learner.fresh()
                    faults.revive()
                    world.record("workflow", "restart", key=order)
        done.succeed()

    env.process(workflow())
    world.run(until=done | env.timeout(60_000), wall_limit=None)
    return {"orders": orders, "declined": sorted(declined), "shipped": sorted(shipping._shipped),
            "finished": done.triggered, "amounts": amounts,
            # by the order id's text, as the state goes back as JSON (the learner names the order it charges); a
            # number as it is (100.0 is the amount 100), anything else by its repr
            "charged_amounts": {str(o): a if isinstance(a, int | float) and not isinstance(a, bool) else repr(a)
                                for o, a in provider.amount_of.items()}}


def anomalies(trace: pd.DataFrame, state: dict, workload: Mapping[str, Any]) -> dict[str, Anomaly]:
    """Double charges, unpaid shipments, stuck orders and paid orders cancelled, from the trace."""
    orders, shipped = state["orders"], set(state["shipped"])
    charges = trace.loc[trace["event"] == "charged", "key"].value_counts()
    facts = trace[trace["event"] == "fact"]
    said = {o: set(facts.loc[facts["key"] == o, "detail"]) for o in orders}
    double = [o for o in orders if charges.get(o, 0) > 1]
    unpaid = [o for o in orders if o in shipped and charges.get(o, 0) == 0]  # in order: a set's order varies
    stuck = [o for o in orders if not ({"OrderShipped", "OrderCancelled"} & said[o])
             or ("OrderShipped" in said[o]) != (o in shipped)]
    paid_cancelled = [o for o in orders if charges.get(o, 0) and "OrderCancelled" in said[o]]
    reused = trace[(trace["event"] == "key_reused") & trace["key"].isin(unpaid)]
    why_unpaid = (f": {reused['key'].iloc[0]}'s charge used the idempotency key {reused['detail'].iloc[0]}, so "
                  "the provider answered with that order's outcome and charged nothing; one key per order"
                  if len(reused) else "")
    told = facts["key"].value_counts()
    repeated = [o for o in orders if told.get(o, 0) > 1]  # "exactly one of two facts"
    asked = state.get("charged_amounts", {})
    wrong = [o for o in orders if o in asked and (isinstance(asked[o], str) or asked[o] != state["amounts"][o])]
    out = {
        "wrong_amount": Anomaly(len(wrong), tuple(wrong[:5]), f"{len(wrong)} order(s) charged another amount than "
                                "the order's" + (f" ({wrong[0]}: {asked[wrong[0]]} for an order of "
                                                 f"{state['amounts'][wrong[0]]})" if wrong else "")),
        "repeated_fact": Anomaly(len(repeated), tuple(repeated[:5]), f"{len(repeated)} order(s) ended with more "
                                 "than one fact" + (f" ({repeated[0]}: {sorted(facts.loc[facts['key'] == repeated[0], 'detail'])})"
                                                    if repeated else "")),
        "double_charge": Anomaly(len(double), tuple(double[:5]), f"{len(double)} order(s) charged twice or more"),
        "shipped_unpaid": Anomaly(len(unpaid), tuple(unpaid[:5]), f"{len(unpaid)} order(s) shipped with no charge" + why_unpaid),
        "stuck_order": Anomaly(len(stuck), tuple(stuck[:5]),
                            f"{len(stuck)} order(s) ended neither shipped (with OrderShipped) nor cancelled "
                            "(with OrderCancelled)"),
        "paid_cancelled": Anomaly(len(paid_cancelled), tuple(paid_cancelled[:5]),
                               f"{len(paid_cancelled)} order(s) charged but cancelled"),
    }
    if not state["finished"]:
        out["stuck_order"] = Anomaly(max(1, len(stuck)), tuple(stuck[:5]),
                                     "the workflow had not finished after 60 s of simulated time" +
                                     (f": handle never returned for {stuck[0]}" if stuck else ""))
    return out


CAUSES = {
    "wrong_amount": "charge the order's own amount, event.amount, as it came",
    "repeated_fact": "end each order with exactly one fact, OrderShipped or OrderCancelled, emitted once",
    "double_charge": "a retry used a new idempotency key, so the provider made a second charge; use one key per "
                     "order (the order id) and reuse it on every retry",
    "shipped_unpaid": "an order was shipped although its charge was declined or never confirmed; ship only "
                      "after the provider says approved",
    "stuck_order": "after a timeout the workflow gave up without an outcome; reconcile: ask "
                   "payments.status(key) or retry with the same key until approved or declined",
    "paid_cancelled": "a timeout was treated as a decline, but the charge had gone through at the provider; "
                      "a timeout means unknown, not declined",
}


def explain(name: str, anomaly: Anomaly, run: Any) -> str:
    """Feedback naming the anomaly and its cause."""
    cause = CAUSES.get(name, "")
    if name == "stuck_order" and "never returned" in anomaly.detail:
        cause = "a loop in handle that waits (for the provider's status, say) must end once there is an answer"
    if run.kind == "baseline":
        return f"wrong even without a crash: {anomaly.detail} (e.g. {list(anomaly.examples)[:1]}); {cause}"
    crash = f"crashes at {', '.join(repr(p) for p, _ in run.schedule)}"
    extra = (" (after a crash your Python variables are gone: keep what you need in the db or derive it "
             "from the order id)") if name == "double_charge" else ""
    return f"{anomaly.detail}: {crash}; {cause}{extra}"


def examples(fr: Any) -> pd.DataFrame | None:
    """The trace rows of the first order the anomalies name (orders are keys)."""
    from ..show import first_rows

    return first_rows(fr, "key")


EXERCISE = register(Exercise(
    name="08-order-workflow",
    title="The order workflow's payment step",
    lesson="10-workflows-not-rollbacks",
    entry="handle",
    component="workflow",
    criteria=(
        Criterion("correct without crashes", 2,
                  ("double_charge", "shipped_unpaid", "stuck_order", "paid_cancelled", "wrong_amount",
                   "repeated_fact"), scope="baseline"),
        Criterion("never charged twice", 2, ("double_charge",)),
        Criterion("never shipped unpaid", 2, ("shipped_unpaid",)),
        Criterion("no stuck order", 2, ("stuck_order",)),
        Criterion("no paid order cancelled", 2, ("paid_cancelled",)),
    ),
    # the second case moves the slow spell to a time the text does not give, so that waiting out the first
    # spell (a sleep until 400 ms, then a timeout treated as a decline) is not a way around it
    cases=(Case(0, {"orders": 8, "declined": (3, 6), "slow": (100, 400)}, exhaustive=True, random_runs=2),
           Case(1, {"orders": 8, "declined": (2, 5), "slow": (250, 1_000)}, exhaustive=False, random_runs=0)),
    run_seconds=4.0,
    max_runs=80,
    simulate=simulate,
    anomalies=anomalies,
    explain=explain,
    examples=examples,
))
