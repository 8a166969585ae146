"""The producer's Kafka behaviours must emerge from the mechanism: retries, in-flight requests, idempotence."""

import pandas as pd
import pytest

import simkit as sk


def run(*, idempotent=None, max_in_flight=5, acks="all", outage=None, cut_responses=None, n=20, seed=3,
        retries=2**31 - 1):
    w = sk.World(seed=seed)
    b = sk.Broker(w)
    b.create_topic("t", 1)
    p = sk.Producer(w, b, acks=acks, idempotent=idempotent, max_in_flight=max_in_flight,
                    latency=sk.uniform(1, 3), request_timeout=50, retry_backoff=5, retries=retries)
    if outage:
        b.outage(*outage)
    if cut_responses:
        p.link_in.cut(*cut_responses)
    futures = []

    def source():
        for i in range(n):
            futures.append(p.send("t", key="user-1", msg_id=i))
            yield w.env.timeout(1)

    w.env.process(source())
    w.run()
    return [r.msg_id for r in b.topics["t"][0].records], w, futures


def test_retries_with_several_requests_in_flight_and_no_idempotence_reorder_a_partition():
    log, _, _ = run(idempotent=False, max_in_flight=5, outage=(5, 3))
    assert sorted(log) == list(range(20))
    assert log != sorted(log)


def test_idempotent_producer_keeps_order_across_the_same_outage():
    log, _, _ = run(idempotent=True, max_in_flight=5, outage=(5, 3))
    assert log == list(range(20))


def test_one_request_in_flight_keeps_order_without_idempotence():
    log, _, _ = run(idempotent=False, max_in_flight=1, outage=(5, 3))
    assert log == list(range(20))


def test_lost_response_then_retry_duplicates_without_idempotence():
    log, w, _ = run(idempotent=False, cut_responses=(5, 3))
    assert len(log) > 20 and set(log) == set(range(20))
    trace = w.trace.to_frame()
    assert (trace.event == "retry").any()
    assert sk.checks.duplicates(trace, "append").count > 0


def test_idempotent_broker_drops_the_retried_batch_it_already_has():
    log, w, _ = run(idempotent=True, cut_responses=(5, 3))
    assert log == list(range(20))
    assert (w.trace.to_frame().event == "duplicate_dropped").any()


def test_acks_zero_to_a_down_broker_loses_records_silently():
    log, w, futures = run(acks=0, outage=(5, 3))
    trace = w.trace.to_frame()
    assert len(log) < 20
    assert all(f.ok for f in futures)  # the application was told nothing
    assert not (trace.event == "send_failed").any()
    assert sk.checks.lost(trace, "send", "append").count == 20 - len(log)


def test_a_producer_that_runs_out_of_retries_reports_the_failure():
    _, w, futures = run(idempotent=False, retries=0, outage=(5, 3))
    trace = w.trace.to_frame()
    failed = trace[trace.event == "send_failed"]
    assert len(failed) > 0
    assert sum(1 for f in futures if not f.ok) == len(failed)
    assert all(isinstance(f.value, sk.BrokerUnavailable) for f in futures if not f.ok)


@pytest.mark.parametrize("param,value", [
    ("acks", 2), ("acks", "leader"), ("max_in_flight", 0), ("retries", -1), ("request_timeout", 0),
    ("request_timeout", float("nan")), ("delivery_timeout", float("inf")), ("retry_backoff", float("nan")),
    ("latency", float("inf")),
])
def test_bad_producer_settings_are_config_errors(param, value):
    w = sk.World(seed=1)
    b = sk.Broker(w)
    with pytest.raises(sk.ConfigError, match=param):
        sk.Producer(w, b, **{param: value})


def test_idempotence_refuses_more_than_five_in_flight_as_kafka_does():
    w = sk.World(seed=1)
    b = sk.Broker(w)
    with pytest.raises(sk.ConfigError, match="max_in_flight"):
        sk.Producer(w, b, idempotent=True, max_in_flight=6)
    # left unset, idempotence is quietly turned off instead (Kafka 3.2+)
    assert sk.Producer(w, b, "p2", max_in_flight=6).idempotent is False


def test_kafka_3_defaults():
    w = sk.World(seed=1)
    p = sk.Producer(w, sk.Broker(w))
    assert (p.acks, p.idempotent, p.max_in_flight, p.retries) == ("all", True, 5, 2**31 - 1)
    assert (p.request_timeout, p.delivery_timeout, p.retry_backoff) == (30000, 120000, 100)


def test_unknown_topic_is_a_config_error_listing_topics():
    w = sk.World(seed=1)
    b = sk.Broker(w)
    b.create_topic("orders", 2)
    p = sk.Producer(w, b)
    with pytest.raises(sk.ConfigError, match="orders"):
        p.send("order", key="k")


