"""Parameters are validated once, where they enter, into a frozen record."""

import math
from dataclasses import FrozenInstanceError, dataclass

import pytest

import simkit as sk
from simkit.params import (
    MAX_MS,
    Params,
    check_ms,
    check_schedule,
    check_steps,
    count,
    distribution,
    ms,
    probability,
    window,
)


@dataclass(frozen=True)
class Example(Params):
    messages: int = count(10, high=100)
    timeout: float = ms(50, low=1)
    crash_rate: float = probability(0.0)
    outage: tuple | None = window()
    work: object = distribution(2)

    def check(self):
        if self.timeout > 40 and self.messages > 50:
            raise sk.ConfigError("timeout", self.timeout, "at most 40 ms when messages > 50")


def test_a_record_validates_every_field_and_is_frozen():
    p = Example(messages=5, outage=[10, 20])
    assert p.outage == (10.0, 20.0) and p.work.mean == 2
    with pytest.raises(FrozenInstanceError):
        p.messages = 6  # type: ignore[misc]


@pytest.mark.parametrize("bad", [
    dict(messages=0), dict(messages=101), dict(messages=True), dict(timeout=math.nan), dict(timeout=math.inf),
    dict(timeout=0.5), dict(crash_rate=1.5), dict(outage=(0, 0)), dict(outage=(math.nan, 1)), dict(work=-1),
    dict(work="fast"), dict(messages=60),
])
def test_every_bad_value_is_a_config_error_naming_the_parameter(bad):
    with pytest.raises(sk.ConfigError) as info:
        Example(**bad)
    assert info.value.param in bad or info.value.param == "timeout"


def test_times_are_finite_and_capped():
    with pytest.raises(sk.ConfigError):
        check_ms("t", MAX_MS * 2)
    assert check_ms("t", 0) == 0.0


def test_an_interval_may_not_cut_a_run_into_millions_of_steps():
    with pytest.raises(sk.ConfigError, match="sample_every"):
        check_steps("sample_every", 1e-9, 10_000)
    assert check_steps("sample_every", 1, 10_000) == 1


def test_a_string_is_not_a_crash_schedule():
    with pytest.raises(sk.ConfigError):
        check_schedule("crash_schedule", "ab", ["a", "b"])
    assert check_schedule("crash_schedule", [[0, "a"]], ["a"]) == ((0, "a"),)


def test_defaults_and_replace():
    assert Example.defaults()["messages"] == 10
    p = Example().replace(messages=7)
    assert p.messages == 7 and p.timeout == 50.0
