"""The simulator's shortcuts change nothing: with them and without them, one seed gives one trace.

Two shortcuts are taken only for a plain :class:`~simkit.broker.Broker`: the producer hands
a one-record batch over instant links straight to ``Broker.produce`` (``Producer._send_direct``),
and a consumer does not ask the broker for a partition whose position is at its log end
(``Subscription.fetch``). A subclass of Broker that overrides ``produce`` and
``fetch_visible`` (only to call Broker's own) turns both off, so the same run through it
takes the long way everywhere; the two traces must be equal row for row.
"""

import importlib

import pandas as pd
import pytest

import simkit as sk

throughput_module = importlib.import_module("simkit.scenarios.throughput")


class LongWayBroker(sk.Broker):
    """A Broker whose produce and fetch are its own methods: the shortcuts are not taken for it."""

    def produce(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        return super().produce(*args, **kwargs)

    def fetch_visible(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        return super().fetch_visible(*args, **kwargs)


def test_the_long_way_broker_really_turns_the_shortcuts_off():
    w = sk.World(1)
    fast, slow = sk.Broker(w), LongWayBroker(w, "broker-2")
    for b in (fast, slow):
        b.create_topic("t", 1)
    assert sk.Producer(w, fast, "p1")._direct and not sk.Producer(w, slow, "p2")._direct
    assert sk.Consumer(w, fast, "c1", "t", group="g1").subscription._plain
    assert not sk.Consumer(w, slow, "c2", "t", group="g2").subscription._plain


@pytest.mark.parametrize("kw", [
    {"design": "round_robin", "partitions": 1, "consumers": 1},
    {"design": "round_robin", "partitions": 4, "consumers": 3, "commit": "auto_on_poll"},
    {"design": "key", "partitions": 3, "consumers": 3, "commit": "after_processing", "max_poll_records": 5},
    {"design": "round_robin", "partitions": 2, "consumers": 2, "client": "librdkafka"},
    {"design": "round_robin", "partitions": 2, "consumers": 2, "network_latency": 0.5},
])
def test_throughput_trace_is_the_same_with_and_without_the_shortcuts(monkeypatch, kw):
    kw = dict(kw)
    design = kw.pop("design")
    args = dict(arrival_rate=0.9, service_rate=1.0, messages=1500, seed=11, **kw)
    fast = sk.scenarios.throughput(design, **args)
    monkeypatch.setattr(throughput_module, "Broker", LongWayBroker)
    slow = sk.scenarios.throughput(design, **args)
    pd.testing.assert_frame_equal(fast.trace, slow.trace)
    assert pd.Series(fast.report.to_dict()).equals(pd.Series(slow.report.to_dict()))  # NaN equals NaN here


@pytest.mark.parametrize("idempotent", [True, False])
def test_a_producer_and_consumer_through_an_outage_trace_the_same_either_way(idempotent):
    def run(broker_class):
        w = sk.World(seed=5)
        b = broker_class(w)
        b.create_topic("t", 2)
        b.outage(30, 12)
        p = sk.Producer(w, b, idempotent=idempotent, acks="all" if idempotent else 1, retry_backoff=4)
        acked = []
        sk.Consumer(w, b, "c", "t", processing_time=sk.exponential(0.8), auto_offset_reset="earliest")

        def source():
            for i in range(120):
                p.produce("t", key=f"k{i % 7}", msg_id=i, on_delivery=lambda err, off: acked.append((err, off)))
                yield w.env.timeout(0.7)

        w.env.process(source())
        w.run(until=400)
        return w.trace.to_frame(), [(type(e).__name__, o) for e, o in acked]

    fast, fast_acked = run(sk.Broker)
    slow, slow_acked = run(LongWayBroker)
    assert (fast["event"] == "retry").any()  # the outage made the producer take its error path
    pd.testing.assert_frame_equal(fast, slow)
    assert fast_acked == slow_acked
