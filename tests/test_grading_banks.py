"""Every answer in the exercise banks gets exactly the points it should, for the reason it should."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from simkit.grading import grade_source


def _bank(name):
    path = Path(__file__).parent / "exercise_banks" / f"{name}.py"
    spec = importlib.util.spec_from_file_location(f"bank_{name}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


ex01, ex02, ex04 = _bank("ex01"), _bank("ex02"), _bank("ex04")
ex03, ex05, ex06, ex10 = _bank("ex03"), _bank("ex05"), _bank("ex06"), _bank("ex10")
ex07 = _bank("ex07")
ex08 = _bank("ex08")
ex09 = _bank("ex09")

BANKS = {"01": ex01, "02": ex02, "03": ex03, "04": ex04, "05": ex05, "06": ex06, "07": ex07, "08": ex08, "09": ex09,
         "10": ex10}


def _cases():
    for name, bank in BANKS.items():
        yield pytest.param(name, bank.REFERENCE, bank.FULL, "", id=f"{name}-reference")
        for case, (source, points, why) in bank.BANK.items():
            yield pytest.param(name, source, points, why, id=f"{name}-{case}")


@pytest.mark.parametrize(("exercise", "source", "points", "why"), list(_cases()))
def test_each_answer_in_the_bank_gets_exactly_its_points_per_criterion(exercise, source, points, why):
    grade = grade_source(exercise, source)
    assert tuple(c.points for c in grade.criteria) == points, str(grade)
    assert grade.max_points == sum(c.max_points for c in grade.criteria)
    lost = [c for c in grade.criteria if c.points < c.max_points]
    assert not lost or any(why in c.feedback for c in lost), str(grade)
    if points == tuple(c.max_points for c in grade.criteria):
        assert grade.passed and grade.failing_run is None
    else:
        assert not grade.passed and grade.failing_run is not None


NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"


@pytest.mark.parametrize("exercise", sorted(BANKS))
def test_the_notebooks_reference_gets_full_marks_and_the_starter_loses_its_known_faults(exercise):
    from simkit.grading.batch import answer_of

    bank = BANKS[exercise]
    (solution,) = NOTEBOOKS.glob(f"solutions/{exercise}-*.ipynb")
    (starter,) = NOTEBOOKS.glob(f"exercises/{exercise}-*.ipynb")
    reference = grade_source(exercise, answer_of(solution)[1])
    assert reference.passed, str(reference)
    points, why = bank.STARTER_FAULTS
    grade = grade_source(exercise, answer_of(starter)[1])
    assert tuple(c.points for c in grade.criteria) == points, str(grade)
    assert any(why in c.feedback for c in grade.criteria if c.points < c.max_points), str(grade)
