"""The outside services: idempotent by key, declines and outages by mechanism, every outcome a row they write."""

from dataclasses import dataclass

import pytest

import simkit as sk
from simkit.distributions import as_distribution
from simkit.services import Carrier, PaymentProvider

TEN_MS = as_distribution("latency", 10)


@dataclass(frozen=True)
class Order:
    id: str
    amount: float
    card_limit: float


def run(world, gen):
    out = {}

    def proc():
        out["answer"] = yield from gen

    world.run(until=world.env.process(proc()))
    return out["answer"]


def test_the_provider_charges_once_per_order_id_however_often_it_is_asked():
    w = sk.World(0)
    provider = PaymentProvider(w, TEN_MS)
    order = Order("order-1", 50.0, 100.0)
    answers = [run(w, provider.authorize((order, 5.0))) for _ in range(3)]
    t = w.trace.to_frame()
    assert answers == ["charged"] * 3 and int((t.event == "charged").sum()) == 1


def test_the_provider_declines_an_amount_over_the_card_limit_and_refunds_only_a_charge():
    w = sk.World(0)
    provider = PaymentProvider(w, TEN_MS)
    assert run(w, provider.authorize((Order("big", 500.0, 100.0), 5.0))) == "declined"
    assert run(w, provider.refund("big")) == "declined"  # nothing was charged, nothing to refund
    assert run(w, provider.authorize((Order("small", 50.0, 100.0), 5.0))) == "charged"
    assert run(w, provider.refund("small")) == "refunded"
    assert run(w, provider.status("small")) == "refunded" and run(w, provider.status("never")) == "unknown"
    t = w.trace.to_frame()
    assert list(t.loc[t.component == "payment-provider", "event"]) == ["declined", "charged", "refunded"]


def test_the_carrier_refuses_every_call_while_it_is_down_and_labels_once_per_order_when_up():
    w = sk.World(0)
    carrier = Carrier(w, TEN_MS, [(0, 100)])
    def later():
        yield w.env.timeout(10)
        answer = yield from carrier.create_label(("order-1", 5.0))
        return answer

    assert run(w, later()) == "unavailable"  # 10 ms into its outage: refused at once
    assert w.now == 10 and not (w.trace.to_frame().event == "label_created").any()
    w2 = sk.World(0)
    up = Carrier(w2, TEN_MS, [])
    assert [run(w2, up.create_label(("order-1", 5.0))) for _ in range(2)] == ["created", "created"]
    assert run(w2, up.void_label("order-1")) == "voided" and run(w2, up.void_label("order-1")) == "no_label"
    t = w2.trace.to_frame()
    assert list(t.event) == ["label_created", "label_voided"]


def test_the_email_provider_ignores_a_key_it_has_seen_and_refuses_a_flag_that_is_not_one():
    w = sk.World(0)
    email = sk.EmailProvider(w, latency=1)
    assert [run(w, email.send("ann", "hi", idempotency_key="k1")) for _ in range(2)] == ["sent", "ignored"]
    with pytest.raises(sk.ConfigError, match="accepts_idempotency_key"):
        sk.EmailProvider(sk.World(0), accepts_idempotency_key="sometimes")
    with pytest.raises(sk.ConfigError, match="key_ttl"):
        sk.EmailProvider(sk.World(0), key_ttl=float("nan"))
