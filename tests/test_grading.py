"""The exercise grader: the reference solution passes, the starter fails, broken handlers fail cleanly."""

from __future__ import annotations

import time
from pathlib import Path

import nbformat
import pytest

import simkit as sk
from simkit.grading import grade_handler

NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"
EXERCISE = "01-idempotent-handler.ipynb"


def _handler_from(folder: str):
    """Exec the cell tagged ``solution`` of the notebook in ``folder`` and return its ``handle``."""
    nb = nbformat.read(NOTEBOOKS / folder / EXERCISE, as_version=4)
    cells = [c for c in nb.cells if "solution" in c.metadata.get("tags", [])]
    assert len(cells) == 1, f"{folder}/{EXERCISE} must have exactly one cell tagged 'solution'"
    namespace: dict = {}
    exec(compile(cells[0].source, f"{folder}/{EXERCISE}", "exec"), namespace)
    return namespace["handle"]


def test_reference_solution_passes_with_full_points():
    grade = grade_handler(_handler_from("solutions"), seeds=4)
    assert grade.passed and grade.points == grade.max_points > 0, str(grade)
    assert grade.failing_run is None
    assert "PASSED" in str(grade)


def test_starter_fails_with_duplicates_and_shows_the_smallest_failing_run():
    grade = grade_handler(_handler_from("exercises"))
    text = str(grade)
    assert not grade.passed and grade.points < grade.max_points
    assert "duplicate" in text or "lost" in text
    run = grade.failing_run
    assert run is not None and len(run.schedule) == 1  # a single crash is enough to break it
    assert run.highlight and set(run.highlight) <= set(run.result.trace["msg_id"].dropna())


def test_a_separate_mark_then_write_loses_users():
    """Recording the user as handled before the effect commits: a crash in between loses the user."""

    def mark_first(record, ctx, db):
        tx = db.transaction()
        if tx.get("welcome.emails", record.key) is not None or tx.get("welcome.stats", record.key):
            return
        tx.put("welcome.stats", record.key, True)
        yield from tx.commit()
        ctx.crash_point("marked")
        tx = db.transaction()
        tx.put("welcome.emails", record.key, "hi")
        tx.put("welcome.stats", "signups", tx.get("welcome.stats", "signups", 0) + 1)
        yield from tx.commit()

    mark_first.crash_points = ("marked",)
    grade = grade_handler(mark_first, seeds=1)
    assert not grade.passed and "lost users" in str(grade)


def test_a_handler_that_raises_gets_a_failed_grade_naming_the_error():
    def boom(record, ctx, db):
        raise KeyError("no such user")
        yield

    grade = grade_handler(boom)
    assert not grade.passed and grade.points == 0
    assert "KeyError" in str(grade) and "no such user" in str(grade)


def test_a_handler_that_loops_forever_fails_within_the_wall_limit():
    def spin(record, ctx, db):
        while True:
            pass
        yield

    start = time.perf_counter()
    grade = grade_handler(spin, wall_limit=0.3)
    assert time.perf_counter() - start < 3
    assert not grade.passed and "wall_limit" in str(grade)


@pytest.mark.parametrize("handle", [lambda record, ctx, db: None, lambda record, ctx, db: 42])
def test_a_handler_that_is_not_a_generator_fails_with_a_plain_reason(handle):
    grade = grade_handler(handle)
    assert not grade.passed and "generator" in str(grade)


@pytest.mark.parametrize("kwargs", [dict(seeds=0), dict(seeds=[]), dict(seeds=[1.5]), dict(seeds=True),
                                    dict(schedules=0), dict(messages=0), dict(crash_rate=1.5),
                                    dict(wall_limit=0)])
def test_bad_arguments_raise_config_error(kwargs):
    def ok(record, ctx, db):
        yield

    with pytest.raises(sk.ConfigError):
        grade_handler(ok, **kwargs)


def test_grading_is_deterministic_per_seed():
    handle = _handler_from("exercises")
    a, b = grade_handler(handle, seeds=[3]), grade_handler(handle, seeds=[3])
    assert (a.points, a.feedback) == (b.points, b.feedback)
    assert a.failing_run.result.trace.equals(b.failing_run.result.trace)


def test_plots_draw_the_failing_run_and_the_points(tmp_path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    grade = grade_handler(_handler_from("exercises"), seeds=1)
    ax = sk.grading.plot_failing_run(grade)
    assert ax.get_title() and ax.collections
    ax = sk.grading.plot_points(grade)
    assert "runs correct" in ax.get_title()
    plt.close("all")
    with pytest.raises(sk.ConfigError):
        sk.grading.plot_failing_run(grade_handler(_handler_from("solutions"), seeds=1))