def test_overlapping_outages_keep_the_broker_down_until_the_last_one_ends():
    w = sk.World(seed=1)
    b = sk.Broker(w)
    b.outage(10, 20)
    b.outage(20, 30)
    seen = []

    def probe():
        for t in (15, 35, 49, 51):
            yield w.env.timeout(t - w.now)
            seen.append(b.down)

    w.env.process(probe())
    w.run()
    assert seen == [True, True, True, False]
    t = w.trace.to_frame()
    assert list(t.event) == ["broker_down", "broker_up"]


def _trace_of(use_produce, seed=4):
    w = sk.World(seed=seed)
    b = sk.Broker(w)
    b.create_topic("t", 3)
    b.outage(4, 6)
    p = sk.Producer(w, b, latency=sk.uniform(0.5, 2), request_timeout=20, retry_backoff=3)

    def source():
        for i in range(30):
            if use_produce:
                p.produce("t", key=f"k{i % 4}", msg_id=i)
            else:
                p.send("t", key=f"k{i % 4}", msg_id=i)
            yield w.env.timeout(0.5)

    w.env.process(source())
    w.run()
    return w.trace.to_frame()


def test_produce_without_an_event_writes_the_same_history_as_send():
    via_produce, via_send = _trace_of(True), _trace_of(False)
    assert (via_produce["event"] == "retry").any()  # the outage made the sender retry
    pd.testing.assert_frame_equal(via_produce, via_send)


def test_on_delivery_gets_each_offset_or_the_error_given_up_with():
    w = sk.World(seed=1)
    b = sk.Broker(w)
    b.create_topic("t", 1)
    p = sk.Producer(w, b, latency=1, retries=0, idempotent=False)
    told = []
    b.outage(10, 5)

    def source():
        for i in range(4):
            p.produce("t", msg_id=i, on_delivery=lambda err, off, i=i: told.append((i, err, off)))
            yield w.env.timeout(4)

    w.env.process(source())
    w.run()
    assert [(i, off) for i, err, off in told if err is None] == [(0, 0), (1, 1), (2, 2)]
    assert [(i, type(err)) for i, err, off in told if err is not None] == [(3, sk.BrokerUnavailable)]  # arrives at 13
    with pytest.raises(sk.ConfigError, match="on_delivery"):
        p.produce("t", on_delivery="print")


def test_a_send_settled_before_anyone_waits_still_gives_its_offset_to_a_later_waiter():
    w = sk.World(seed=1)
    b = sk.Broker(w)
    b.create_topic("t", 1)
    p = sk.Producer(w, b)
    got = []

    def app():
        first, second = p.send("t", msg_id="a"), p.send("t", msg_id="b")
        assert first.processed and second.processed  # no latency: known before anybody waits
        yield w.env.timeout(5)
        got.append((yield second))
        got.append(w.now)

    w.env.process(app())
    w.run()
    assert got == [1, 5]


def test_a_request_slower_than_its_timeout_times_out_at_the_timeout_and_is_still_written():
    # the trip out takes 4 ms, the client waits 2.5: it gives up at 2.5 ms, the broker writes at 4
    w = sk.World(seed=1)
    b = sk.Broker(w)
    b.create_topic("t", 1)
    p = sk.Producer(w, b, latency=4, request_timeout=2.5, delivery_timeout=2.5, retries=0, idempotent=False)
    fut = p.send("t", msg_id="m")
    w.run()
    t = w.trace.to_frame()
    assert not fut.ok and isinstance(fut.value, sk.RequestTimeout)
    assert t.loc[t.event == "send_failed", "time"].tolist() == [2.5]
    assert t.loc[t.event == "append", "time"].tolist() == [4.0]


def test_the_outbox_publish_scenario_runs_with_a_timeout_shorter_than_the_network_trip():
    r = sk.scenarios.publish("outbox", publish_timeout=2.5, seed=1)
    assert r.report.lost == 0


@pytest.mark.parametrize("start,duration,param", [(float("nan"), 5, "start"), (1, float("inf"), "duration")])
def test_broker_refuses_an_outage_at_a_time_that_is_not_a_finite_number(start, duration, param):
    w = sk.World(seed=1)
    with pytest.raises(sk.ConfigError, match=param):
        sk.Broker(w).outage(start, duration)


def test_a_partition_log_hands_out_records_by_offset_as_written():
    w = sk.World(seed=1)
    b = sk.Broker(w)
    b.create_topic("t", 1)
    p = sk.Producer(w, b, latency=1)

    def source():
        for i, mid in enumerate([7, "x", 9]):
            p.send("t", value={"n": i}, key=f"k{i}", msg_id=mid)
            yield w.env.timeout(2)

    w.env.process(source())
    w.run()
    log = b.topics["t"][0]
    assert [r.msg_id for r in log.records] == [7, "x", 9] and len(log.records) == log.end_offset == 3
    last = log.records[-1]
    assert (last.offset, last.key, last.value, last.timestamp, last.appended_at) == (2, "k2", {"n": 2}, 4.0, 5.0)
    assert [r.offset for r in log.records[1:]] == [1, 2] and log.read(2, 10) == [last]
    assert log.offset_for_time(3.0) == 2 and log.offset_for_time(99) == 3
