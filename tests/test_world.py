"""One seed, one history; named streams; the trace schema; the wall-clock guard."""

import pandas as pd
import pytest

import simkit as sk


def test_same_seed_same_trace():
    a = sk.scenarios.throughput("round_robin", arrival_rate=0.5, service_rate=1.0, partitions=2, consumers=2,
                                messages=500, seed=7).trace
    b = sk.scenarios.throughput("round_robin", arrival_rate=0.5, service_rate=1.0, partitions=2, consumers=2,
                                messages=500, seed=7).trace
    pd.testing.assert_frame_equal(a, b)


def test_different_seed_different_trace():
    a = sk.scenarios.throughput("round_robin", arrival_rate=0.5, service_rate=1.0, messages=200, seed=1).trace
    b = sk.scenarios.throughput("round_robin", arrival_rate=0.5, service_rate=1.0, messages=200, seed=2).trace
    assert not a["time"].equals(b["time"])


def test_named_streams_do_not_depend_on_other_components():
    w1 = sk.World(seed=5)
    first = [w1.rng("consumer-0").random() for _ in range(3)]
    w2 = sk.World(seed=5)
    w2.rng("a-new-component").random()
    assert [w2.rng("consumer-0").random() for _ in range(3)] == first


def test_trace_has_the_documented_columns():
    t = sk.scenarios.throughput("round_robin", arrival_rate=0.5, service_rate=1.0, messages=50, seed=1).trace
    assert list(t.columns) == list(sk.COLUMNS)
    for col in ("time", "component", "event", "topic", "partition", "offset", "key", "msg_id"):
        assert col in t.columns
    assert set(t.event) <= set(sk.EVENTS)


@pytest.mark.parametrize("seed", [1.5, "1", None, True])
def test_seed_must_be_an_int(seed):
    with pytest.raises(sk.ConfigError, match="seed"):
        sk.World(seed=seed)


def test_component_names_are_unique():
    w = sk.World(seed=1)
    sk.Broker(w)
    with pytest.raises(sk.ConfigError, match="name"):
        sk.Broker(w)


def test_a_handler_that_never_returns_is_stopped_with_a_clear_error():
    w = sk.World(seed=1)
    b = sk.Broker(w)
    b.create_topic("t")
    sk.Producer(w, b).send("t", msg_id=1)

    def forever(record):
        while True:
            pass

    sk.Consumer(w, b, "c", "t", forever, auto_offset_reset="earliest")
    with pytest.raises(sk.ExerciseError, match="wall_limit"):
        w.run(until=100, wall_limit=0.5)
