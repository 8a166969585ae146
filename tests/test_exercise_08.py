"""Exercise 08 (order workflow): the notebooks' reference on a hidden case, which the starter fails."""

from __future__ import annotations

from pathlib import Path

from simkit.grading import grade_source
from simkit.grading.batch import answer_of
from simkit.grading.runner import _execute
from simkit.grading.spec import exercise

NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"

#: a case the learners never see (what an instructor passes with --hidden)
HIDDEN = {"orders": 10, "declined": [1, 8], "slow": [200, 600]}


def test_reference_solution_in_the_notebook_gets_full_marks_also_on_a_hidden_case():
    hidden = [{"seed": 13, "workload": HIDDEN, "exhaustive": True, "random_runs": 2}]
    grade = grade_source("08", answer_of(NOTEBOOKS / "solutions" / "08-order-workflow.ipynb")[1], hidden=hidden)
    assert grade.passed and grade.failing_run is None, str(grade)
    assert not grade.notes, grade.notes  # every hidden run was run, none cut by the cap


def test_the_hidden_case_catches_the_starter_without_a_crash():
    starter = answer_of(NOTEBOOKS / "exercises" / "08-order-workflow.ipynb")[1]
    run = _execute(exercise("08"), starter, 13, HIDDEN, "baseline")
    assert run.error is None and any(a.count for a in run.anomalies.values()), run.anomalies
