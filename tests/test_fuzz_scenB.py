"""Fuzz the lessons 01, 02, 09, 10 and 11 scenarios: any one bad parameter is a clean ConfigError or a finished run.

Each example changes one parameter of a small run to a value from a wide net (huge and
negative numbers, NaN, infinities, tiny intervals, strings, tuples, None) and runs it
in a worker process with a time limit. The outcome must be a :class:`simkit.ConfigError`
or a finished run whose trace has no NaN time: never another exception, never a hang.
"""

import math
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from multiprocessing import get_context

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import simkit as sk
from simkit.scenarios import SCENARIOS

#: a small run of each scenario, so every example is quick
SMALL = {
    "profile_update": dict(users=20),
    "request_response": dict(requests=30),
    "call_chain": dict(requests=20, hops=3),
    "outage": dict(run_time=2000, start=500, outage_ms=1000),
    "order_workflow": dict(orders=20),
    "facts_vs_crud": dict(orders=20),
    "deployment": dict(requests=30),
}
#: seconds of real time one example may take before it counts as a hang
LIMIT = 60
#: parameters that decide whether a Producer's request trip outlasts its request_timeout

VALUES = st.one_of(
    st.integers(-10**13, 10**13),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([0, 1, 1e-9, 1e-3, 1e9, -1, -0.0, "a", "", None, True, False, (), (1, 2), (0, 1e12),
                     (float("nan"), 1), ("billing", 0, 10), [(1.0, 2.0)], [(0, 5)] * 3, {"a": 1}]),
    st.text(max_size=3),
)


def attempt(name: str, kwargs: dict) -> tuple[str, str]:
    """Run one example; ("config", message), ("ok", "") or ("nan", "") / ("error", repr) for a failure."""
    entry = SCENARIOS[name]
    try:
        result = entry.function(kwargs.pop("design"), **kwargs)
    except sk.ConfigError as err:
        return "config", str(err)
    except Exception as err:  # the claim under test: nothing else escapes
        return "error", f"{type(err).__name__}: {err}"
    times = result.trace["time"].to_numpy(dtype=float)
    return ("nan", "") if any(math.isnan(t) for t in times) else ("ok", "")


class Worker:
    """One forked worker process; after a timeout it is replaced, so a hung example never blocks the next."""

    def __init__(self) -> None:
        self.executor = ProcessPoolExecutor(max_workers=1, mp_context=get_context("fork"))

    def run(self, name: str, kwargs: dict) -> tuple[str, str] | None:
        """The example's outcome, or None when it ran past :data:`LIMIT` seconds."""
        future = self.executor.submit(attempt, name, kwargs)
        try:
            return future.result(timeout=LIMIT)
        except FutureTimeout:
            self.close()
            self.executor = ProcessPoolExecutor(max_workers=1, mp_context=get_context("fork"))
            return None

    def close(self) -> None:
        for process in list(getattr(self.executor, "_processes", {}).values()):
            process.kill()  # our own worker, by its handle: the hung example must not outlive the test
        self.executor.shutdown(wait=False, cancel_futures=True)


@pytest.fixture(scope="module")
def pool():
    worker = Worker()
    yield worker
    worker.close()


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(SMALL))
def test_one_bad_parameter_is_a_config_error_or_a_finished_run(name, pool):
    entry = SCENARIOS[name]
    names = sorted(n for n in entry.params.names() if n != "design")

    @settings(max_examples=25, deadline=None)
    @given(design=st.sampled_from(entry.designs), param=st.sampled_from(names), value=VALUES)
    def check(design, param, value):
        kwargs = {**SMALL[name], "design": design, param: value}
        answer = pool.run(name, kwargs)
        if answer is None:
            pytest.fail(f"{name}({design!r}, {param}={value!r}) ran for more than {LIMIT} s")
        outcome, detail = answer
        assert outcome in ("config", "ok"), f"{name}({design!r}, {param}={value!r}): {outcome} {detail}"
        if outcome == "config":
            assert "\n" not in detail and detail  # the same one-line message, naming what is allowed

    check()


@pytest.mark.parametrize("name", sorted(SMALL))
def test_every_small_run_finishes_for_every_design(name):
    for design in SCENARIOS[name].designs:
        outcome, detail = attempt(name, {**SMALL[name], "design": design})
        assert outcome == "ok", (name, design, detail)


def test_a_publish_whose_trip_outlasts_its_timeout_times_out_at_once():
    r = sk.scenarios.outage("all_async", run_time=2000, start=500, outage_ms=1000, publish_timeout=1)
    assert r.report.failed_requests > 0


def test_the_row_poller_carries_on_after_a_send_it_could_not_deliver():
    # a round trip longer than the producer's 30 s request timeout: sends time out
    r = sk.scenarios.facts_vs_crud("row_changes", orders=5, network_latency=15001, max_time=200_000)
    t = r.trace
    failed_at = t.loc[t.event == "send_failed", "time"]
    assert len(failed_at) and r.report.duration == 200_000
    later = t[(t.event == "row_read") & (t.index > failed_at.index[0])]
    assert len(later) > 0  # it did not die with the send: it went on to the next changed row
