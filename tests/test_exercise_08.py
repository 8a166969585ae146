"""Exercise 08 (order workflow): every answer in the bank gets exactly its points, with the right reason."""

import importlib.util
from pathlib import Path

import pytest

from simkit.grading import grade_source

_spec = importlib.util.spec_from_file_location("bank_ex08", Path(__file__).parent / "exercise_banks" / "ex08.py")
ex08 = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(ex08)

CASES = [("reference", ex08.REFERENCE, ex08.FULL, "")] + [(k, *v) for k, v in ex08.BANK.items()]


@pytest.mark.parametrize(("case", "source", "points", "why"), CASES, ids=[c[0] for c in CASES])
def test_ex08_each_answer_gets_exactly_its_points(case, source, points, why):
    grade = grade_source("08", source)
    assert tuple(c.points for c in grade.criteria) == points, str(grade)
    lost = [c for c in grade.criteria if c.points < c.max_points]
    assert not lost or any(why in c.feedback for c in lost), str(grade)
