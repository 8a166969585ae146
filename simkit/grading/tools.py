"""Tools every exercise hands the learner: the context with the clock and extra crash points."""

from __future__ import annotations

from typing import Any

from ..errors import ConfigError
from .faults import Faults

__all__ = ["LearnerContext"]


class LearnerContext:
    """``ctx.now`` (ms), ``ctx.timeout(ms)``, ``ctx.all_of(events)`` and ``ctx.crash_point(name)``."""

    def __init__(self, world: Any, faults: Faults):
        self._world, self._faults = world, faults

    @property
    def now(self) -> float:
        """Simulated time in ms."""
        return self._world.env.now

    def timeout(self, ms: float) -> Any:
        """An event ``ms`` simulated milliseconds from now: ``yield ctx.timeout(5)``."""
        if isinstance(ms, bool) or not isinstance(ms, (int, float)) or ms < 0:
            raise ConfigError("ms", ms, "a number of ms >= 0")
        return self._world.env.timeout(ms)

    def all_of(self, events: Any) -> Any:
        """An event that fires when every event in ``events`` has: ``yield ctx.all_of(done)``."""
        import simpy

        events = list(events) if not isinstance(events, simpy.Event) else [events]
        if not all(isinstance(e, simpy.Event) for e in events):
            raise ConfigError("events", events, "a list of events the tools returned")
        return self._world.env.all_of(events)

    def crash_point(self, name: str) -> None:
        """A point of your own where the grader may also crash your code."""
        if not isinstance(name, str) or not name:
            raise ConfigError("name", name, "a non-empty string")
        self._faults.point(f"your point {name!r}", declared=True)
