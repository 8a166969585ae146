"""Bad input never escapes: every scenario, one odd parameter at a time, ends in a clean ConfigError or a run.

For each registered scenario, hypothesis changes one parameter of the defaults to an odd value (NaN,
infinities, negatives, zero, huge numbers, tiny intervals, wrong types, strings where pairs belong) and
calls the scenario with a small workload. Every outcome must be a :class:`simkit.ConfigError` with a
one-line message, or a finished run whose trace has no NaN time; never another exception, never a hang
(each call runs under an alarm that fails the test instead).
"""

from __future__ import annotations

import math
import signal
from contextlib import contextmanager

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import simkit as sk
from simkit.scenarios import SCENARIOS

#: Seconds one call may take before the test calls it a hang.
LIMIT_S = 30

ODD_NUMBERS = [math.nan, math.inf, -math.inf, -1, -1e-9, 0, 1e-9, 1e-6, 0.5, 3, 10**12, 1e300, 2**63]
ODD_OTHERS = [None, True, "ab", "", (), (1,), (1, 2, 3), (math.nan, 1), (0, -5), [[0, "x"]], {"a": 1}, object()]

#: The workload parameters shrunk for every call, so each example stays quick.
SMALL = {"messages": 40, "requests": 40, "users": 20, "orders": 30, "payments": 40}


@contextmanager
def alarm(seconds: int):
    def hang(signum, frame):
        raise TimeoutError(f"no outcome within {seconds} s: a hang")

    previous = signal.signal(signal.SIGALRM, hang)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def small_defaults(entry) -> dict:
    names = set(entry.params.names())
    return {k: v for k, v in SMALL.items() if k in names}


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(SCENARIOS))
@settings(max_examples=25, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck),
          database=None)
@given(data=st.data())
def test_one_odd_parameter_gives_a_config_error_or_a_finished_run(name, data):
    entry = SCENARIOS[name]
    names = [n for n in entry.params.names() if n not in ("design", "seed")]
    param = data.draw(st.sampled_from(names), label="parameter")
    value = data.draw(st.sampled_from(ODD_NUMBERS + ODD_OTHERS), label="value")
    kwargs = {**small_defaults(entry), param: value}
    with alarm(LIMIT_S):
        try:
            result = entry.function(entry.designs[0], **kwargs)
        except sk.ConfigError as err:
            message = str(err)
            assert "\n" not in message and err.param, message
            return
    times = result.trace["time"].to_numpy()
    assert not any(math.isnan(t) for t in times), f"NaN time in the trace of {name}({param}={value!r})"


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_each_scenario_runs_under_compare_with_each_design(name):
    entry = SCENARIOS[name]
    df = sk.compare(name, entry.designs, seeds=1, **small_defaults(entry))
    assert list(df.design) == list(entry.designs)
    produced = set(df.columns) - {"design", "seed"}
    assert produced <= set(entry.fields) | set(entry.params.names()), (
        f"{name} reports fields it does not declare: {sorted(produced - set(entry.fields))}")
    assert set(entry.fields) <= produced, f"{name} declares fields it never reports"
