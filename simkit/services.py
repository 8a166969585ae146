"""The outside world: services a scenario calls but does not own.

Each is an external system reached over the network, which no database transaction
of ours can include, so the lessons must handle them with idempotency keys and
business compensations instead of rollbacks:

* :class:`EmailProvider` (lesson 06): sends emails; if it accepts an idempotency key
  (as Stripe's ``Idempotency-Key`` header, or an SES / SendGrid message id the sender
  chooses), it answers a repeated request with the same key without sending again.
* :class:`PaymentProvider` (lesson 10): authorizes card payments, idempotent by order
  id; it declines over the card's limit and keeps working after a caller timed out.
* :class:`Carrier` (lesson 10): creates and voids shipping labels, idempotent by order
  id, and refuses every call during its outage windows.

Every outcome is a trace row the provider itself writes (``email_sent``, ``charged``,
``label_created``, ...): the truth about the outside world, whatever the caller believes.
"""

from __future__ import annotations

from typing import Any, Generator, Iterable

import simpy

from .distributions import DistributionLike, as_distribution
from .network import Link, call
from .params import check_flag, check_ms
from .world import World

__all__ = ["Carrier", "EmailProvider", "PaymentProvider"]


class EmailProvider:
    """An external email service reached over the network (``latency`` ms each way).

    ``yield from provider.send(to, body, idempotency_key=k, msg_id=m)`` sends an
    email and returns ``"sent"``, or ``"ignored"`` when the provider recognised the
    key. A sent email is an ``email_sent`` trace row (``key`` = the recipient,
    ``msg_id`` = the message that caused it); a recognised repeat is an
    ``email_ignored`` row. With ``accepts_idempotency_key=False`` the key is ignored
    and every request sends. ``key_ttl`` (ms, default forever) is how long the
    provider remembers a key (Stripe keeps them 24 hours).
    """

    def __init__(
        self,
        world: World,
        name: str = "email",
        *,
        latency: DistributionLike = 5,
        accepts_idempotency_key: bool = True,
        key_ttl: float | None = None,
    ):
        self.world = world
        self.name = world.claim_name(name)
        self.accepts_idempotency_key = check_flag("accepts_idempotency_key", accepts_idempotency_key)
        self.key_ttl = None if key_ttl is None else check_ms("key_ttl", key_ttl, allow_low=False)
        self.latency = as_distribution("latency", latency)
        self.request = Link(world, f"{name}.request", self.latency)
        self.response = Link(world, f"{name}.response", self.latency)
        self._keys: dict[Any, float] = {}

    def send(self, to: Any, body: str, idempotency_key: Any = None, *, msg_id: Any = None,
             timeout: float | None = None) -> Generator[simpy.Event, Any, str]:
        """Ask the provider to send ``body`` to ``to``; wait for its answer (a network round trip)."""
        answer = yield from call(self.world, self.request, self.response, self._serve,
                                 (to, body, idempotency_key, msg_id), timeout)
        return answer

    def _serve(self, request: tuple[Any, str, Any, Any]) -> Generator[simpy.Event, Any, str]:
        to, body, key, msg_id = request
        now = self.world.now
        if self.accepts_idempotency_key and key is not None:
            first = self._keys.get(key)
            if first is not None and (self.key_ttl is None or now - first < self.key_ttl):
                self.world.record(self.name, "email_ignored", key=to, msg_id=msg_id,
                                  detail=f"idempotency key {key!r} seen at {first:.0f} ms")
                return "ignored"
            self._keys[key] = now
        self.world.record(self.name, "email_sent", key=to, msg_id=msg_id, detail=body)
        return "sent"
        yield  # pragma: no cover - makes this a generator, as call() expects


class _Keyed:
    """An external system that handles one idempotency key's requests one at a time."""

    def __init__(self, world: World, name: str):
        self.world = world
        self.name = name
        self._locks: dict[str, simpy.Resource] = {}

    def _lock(self, key: str) -> simpy.Resource:
        lock = self._locks.get(key)
        if lock is None:
            lock = self._locks[key] = simpy.Resource(self.world.env, 1)
        return lock


