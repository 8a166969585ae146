"""What a learner sees of a grade: the points table, the feedback, the points bars and the smallest failing run.

:func:`show` is what ``check(...)`` prints and draws in an exercise notebook; call it again
on any :class:`~.result.Grade` (one from :func:`~.learner.grade_source`, say) to see the same.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from ..errors import ConfigError
from .result import FailingRun, Grade
from .spec import exercise

__all__ = ["plot_failing_run", "plot_points", "show"]


def plot_failing_run(grade: Grade, ax: Any = None) -> Any:
    """The smallest failing run as a timeline: the crash a cross, the messages it hurt circled in red."""
    from ..plots import timeline

    if not isinstance(grade, Grade):
        raise ConfigError("grade", grade, "a Grade, as check(...) or grade_source(...) returns")
    if grade.failing_run is None:
        raise ConfigError("grade", "a passing grade", "a grade with a failing run")
    fr = grade.failing_run
    what = ", ".join(fr.anomalies) or (fr.error or "error")[:60]
    where = "no crash" if not fr.schedule else f"crash {fr.schedule[0][0]}"
    return timeline(fr.result, ax=ax, highlight=fr.highlight, title=f"{what}\nseed {fr.seed}, {where}")


def plot_points(grade: Grade, ax: Any = None) -> Any:
    """Points won per criterion, as green bars over grey bars of the criterion's maximum."""
    from ..plots import axes_or_new

    if not isinstance(grade, Grade):
        raise ConfigError("grade", grade, "a Grade, as check(...) or grade_source(...) returns")
    ax = axes_or_new(ax)
    names = [c.name for c in grade.criteria]
    ax.barh(names, [c.max_points for c in grade.criteria], color="#dddddd", edgecolor="black", label="points")
    ax.barh(names, [c.points for c in grade.criteria], color="#2ca02c", edgecolor="black", label="won")
    ax.invert_yaxis()
    ax.set_xlabel("points")
    ax.legend(loc="lower right")
    ax.set_title(f"{grade.points}/{grade.max_points} points: " +
                 ("every criterion met" if grade.passed else "some criteria not met yet"))
    return ax


def first_rows(fr: FailingRun, column: str = "msg_id") -> pd.DataFrame | None:
    """The trace rows of the first message the anomalies name (by ``column``), or ``None``."""
    if not fr.highlight:
        return None
    trace = fr.trace
    return trace[trace[column] == fr.highlight[0]]


def _display(rows: pd.DataFrame) -> None:
    try:
        from IPython import get_ipython
        from IPython.display import display
    except ImportError:  # pragma: no cover - IPython comes with the notebook extra
        get_ipython = None  # type: ignore[assignment]
    if get_ipython is not None and get_ipython() is not None:
        display(rows)
    else:
        print(rows.to_string())


def show(grade: Grade, *, plots: bool = True) -> list[Any]:
    """Print ``grade``'s points table and feedback; draw its points and its smallest failing run.

    The failing run is drawn the exercise's own way (exercise 03: the partitions' shares,
    05: every try per record, ...; otherwise the timeline with the crash and the messages
    it hurt), followed by the trace rows of the first message it hurt. ``plots=False``
    prints only. Returns the axes drawn.
    """
    import matplotlib.pyplot as plt

    if not isinstance(grade, Grade):
        raise ConfigError("grade", grade, "a Grade, as check(...) or grade_source(...) returns")
    print(grade)
    if not plots:
        return []
    drawn = [plot_points(grade, ax=plt.figure().gca())]
    plt.show()
    fr = grade.failing_run
    if fr is None:
        print("every run passed: nothing to show")
        return drawn
    try:
        ex = exercise(grade.exercise)
    except ConfigError:
        ex = None
    ax = plt.figure().gca()
    if ex is not None and ex.draw is not None:
        got = ex.draw(fr, ax)
    else:
        got = plot_failing_run(grade, ax=ax)
    if got is None:
        plt.close(ax.figure)
        print(fr.error or "the run drew nothing:", *fr.anomalies)
    else:
        drawn.append(got)
        plt.show()
    rows = ex.examples(fr) if ex is not None and ex.examples is not None else first_rows(fr)
    if rows is not None and len(rows):
        _display(rows)
    return drawn
