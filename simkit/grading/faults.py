"""The grader's crash points: passed by the tools handed to the learner, scheduled by the grader.

Every durable step a tool takes (a ``tx.commit()``, a publish, an offset commit) passes
a point before and after it, named after the step and the learner's line that took it,
such as ``"after tx.commit() of welcome.stats (line 5)"``. A schedule is a set of
``(point, i)``: crash the ``i``-th time (from 0) the run passes ``point``. Random runs
crash at each passage with ``rate``, drawn from the world's ``grader/crashes`` stream, at most
``Faults.MAX_RANDOM`` times a run.

Once a crash has struck, the component is dead until its restart calls :meth:`revive`:
every tool call and every step of the learner's generator raises :class:`Crash` again,
so a handler that catches the crash cannot go on writing.
"""

from __future__ import annotations

import sys
from collections.abc import Generator, Iterable
from typing import Any

import simpy

from ..errors import Crash, ExerciseError
from ..world import World

__all__ = ["SOURCE_NAME", "Faults", "LearnerFault", "call", "drive"]

#: the file name the learner's source is compiled under, so tools can find the learner's line
SOURCE_NAME = "<your code>"


class LearnerFault(ExerciseError):
    """The learner's code broke a rule of the exercise (not a generator, a non-event yielded, ...)."""


def learner_line() -> int | None:
    """The line of the learner's code that is calling a tool right now, if any."""
    frame = sys._getframe(1)
    while frame is not None:
        if frame.f_code.co_filename == SOURCE_NAME:
            return frame.f_lineno
        frame = frame.f_back  # type: ignore[assignment]
    return None


class Faults:
    """The crash schedule of one run and the record of every crash point passed."""

    #: random runs crash at most this often: a storm of crashes would starve any correct loop
    MAX_RANDOM = 3

    def __init__(self, world: World, component: str, schedule: Iterable[tuple[str, int]] = (),
                 rate: float = 0.0):
        self.world = world
        self.component = component
        self.schedule = {(str(p), int(i)) for p, i in schedule}
        self.rate = rate
        self._rng = world.rng("grader/crashes")
        self.counts: dict[str, int] = {}
        #: every passage: (point, i, msg_id in hand, learner-declared?)
        self.passages: list[tuple[str, int, Any, bool]] = []
        self.fired: list[tuple[str, int]] = []
        self.dead = False
        self.current: Any = None

    def step(self, when: str, what: str) -> None:
        """Pass the grader-owned point ``"{when} {what} (line N)"``."""
        line = learner_line()
        self.point(f"{when} {what}" + (f" (line {line})" if line else ""))

    def point(self, name: str, declared: bool = False) -> None:
        """Pass the crash point ``name``: raise :class:`Crash` when the schedule (or the dice) say so."""
        if self.dead:
            raise Crash(self.component, self.fired[-1][0])
        i = self.counts.get(name, 0)
        self.counts[name] = i + 1
        self.passages.append((name, i, self.current, declared))
        dice = self.rate and self._rng.random() < self.rate and len(self.fired) < self.MAX_RANDOM
        if (name, i) in self.schedule or dice:
            self.dead = True
            self.fired.append((name, i))
            raise Crash(self.component, name)

    def revive(self) -> None:
        """The component restarted: its code runs again."""
        self.dead = False


def _fault(exc: Exception, faults: Faults, who: str) -> LearnerFault:
    if isinstance(exc, MemoryError):
        return LearnerFault(f"{who} used more than the memory limit (MemoryError on msg_id {faults.current!r})")
    return LearnerFault(f"{who} raised {exc!r} on msg_id {faults.current!r}")


def call(fn: Any, faults: Faults, who: str, *args: Any) -> Any:
    """Call the learner's ``fn(*args)``, every tool sealed; its exception becomes a :class:`LearnerFault` naming it."""
    from .tools import seal

    try:
        return fn(*(seal(a) for a in args))
    except (Crash, ExerciseError):
        raise
    except Exception as exc:
        raise _fault(exc, faults, who) from exc


def drive(steps: Any, faults: Faults, who: str) -> Generator[simpy.Event, Any, Any]:
    """Run the learner's generator ``steps`` as SimPy steps; ``yield from drive(...)``.

    Refuses anything but a generator and any yielded value that is not a SimPy event,
    and stops the learner's code for good once a crash struck.
    """
    if not (hasattr(steps, "send") and hasattr(steps, "throw")):
        raise LearnerFault(f"{who} returned {steps!r}, not a generator: it must `yield` (for example "
                           "`yield from tx.commit()`) so the simulated time of each step passes")
    value: Any = None
    error: BaseException | None = None
    while True:
        if faults.dead:
            raise Crash(faults.component, faults.fired[-1][0])
        try:
            event = steps.throw(error) if error is not None else steps.send(value)
        except StopIteration as stop:
            if faults.dead:
                raise Crash(faults.component, faults.fired[-1][0]) from None
            return stop.value
        except (Crash, ExerciseError, simpy.Interrupt):
            raise
        except Exception as exc:
            raise _fault(exc, faults, who) from exc
        if faults.dead:
            raise Crash(faults.component, faults.fired[-1][0])
        if not isinstance(event, simpy.Event):
            raise LearnerFault(f"{who} yielded {event!r}, which is not a SimPy event: yield only what the "
                               "tools return, such as `yield ctx.timeout(5)` or `yield from tx.commit()`")
        error = None
        try:
            value = yield event
        except simpy.Interrupt:
            raise
        except Exception as exc:  # a failed event (a refused publish, ...): the learner may handle it
            error = exc
