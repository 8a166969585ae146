"""Graded exercises whose grader owns the crashes.

A learner calls ``sk.grading.check("01", handle)`` in the exercise notebook; an
instructor runs ``python -m simkit.grading grade SUBMISSIONS/ --out grades.csv``. Both
send the learner's cell to a new grading process, which runs it once without crashes,
then once with a crash at every crash point the learner's code passed (before and after
every durable step the tools take: each ``tx.commit()``, publish or offset commit),
then with seeded random crashes, each run in a forked process with time and memory
limits. Points are fixed per criterion. See ``simkit/grading/README.md``.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterable
from typing import Any

from ..errors import ConfigError
from ..faults import check_rate
from ..params import check_count, check_positive
from ..world import check_seed
from .batch import grade_folder, release
from .learner import check, grade_source, source_of
from .result import CriterionResult, FailingRun, Grade
from .show import plot_failing_run, plot_points, show
from .spec import EXERCISES, Anomaly, Case, Criterion, Exercise, exercise, register

__all__ = [
    "EXERCISES",
    "Anomaly",
    "Case",
    "Criterion",
    "CriterionResult",
    "Exercise",
    "FailingRun",
    "Grade",
    "check",
    "exercise",
    "grade_folder",
    "grade_handler",
    "grade_source",
    "plot_failing_run",
    "plot_points",
    "register",
    "release",
    "show",
    "source_of",
]


def grade_handler(handle: Callable[..., Any], seeds: int | Iterable[int] = 3, schedules: int = 6, *,
                  messages: int = 6, crash_rate: float = 0.3, wall_limit: float = 2.0) -> Grade:
    """Deprecated: use ``check("01", handle)``. Grades ``handle`` on exercise 01.

    The grader now owns the crash schedule, seeds and limits, so ``seeds``,
    ``schedules``, ``messages``, ``crash_rate`` and ``wall_limit`` are checked and ignored.
    """
    if isinstance(seeds, int) and not isinstance(seeds, bool):
        check_count("seeds", seeds)
    else:
        try:
            listed = [check_seed(s) for s in seeds]  # type: ignore[union-attr]
        except (TypeError, ConfigError):
            raise ConfigError("seeds", seeds, "a count >= 1 or a non-empty list of int seeds") from None
        if not listed:
            raise ConfigError("seeds", seeds, "a count >= 1 or a non-empty list of int seeds")
    check_count("schedules", schedules)
    check_count("messages", messages, 1, 1000)
    check_rate("crash_rate", crash_rate)
    check_positive("wall_limit", wall_limit)
    warnings.warn("grade_handler(handle, ...) is deprecated: use simkit.grading.check('01', handle); the grader "
                  "now owns seeds, crash schedules and limits", DeprecationWarning, stacklevel=2)
    return grade_source("01", source_of(handle))
