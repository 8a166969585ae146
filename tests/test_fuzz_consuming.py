"""Fuzzing the consuming lessons' scenarios (04 to 08): every call ends in a clean ConfigError or a finished run.

``tests/test_fuzz.py`` changes one parameter of each scenario's first design. This module goes further for
``consume``, ``dedupe``, ``ordering``, ``hot_keys``, ``dead_letters``, ``replay`` and ``schema_drift``: every
design, up to three parameters changed together (so relations between them are met: an interval against the
run's length, ``poison`` against ``messages``, a crash point against the design), values of each parameter's
own kind as well as odd ones, and a learner's own distributions whose draws are negative or NaN. Each call
runs in a forked child process with a memory limit and is called a hang when it gives no outcome within
:data:`LIMIT_S` seconds, so neither a hang nor a MemoryError can take the test run down with it.
"""
from __future__ import annotations

import math
import multiprocessing
import random
import resource
import warnings

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import simkit as sk
from simkit.scenarios import SCENARIOS

NAMES = ("consume", "dedupe", "ordering", "hot_keys", "dead_letters", "replay", "schema_drift", "rebalance")

#: Seconds of real time one call may take before the test calls it a hang.
LIMIT_S = 30
#: The most memory (bytes) a call may take: a run asking for more fails the test, not the machine.
MEMORY = 2 * 1024**3



class Negative(sk.Distribution):
    """A learner's distribution that draws a negative time."""

    mean = 1.0

    def sample(self, rng: random.Random) -> float:
        return -5.0


class NotANumber(sk.Distribution):
    """A learner's distribution that draws NaN (and has no mean to reckon a run's length by)."""

    def sample(self, rng: random.Random) -> float:
        return math.nan


ODD = [math.nan, math.inf, -math.inf, -1, -1e-9, 0, 1e-9, 10**12, 1e300, None, True, "ab", "", (), (1, 2, 3),
       (math.nan, 1), (0, -5), [[0, "x"]], {"a": 1}, Negative(), NotANumber()]
POINTS = ["before_process", "after_process", "after_email", "after_effect_tx"]
DISTRIBUTIONS = [sk.constant(0), sk.constant(3), sk.uniform(1, 8), sk.exponential(20), sk.constant(5_000), 0, 3, 50.0]
FLOATS = [0.0, 0.05, 0.3, 1.0, 2.5, 50.0, 300.0, 2000.0, 30_000.0]
WINDOWS = [(100.0, 400.0), (0, 50), (2_000, 10_000)]


def sensible(default: object) -> list:
    """Values of the same kind as a parameter's default, most of them allowed."""
    if isinstance(default, bool):
        return [True, False]
    if isinstance(default, int):
        return [0, 1, 2, 3, 5, 20, 64]
    if isinstance(default, float):
        return FLOATS
    if isinstance(default, sk.Distribution):
        return DISTRIBUTIONS
    if default is None:
        return [None, True, False, "BACKWARD", "producer_first", *FLOATS[1:], *WINDOWS]
    return [default, "earliest", "time", "latest", 0, 7]

#: The workload shrunk for every call, so each example stays quick.
SMALL = {"messages": 40, "users": 20}


def outcome(name: str, design: str, kwargs: dict, conn) -> None:  # runs in the child process
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY, MEMORY))
    warnings.simplefilter("ignore")
    try:
        result = SCENARIOS[name].function(design, **kwargs)
    except sk.ConfigError as err:
        message = str(err)
        ok = bool(err.param) and "\n" not in message
        conn.send(("config_error", message) if ok else ("bad_config_error", repr(message)))
        return
    except BaseException as exc:  # noqa: BLE001 - the test is about what escapes
        conn.send(("escape", f"{type(exc).__name__}: {exc}"))
        return
    times = result.trace["time"].to_numpy(dtype=float)
    conn.send(("nan_time", "") if any(math.isnan(t) for t in times) else ("ran", ""))


def call(name: str, design: str, kwargs: dict) -> tuple[str, str]:
    """What ``SCENARIOS[name].function(design, **kwargs)`` came to in a child process, or ("hang", "")."""
    ctx = multiprocessing.get_context("fork")
    ours, theirs = ctx.Pipe(duplex=False)
    child = ctx.Process(target=outcome, args=(name, design, kwargs, theirs))
    child.start()
    try:
        got = ours.recv() if ours.poll(LIMIT_S) else ("hang", "")
    except EOFError:  # the child died without a word: killed for its memory, say
        got = ("died", f"exit code {child.exitcode}")
    finally:
        if child.is_alive():
            child.kill()
        child.join()
    return got


@st.composite
def calls(draw, name: str):
    entry = SCENARIOS[name]
    names = [n for n in entry.params.names() if n not in ("design", "seed")]
    design = draw(st.sampled_from(entry.designs), label="design")
    changed = draw(st.lists(st.sampled_from(names), min_size=1, max_size=3, unique=True), label="parameters")
    kwargs = {k: v for k, v in SMALL.items() if k in names}
    for param in changed:
        if param == "crash_schedule":
            value = draw(st.lists(st.tuples(st.integers(-1, 50), st.sampled_from(POINTS + ["midway"])),
                                  max_size=4), label=param)
        else:
            good = st.sampled_from(sensible(entry.params.defaults()[param]))
            value = draw(st.one_of(good, good, st.sampled_from(ODD)), label=param)
        kwargs[param] = value
    return design, kwargs


@pytest.mark.slow
@pytest.mark.parametrize("name", NAMES)
@settings(max_examples=60, deadline=None, derandomize=True, database=None,
          suppress_health_check=list(HealthCheck))
@given(data=st.data())
def test_every_design_with_odd_and_sensible_parameters_gives_a_config_error_or_a_finished_run(name, data):
    design, kwargs = data.draw(calls(name), label="call")
    kind, detail = call(name, design, kwargs)
    assert kind in ("config_error", "ran"), f"{name}({design!r}, **{kwargs!r}) -> {kind}: {detail}"


def test_the_child_process_reports_a_hang_and_an_escape_and_a_clean_error():
    assert call("consume", "auto", {"messages": 10})[0] == "ran"
    assert call("consume", "auto", {"messages": 0})[0] == "config_error"
    assert call("consume", "auto", {"arrival_interval": Negative(), "messages": 5})[0] == "config_error"


def test_a_trip_longer_than_the_request_timeout_times_out_instead_of_escaping_from_simpy():
    kind, detail = call("ordering", "key", {"users": 10, "request_timeout": 1, "network_latency": 5})
    assert kind == "ran", detail
