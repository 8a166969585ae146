"""When components crash: at a time, at a named point in their code path, or at random with a rate.

``crash_rate`` means one thing everywhere in simkit: each time the component under
test *starts handling a message*, with probability ``crash_rate`` it will crash at one
of its named crash points, chosen uniformly. The dice only decide *when* and *where*
the crash happens; what is then lost or repeated follows from the design.

Two draws are made for every message whatever the outcome, so two designs run with one
seed crash on the same messages (common random numbers).

``kill_rate`` is the other way to crash: kills at random *instants*, so many a second
of simulated time (:func:`kills`), which strike each step of the component in
proportion to how long it takes, as a ``SIGKILL`` does to a real process.
"""

from __future__ import annotations

from typing import Any, Callable, Generator, Iterable, Sequence

import simpy

from .errors import ConfigError, Crash
from .params import check_rate
from .world import World

__all__ = ["CrashPlan", "check_kill_rate", "check_rate", "kills", "strike_at", "window"]




class CrashPlan:
    """The crash schedule of one component.

    * ``points``: the component's named crash points, in code-path order.
    * ``rate``: the crash probability per message handled (see the module docs).
    * ``schedule``: exact crashes as ``(n, point)`` pairs: crash at ``point`` while
      handling the ``n``-th message (counting from 0, redeliveries included). Tests and
      graders use it to try every crash position.
    """

    def __init__(
        self,
        world: World,
        component: str,
        points: Sequence[str],
        rate: float = 0.0,
        schedule: Iterable[tuple[int, str]] = (),
    ):
        if not points:
            raise ConfigError("crash_points", points, "at least one named crash point")
        self.component = component
        self.points = tuple(points)
        self.rate = check_rate("crash_rate", rate)
        self.schedule: dict[int, str] = {}
        for item in schedule:
            try:
                n, point = item
            except (TypeError, ValueError):
                raise ConfigError("crash_schedule", item, "(n, point) pairs") from None
            if isinstance(n, bool) or not isinstance(n, int) or n < 0:
                raise ConfigError("crash_schedule", item, "(n, point) with n an int >= 0")
            if point not in self.points:
                raise ConfigError("crash_schedule", item, f"a point among {list(self.points)}")
            self.schedule[n] = point
        self._rng = world.rng(f"{component}/crash")
        self.handled = 0
        self.armed: str | None = None

    @property
    def active(self) -> bool:
        """False when this plan can never crash (no rate, no schedule)."""
        return bool(self.rate or self.schedule)

    def arm(self) -> str | None:
        """Called as the component starts handling a message: decide if and where it crashes."""
        n = self.handled
        self.handled += 1
        point = self.schedule.get(n) if self.schedule else None
        if self.rate:
            u, v = self._rng.random(), self._rng.random()
            if point is None and u < self.rate:
                point = self.points[int(v * len(self.points))]
        self.armed = point
        return point

    def disarm(self) -> None:
        self.armed = None

    def hit(self, name: str) -> None:
        """Like :meth:`point`, for the component's own built-in points (no name check)."""
        if self.armed is not None and self.armed == name:
            self.armed = None
            raise Crash(self.component, name)

    def point(self, name: str) -> None:
        """Pass the crash point ``name``: raise :class:`Crash` if the plan crashes here."""
        if self.armed is not None and self.armed == name:
            self.armed = None
            raise Crash(self.component, name)
        if name not in self.points:
            raise ConfigError("crash point", name, f"one of {list(self.points)} declared by {self.component}")


def window(
    world: World,
    start: float,
    duration: float,
    on_start: Callable[[], None],
    on_end: Callable[[], None],
) -> tuple[float, float]:
    """Schedule a fault window: ``on_start()`` at ``start`` ms, ``on_end()`` ``duration`` ms later.

    Validates both numbers (a ConfigError names the one that is wrong) and returns the
    window as ``(start, end)``. Broker outages, database outages and cut links all use it.
    """
    now = world.env.now
    if isinstance(start, bool) or not isinstance(start, (int, float)) or start < now:
        raise ConfigError("start", start, f"a time in ms >= now ({now})")
    if isinstance(duration, bool) or not isinstance(duration, (int, float)) or duration <= 0:
        raise ConfigError("duration", duration, "a duration in ms > 0")
    env = world.env

    def _window() -> Generator[simpy.Event, Any, None]:
        yield env.timeout(start - env.now)
        on_start()
        yield env.timeout(duration)
        on_end()

    env.process(_window())
    return float(start), float(start + duration)


def check_kill_rate(value: Any) -> float:
    """Kills per second of simulated time: a finite number >= 0, else a ConfigError."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value < float("inf"):
        raise ConfigError("kill_rate", value, "a finite number of kills per second >= 0")
    return float(value)


def strike_at(world: World, time: float, strike: Callable[[], None]) -> None:
    """Call ``strike()`` at simulated time ``time`` (ms, not in the past)."""
    env = world.env
    if isinstance(time, bool) or not isinstance(time, (int, float)) or not env.now <= time < float("inf"):
        raise ConfigError("time", time, f"a time in ms >= now ({env.now})")

    def _later() -> Generator[simpy.Event, Any, None]:
        yield env.timeout(time - env.now)
        strike()

    env.process(_later())


def kills(world: World, component: str, rate: float, strike: Callable[[], bool | None]) -> None:
    """Kill ``component`` at random instants, as ``kill -9`` from outside would: ``rate`` kills a second.

    The gaps between kills are exponential with mean ``1000 / rate`` ms, drawn from the
    component's own stream ``world.rng(f"{component}/kill")``, so a kill strikes
    whatever step the component is in with a probability proportional to how long that
    step lasts (unlike ``crash_rate``, which picks one of the named crash points with
    equal weight). A kill that finds the component already down does nothing. The
    kills stop when ``strike()`` returns False (the component was closed for good).
    """
    rate = check_kill_rate(rate)
    if not rate:
        return
    env = world.env
    rng = world.rng(f"{component}/kill")
    mean_gap = 1000.0 / rate

    def _kills() -> Generator[simpy.Event, Any, None]:
        while True:
            yield env.timeout(rng.expovariate(1.0 / mean_gap))
            if strike() is False:
                return

    env.process(_kills())
