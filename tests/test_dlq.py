"""Retries and dead letters: simkit.dlq on its own (the dead_letters scenario is tests/test_dead_letters.py)."""

from __future__ import annotations

import pytest

import simkit as sk
from simkit.dlq import blocked_time, dead_letter_topic_for, unfinished
from simkit.schemas import DeserializationError

SEEDS = range(3)


# -- the wrapper on its own --------------------------------------------------------------------------------

def _world(handler, *, dlq=True, **wrap):
    """A topic "in" (2 partitions) and its DLT, an app producer, and one consumer running the wrapped handler."""
    world = sk.World(0)
    broker = sk.Broker(world)
    broker.create_topic("in", 2)
    broker.create_topic(dead_letter_topic_for("in"), 2)
    producer = sk.Producer(world, broker, "app")
    if dlq:
        wrap["producer"] = sk.Producer(world, broker, "dlq")
    sk.Consumer(world, broker, "c", "in", sk.with_retries(handler, **wrap), commit="after_processing",
                auto_offset_reset="earliest", on_error="skip")
    return world, broker, producer


def test_backoff_grows_in_simulated_time_then_the_record_is_dead_lettered_with_headers():
    def always_fails(record):
        raise RuntimeError("boom")

    world, broker, producer = _world(always_fails, retries=3, backoff=10)
    producer.send("in", value="v", key="k", msg_id="m", partition=1)
    world.run(until=1000)
    t = world.trace.to_frame()
    start = t.loc[t.event == "process", "time"].iloc[0]
    retries = t.loc[t.event == "handler_retry", "time"].to_numpy() - start
    assert list(retries) == [0, 10, 30]  # waits of 10, 20, 40 ms follow each failure
    assert t.loc[t.event == "dead_lettered", "time"].iloc[0] - start == pytest.approx(70)
    (letter,) = broker.log_of("in.DLT", 1).records  # same partition as the original, as Spring does
    assert letter.msg_id == "m" and letter.value.value == "v"
    assert letter.value.headers["exception"] == "RuntimeError" and letter.value.headers["attempts"] == 4
    assert letter.value.headers["original-offset"] == 0
    assert t[(t.event == "commit") & (t.topic == "in")]["offset"].max() == 1  # and the consumer moved on


def test_errors_retrying_cannot_fix_are_dead_lettered_at_once():
    def undecodable(record):
        raise DeserializationError("no such field")

    world, _, producer = _world(undecodable, retries=5)
    producer.send("in", value="v", msg_id="m")
    world.run(until=1000)
    t = world.trace.to_frame()
    assert not (t.event == "handler_retry").any()
    assert "after 1 attempt" in t.loc[t.event == "dead_lettered", "detail"].iloc[0]


def test_without_a_dead_letter_topic_the_last_error_reaches_the_consumer():
    def always_fails(record):
        raise RuntimeError("boom")

    world, _, producer = _world(always_fails, dlq=False, retries=2, backoff=5)
    producer.send("in", value="v", msg_id="m")
    world.run(until=1000)
    t = world.trace.to_frame()
    assert list(t.loc[t.event.isin(["handler_retry", "handler_error"]), "event"]) == \
        ["handler_retry", "handler_retry", "handler_error"]
    assert not (t.event == "dead_lettered").any()


def test_a_crash_is_not_a_handler_failure():
    def handler(record, ctx):
        ctx.crash_point("mid")
        ctx.record("side_effect", record)

    handler.crash_points = ("mid",)
    world = sk.World(0)
    broker = sk.Broker(world)
    broker.create_topic("in", 1)
    broker.create_topic("in.DLT", 1)
    producer = sk.Producer(world, broker, "app")
    sk.Consumer(world, broker, "c", "in", sk.with_retries(handler, producer=sk.Producer(world, broker, "dlq")),
                commit="after_processing", auto_offset_reset="earliest", crash_schedule=[(0, "mid")],
                session_timeout=100, restart_delay=200)
    producer.send("in", value="v", msg_id="m")
    world.run(until=2000)
    t = world.trace.to_frame()
    assert (t.event == "crash").sum() == 1
    assert not t.event.isin(["handler_retry", "dead_lettered", "handler_error"]).any()
    assert (t.event == "side_effect").sum() == 1  # redelivered after the restart, handled once


# -- checkers on a hand-written trace ------------------------------------------------------------------------

def test_blocked_time_and_unfinished_read_the_trace():
    tr = sk.Trace()
    for i in range(3):
        tr.record(0.0, "p", "send", "t", 0, -1, None, i)
        tr.record(0.0, "b", "append", "t", 0, i, None, i)
    tr.record(1.0, "c", "processed", "t", 0, 0, None, 0)
    tr.record(1.0, "c", "commit", "t", 0, 1, None, None, "g")
    tr.record(2.0, "c", "handler_error", "t", 0, 1, None, 1)
    tr.record(5.0, "c", "handler_retry", "t", 0, 1, None, 1)
    tr.record(9.0, "c", "commit", "t", 0, 2, None, None, "g")  # committed past message 1, never handled
    trace = tr.to_frame()
    assert blocked_time(trace, "t", end=20.0) == pytest.approx(7.0)
    lost, stuck = unfinished(trace, "t")
    assert lost.examples == (1,) and stuck.examples == (2,)


def test_bad_wrapper_settings_are_config_errors():
    world = sk.World(0)
    broker = sk.Broker(world)
    broker.create_topic("in", 1)
    producer = sk.Producer(world, broker, "dlq")
    for kwargs in (dict(retries=-1), dict(retries=1.5), dict(backoff=-1), dict(multiplier=0.5),
                   dict(dead_letter_topic="in.DLT"), dict(producer=producer, dead_letter_topic="missing"),
                   dict(producer="broker"), dict(not_retryable=("ValueError",))):
        with pytest.raises(sk.ConfigError):
            sk.with_retries(lambda r: None, **kwargs)
    with pytest.raises(sk.ConfigError):
        sk.with_retries("not a handler")


def test_a_dead_letter_topic_lets_a_keys_later_records_overtake_the_parked_one_and_parking_the_key_does_not():
    plain = sk.scenarios.dead_letters("dlq", seed=0)
    held = sk.scenarios.dead_letters("dlq_park_key", seed=0)
    t = plain.trace
    overtook = plain.checks["overtook_parked"]
    assert overtook.count > 0
    mid = overtook.examples[0]
    row = t[(t.event == "side_effect") & (t.msg_id == mid)].iloc[0]
    parked = t[(t.event == "dead_lettered") & (t.key == row.key) & (t.partition == row.partition)]
    assert (parked.offset < row.offset).any()  # an earlier record of its key was parked
    assert held.checks["overtook_parked"].count == 0
    assert held.report.dead_lettered == plain.report.dead_lettered + overtook.count
    assert held.report.lost == 0 and held.report.processed == plain.report.processed - overtook.count


def test_park_keys_needs_a_producer_and_a_bool():
    with pytest.raises(sk.ConfigError, match="park_keys"):
        sk.dlq.with_retries(lambda record: None, park_keys=True)
    with pytest.raises(sk.ConfigError, match="park_keys"):
        sk.dlq.with_retries(lambda record: None, park_keys="yes")
