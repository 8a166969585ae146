"""How an exercise is declared: its criteria (fixed points), its workloads and its anomaly checks.

An :class:`Exercise` is a spec the grader runs; it never grades anything itself.

* ``simulate(run)`` builds one world with ``run.world``, hands the learner's code
  (``run.learner.fresh()``) the exercise's narrow tools, wires every durable step of
  those tools to ``run.faults`` (the grader's crash points), runs, and returns the
  final state as plain JSON-able data. It runs in a throwaway process.
* ``anomalies(trace, state, workload)`` reads that trace and state in the grader's
  process (never the learner's) and names what went wrong: ``{name: Anomaly}``.
* ``explain(name, anomaly, run)`` turns one anomaly of the smallest failing run into
  feedback that names its cause in the learner's code path.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from ..errors import ConfigError

__all__ = ["EXERCISES", "Anomaly", "Case", "Criterion", "Exercise", "exercise", "no_rows", "register"]


@dataclass(frozen=True)
class Anomaly:
    """One kind of wrong outcome in a run: how many, a few example message ids, and a short detail."""

    count: int
    examples: tuple = ()
    detail: str = ""


@dataclass(frozen=True)
class Criterion:
    """A graded property worth fixed ``points``; lost at once when any run in its scope shows one of ``anomalies``.

    ``scope`` is ``"baseline"`` (only the runs without crashes) or ``"crashes"`` (every
    run, the ones without crashes included).
    """

    name: str
    points: int
    anomalies: tuple[str, ...]
    scope: str = "crashes"


@dataclass(frozen=True)
class Case:
    """One workload under one seed: a run without crashes, one crash at every crash point passed, random runs."""

    seed: int
    workload: Mapping[str, Any] = field(default_factory=dict)
    exhaustive: bool = True
    random_runs: int = 2


@dataclass(frozen=True)
class Exercise:
    """Everything the grader needs to grade one exercise (see the module docs)."""

    name: str
    title: str
    lesson: str
    entry: str
    component: str
    criteria: tuple[Criterion, ...]
    cases: tuple[Case, ...]
    simulate: Callable[[Any], dict]
    anomalies: Callable[[Any, dict, Mapping[str, Any]], dict[str, Anomaly]]
    explain: Callable[[str, Anomaly, Any], str]
    crash_rate: float = 0.3
    run_seconds: float = 3.0
    grade_seconds: float = 60.0
    max_runs: int = 150
    memory_mb: int = 512
    #: ``draw(failing_run, ax)``: the exercise's picture of its smallest failing run (``None``: the timeline);
    #: it may return ``None`` when the run has nothing to draw
    draw: Callable[[Any, Any], Any] | None = None
    #: ``examples(failing_run)``: the trace rows :func:`~simkit.grading.show` displays under the picture
    #: (``None``: the rows of the first message the anomalies name)
    examples: Callable[[Any], Any] | None = None

    @property
    def max_points(self) -> int:
        """The exercise's fixed maximum: the sum of its criteria's points."""
        return sum(c.points for c in self.criteria)


EXERCISES: dict[str, Exercise] = {}


def no_rows(failing_run: Any) -> None:
    """``Exercise.examples`` for an exercise whose picture says it all: no trace rows under it."""
    return None


def register(ex: Exercise) -> Exercise:
    """Add ``ex`` to :data:`EXERCISES` under its name (and under its two-digit number)."""
    EXERCISES[ex.name] = ex
    return ex


def exercise(name: str) -> Exercise:
    """The registered exercise called ``name`` (``"01-idempotent-handler"`` or just ``"01"``)."""
    from . import exercises  # noqa: F401  (registers them)

    for ex in EXERCISES.values():
        if name in (ex.name, ex.name[:2]):
            return ex
    raise ConfigError("exercise", name, sorted(EXERCISES))
