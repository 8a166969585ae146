"""Crash plans, timed strikes, kills at random instants and fault windows, each on its own."""

import statistics

import pytest

import simkit as sk
from simkit.faults import CrashPlan, check_kill_rate, check_rate, kills, strike_at, window


def test_a_crash_schedule_strikes_exactly_the_message_and_point_it_names():
    plan = CrashPlan(sk.World(seed=1), "c", ["before", "after"], schedule=[(2, "after")])
    for n in range(4):
        plan.arm()
        plan.point("before")  # never armed here
        if n == 2:
            with pytest.raises(sk.Crash) as crash:
                plan.point("after")
            assert crash.value.point == "after"
        else:
            plan.point("after")


def test_crash_rate_is_the_share_of_messages_that_crash_and_points_are_equally_likely():
    plan = CrashPlan(sk.World(seed=7), "c", ["a", "b"], rate=0.2)
    armed = [plan.arm() for _ in range(20_000)]
    crashed = [p for p in armed if p is not None]
    assert 0.18 < len(crashed) / len(armed) < 0.22
    assert 0.45 < crashed.count("a") / len(crashed) < 0.55


def test_two_designs_under_one_seed_crash_on_the_same_messages():
    one = CrashPlan(sk.World(seed=3), "c", ["a", "b"], rate=0.1)
    two = CrashPlan(sk.World(seed=3), "c", ["a", "b", "c"], rate=0.1)
    crashed_one = [n for n in range(2000) if one.arm() is not None]
    crashed_two = [n for n in range(2000) if two.arm() is not None]
    assert crashed_one == crashed_two


def test_an_undeclared_point_is_a_config_error():
    plan = CrashPlan(sk.World(seed=1), "c", ["a"])
    with pytest.raises(sk.ConfigError, match="crash point"):
        plan.point("b")


@pytest.mark.parametrize("schedule", [[(1,)], [(-1, "a")], [(1.5, "a")], [(1, "zzz")]])
def test_bad_crash_schedules_are_config_errors(schedule):
    with pytest.raises(sk.ConfigError, match="crash_schedule"):
        CrashPlan(sk.World(seed=1), "c", ["a"], schedule=schedule)


def test_rates_are_checked():
    assert check_rate("crash_rate", 0.5) == 0.5
    assert check_kill_rate(3) == 3.0
    for bad in (-0.1, 1.5, float("nan"), "x"):
        with pytest.raises(sk.ConfigError, match="crash_rate"):
            check_rate("crash_rate", bad)
    for bad in (-1, float("inf"), float("nan"), None):
        with pytest.raises(sk.ConfigError, match="kill_rate"):
            check_kill_rate(bad)


def test_kills_come_at_exponential_gaps_of_mean_one_second_over_the_rate():
    w = sk.World(seed=5)
    times = []
    kills(w, "victim", 4, lambda: times.append(w.now))
    w.run(until=500_000)
    gaps = [b - a for a, b in zip([0.0] + times, times)]
    assert 1900 < len(times) < 2100
    assert statistics.mean(gaps) == pytest.approx(250, rel=0.05)
    assert statistics.median(gaps) == pytest.approx(250 * 0.693, rel=0.08)  # exponential: median = mean ln 2


def test_kills_stop_when_the_component_is_gone_for_good():
    w = sk.World(seed=5)
    times = []

    def strike():
        times.append(w.now)
        return len(times) < 3

    kills(w, "victim", 10, strike)
    w.run(until=100_000)
    assert len(times) == 3


def test_strike_at_calls_back_at_that_time_and_refuses_the_past():
    w = sk.World(seed=1)
    seen = []
    strike_at(w, 250, lambda: seen.append(w.now))
    w.run(until=1000)
    assert seen == [250]
    with pytest.raises(sk.ConfigError, match="time"):
        strike_at(w, 10, lambda: None)


def test_a_window_opens_and_closes_at_its_times():
    w = sk.World(seed=1)
    seen = []
    assert window(w, 100, 50, lambda: seen.append(("start", w.now)), lambda: seen.append(("end", w.now))) == \
        (100.0, 150.0)
    w.run(until=1000)
    assert seen == [("start", 100), ("end", 150)]
    with pytest.raises(sk.ConfigError, match="duration"):
        window(w, 2000, 0, lambda: None, lambda: None)
