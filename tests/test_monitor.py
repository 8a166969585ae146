"""A monitor samples a metric on its schedule and writes one alert per crossing into the trace."""

import math

import pytest

import simkit as sk


def _world_with(values, **kw):
    world = sk.World(1)
    it = iter(values)
    mon = sk.Monitor(world, "lag", lambda: next(it), **kw)
    world.run(until=(len(values) - 0.5) * mon.interval)  # the last sample, and not one more
    return world, mon


def test_samples_are_taken_every_interval_and_kept_as_a_series():
    _, mon = _world_with([0, 1, 2, 3], interval=100)
    frame = mon.to_frame()
    assert list(frame.time) == [0, 100, 200, 300] and list(frame.lag) == [0, 1, 2, 3]


def test_one_alert_per_crossing_and_a_resolved_row_when_it_falls_back():
    world, mon = _world_with([0, 5, 6, 1, 7, 0], interval=10, threshold=4)
    events = list(world.trace.to_frame().event)
    assert events == ["alert", "resolved", "alert", "resolved"] and mon.alerts == 2


@pytest.mark.parametrize("bad", [dict(interval=0), dict(interval=math.nan), dict(interval=True),
                                 dict(threshold=math.inf), dict(threshold="5"), dict(until=math.nan)])
def test_bad_settings_are_config_errors(bad):
    with pytest.raises(sk.ConfigError) as info:
        sk.Monitor(sk.World(0), "m", lambda: 0, **bad)
    assert info.value.param in bad
