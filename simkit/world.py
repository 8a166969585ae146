"""The world: one SimPy environment, one trace and named random streams.

Everything in a simulation hangs off a :class:`World`. Nothing in simkit uses the
global ``random`` module or the wall clock to decide what happens, so the same
parameters and seed give the same trace on any machine.
"""

from __future__ import annotations

import hashlib
import random
import signal
import threading
from typing import Any

import simpy

from . import params
from .errors import ConfigError, ExerciseError
from .trace import Trace

__all__ = ["World", "check_seed"]


def check_seed(seed: Any) -> int:
    """Return ``seed`` if it is an int, else raise a ConfigError (bools and floats are refused)."""
    return params.check_seed("seed", seed)


class World:
    """The simulated world a scenario builds: clock, trace and randomness.

    * ``env``: the :class:`simpy.Environment`; time is in milliseconds.
    * ``trace``: the :class:`~simkit.trace.Trace` every component writes to.
    * ``rng(name)``: the random stream of the component (or purpose) called ``name``.
      Each stream is seeded from the world seed *and* the name, so adding a component
      leaves every other component's draws unchanged, and two designs run under one
      seed see the same arrivals, latencies and crash draws (common random numbers).
    """

    #: No run goes past this simulated time (ms): one simulated day, see :meth:`run`.
    time_cap: float = params.MAX_MS

    def __init__(self, seed: int = 0):
        self.seed = check_seed(seed)
        self.env = simpy.Environment()
        self.trace = Trace()
        self._streams: dict[str, random.Random] = {}
        self._names: set[str] = set()

    @property
    def now(self) -> float:
        """The simulated time in milliseconds."""
        return self.env.now

    def rng(self, name: str) -> random.Random:
        """The named random stream ``name`` (created on first use, then the same object)."""
        stream = self._streams.get(name)
        if stream is None:
            digest = hashlib.sha256(f"{self.seed}/{name}".encode()).digest()
            stream = random.Random(int.from_bytes(digest[:8], "big"))
            self._streams[name] = stream
        return stream

    def claim_name(self, name: str) -> str:
        """Reserve a component name; two components with one name would share a stream."""
        if not isinstance(name, str) or not name:
            raise ConfigError("name", name, "a non-empty string")
        if name in self._names:
            raise ConfigError("name", name, "a name no other component in this world uses")
        self._names.add(name)
        return name

    def record(self, component: str, event: str, **fields: Any) -> None:
        """Write a trace row stamped with the current time."""
        self.trace.record(self.env.now, component, event, **fields)

    def run(self, until: float | simpy.Event | None = None, wall_limit: float | None = 120.0) -> None:
        """Run the simulation until ``until`` ms, or an event, or until nothing is left to do.

        No run goes past :attr:`time_cap` of simulated time: a run still going then stops
        there with a ``time_cap`` row in the trace, so a finite run is guaranteed whatever
        the parameters. ``wall_limit`` (seconds of real time) guards against a learner's
        handler that never returns: past it the run stops with an :class:`ExerciseError`
        instead of hanging the notebook. It never changes what the simulation does.
        """
        env = self.env
        if until is not None and not isinstance(until, simpy.Event) and (
                isinstance(until, bool) or not isinstance(until, (int, float)) or not until >= env.now
                or until == float("inf")):
            raise ConfigError("until", until, f"a finite time in ms >= now ({env.now})")
        cap = self.time_cap
        if until is None or isinstance(until, simpy.Event):
            if env.now >= cap:
                return
            stop = env.timeout(cap - env.now)
            target: Any = stop if until is None else (until | stop)
        else:
            if until == env.now:
                return
            target = min(float(until), cap)
            stop = None
        self._run_guarded(target, wall_limit)
        if stop is not None and stop.processed and not (isinstance(until, simpy.Event) and until.triggered):
            self.record("world", "time_cap", detail=f"the run reached the simulated time cap of {cap:g} ms")

    def _run_guarded(self, until: Any, wall_limit: float | None) -> None:
        guard = wall_limit is not None and threading.current_thread() is threading.main_thread() \
            and hasattr(signal, "setitimer")
        if not guard:
            self.env.run(until=until)
            return

        def _timeout(signum: int, frame: Any) -> None:
            raise ExerciseError(
                f"the simulation ran for more than wall_limit={wall_limit} s of real time "
                f"(simulated time {self.env.now:.1f} ms): a handler may loop forever, or the "
                "parameters make the run far larger than intended"
            )

        previous = signal.signal(signal.SIGALRM, _timeout)
        signal.setitimer(signal.ITIMER_REAL, wall_limit)
        try:
            self.env.run(until=until)
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, previous)