class PaymentProvider(_Keyed):
    """A card payment API: authorize (idempotent by order id), look up, refund.

    It declines when the amount is over the card's limit. It keeps working on a
    request whatever the caller does, so a charge can land after the caller timed out.
    """

    def __init__(self, world: World, latency: Any):
        super().__init__(world, "payment-provider")
        self.latency = latency
        self.state: dict[str, str] = {}
        self._rng = world.rng("payment-provider/other-calls")

    def authorize(self, request: tuple[Any, float]) -> Generator[simpy.Event, Any, str]:
        """Charge ``order`` (with ``id``, ``amount`` and ``card_limit``) after ``work`` ms, or decline it.

        ``request`` is ``(order, work)``; the order's id is the idempotency key.
        """
        order, work = request
        env = self.world.env
        with self._lock(order.id).request() as turn:
            yield turn
            if order.id in self.state:  # the same idempotency key again: the first answer
                return self.state[order.id]
            yield env.timeout(work)
            outcome = "declined" if order.amount > order.card_limit else "charged"
            self.state[order.id] = outcome
            self.world.record(self.name, outcome, msg_id=order.id, detail=f"amount {order.amount:.2f}")
            return outcome

    def status(self, order_id: str) -> Generator[simpy.Event, Any, str]:
        """What happened to this order's payment: charged, declined, refunded or unknown."""
        with self._lock(order_id).request() as turn:
            yield turn
            yield self.world.env.timeout(self.latency.sample(self._rng) / 4)
            return self.state.get(order_id, "unknown")

    def refund(self, order_id: str) -> Generator[simpy.Event, Any, str]:
        """Refund the order's charge (a new business call, not an undo); returns the payment's state."""
        with self._lock(order_id).request() as turn:
            yield turn
            yield self.world.env.timeout(self.latency.sample(self._rng))
            if self.state.get(order_id) == "charged":
                self.state[order_id] = "refunded"
                self.world.record(self.name, "refunded", msg_id=order_id)
            return self.state.get(order_id, "unknown")


class Carrier(_Keyed):
    """A shipping carrier's API: create a label (idempotent by order id), void a label.

    During an outage window it refuses every call at once ("unavailable").
    """

    def __init__(self, world: World, latency: Any, outages: Iterable[tuple[float, float]]):
        super().__init__(world, "carrier")
        self.latency = latency
        self.labels: dict[str, str] = {}
        self.down = False
        self._rng = world.rng("carrier/other-calls")
        for start, duration in outages:
            world.env.process(self._outage(start, duration))

    def _outage(self, start: float, duration: float) -> Generator[simpy.Event, Any, None]:
        env = self.world.env
        yield env.timeout(start)
        self.down = True
        self.world.record(self.name, "service_down")
        yield env.timeout(duration)
        self.down = False
        self.world.record(self.name, "service_up")

    def create_label(self, request: tuple[str, float]) -> Generator[simpy.Event, Any, str]:
        """Create the label of ``order_id`` after ``work`` ms (``request`` is the pair); "unavailable" when down."""
        order_id, work = request
        if self.down:
            return "unavailable"
        with self._lock(order_id).request() as turn:
            yield turn
            if order_id in self.labels:
                return self.labels[order_id]
            yield self.world.env.timeout(work)
            self.labels[order_id] = "created"
            self.world.record(self.name, "label_created", msg_id=order_id)
            return "created"

    def void_label(self, order_id: str) -> Generator[simpy.Event, Any, str]:
        """Void the order's label: "voided", "no_label" when there is none live, "unavailable" when down."""
        if self.down:
            return "unavailable"
        with self._lock(order_id).request() as turn:
            yield turn
            yield self.world.env.timeout(self.latency.sample(self._rng) / 4)
            if self.labels.get(order_id) == "created":
                self.labels[order_id] = "voided"
                self.world.record(self.name, "label_voided", msg_id=order_id)
                return "voided"
            return "no_label"
