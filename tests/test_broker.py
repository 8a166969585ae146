"""The broker: partition logs with offsets, idempotent sequence checks, outages that refuse requests."""

import pytest

import simkit as sk


def _broker(partitions=2):
    world = sk.World(0)
    broker = sk.Broker(world)
    broker.create_topic("t", partitions)
    return world, broker


def test_each_record_gets_the_next_offset_of_its_partition_and_order_holds_inside_it():
    world, broker = _broker()
    assert broker.produce("p", "t", 0, [("k", "a", 1, 0.0), ("k", "b", 2, 0.0)]) == 0
    assert broker.produce("p", "t", 0, [("k", "c", 3, 0.0)]) == 2
    assert broker.produce("p", "t", 1, [("j", "x", 4, 0.0)]) == 0
    assert [r.value for r in broker.fetch("t", 0, 0, 10)] == ["a", "b", "c"]
    assert broker.end_offsets("t") == [3, 1]


def test_an_idempotent_retry_of_a_written_batch_is_acknowledged_and_not_written_again():
    world, broker = _broker(1)
    broker.produce("p#0", "t", 0, [("k", "a", 1, 0.0)], base_seq=0)
    assert broker.produce("p#0", "t", 0, [("k", "a", 1, 0.0)], base_seq=0) == -1
    assert broker.end_offsets("t") == [1]
    assert list(world.trace.to_frame().event) == ["append", "duplicate_dropped"]


def test_a_batch_that_skips_ahead_is_refused_as_out_of_order():
    _, broker = _broker(1)
    broker.produce("p#0", "t", 0, [("k", "a", 1, 0.0)], base_seq=0)
    with pytest.raises(sk.OutOfOrderSequence):
        broker.produce("p#0", "t", 0, [("k", "c", 3, 0.0)], base_seq=2)


def test_overlapping_outages_keep_the_broker_down_until_the_last_one_ends():
    world, broker = _broker(1)
    broker.outage(10, 20)
    broker.outage(20, 20)
    world.run(until=35)
    with pytest.raises(sk.BrokerUnavailable):
        broker.produce("p", "t", 0, [("k", "a", 1, 0.0)])
    world.run(until=41)
    assert broker.produce("p", "t", 0, [("k", "a", 1, 0.0)]) == 0
    events = list(world.trace.to_frame().event)
    assert events.count("broker_down") == 1 and events.count("broker_up") == 1


def test_offset_for_time_finds_the_first_record_at_or_after_a_timestamp():
    _, broker = _broker(1)
    broker.produce("p", "t", 0, [("k", "a", 1, 5.0), ("k", "b", 2, 9.0)])
    log = broker.log_of("t", 0)
    assert (log.offset_for_time(0), log.offset_for_time(6), log.offset_for_time(10)) == (0, 1, 2)


@pytest.mark.parametrize("bad", [dict(topic=""), dict(partitions=0), dict(partitions=True)])
def test_bad_topics_are_config_errors(bad):
    _, broker = _broker()
    with pytest.raises(sk.ConfigError):
        broker.create_topic(**{"topic": "u", "partitions": 1, **bad})


def test_an_unknown_topic_or_partition_is_a_config_error_naming_what_exists():
    _, broker = _broker()
    with pytest.raises(sk.ConfigError, match="'t'"):
        broker.log_of("nope")
    with pytest.raises(sk.ConfigError, match="0..1"):
        broker.log_of("t", 5)
