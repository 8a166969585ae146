"""Exercise 06 (schema evolution): the notebooks' reference and starter, and the registry's answers."""

from __future__ import annotations

from pathlib import Path

import pytest

from simkit.grading import grade_source
from simkit.grading.batch import answer_of
from simkit.grading.exercises import schema_evolution as se
from simkit.schemas import Field

NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"
EXERCISE = "06-schema-evolution.ipynb"


def _answer(folder: str) -> str:
    return answer_of(NOTEBOOKS / folder / EXERCISE)[1]


@pytest.fixture(scope="module")
def starter_grade():
    return grade_source("06", _answer("exercises"))


def test_reference_solution_in_the_notebook_gets_full_marks_also_on_a_hidden_rollout():
    hidden = [{"seed": 7, "workload": {"payments": 45}, "exhaustive": False, "random_runs": 0}]
    grade = grade_source("06", _answer("solutions"), hidden=hidden)
    assert grade.passed and grade.points == grade.max_points == 10, str(grade)
    assert grade.failing_run is None and grade.runs == 2


def test_starter_loses_every_criterion_each_for_its_own_reason(starter_grade):
    feedback = {c.name: (c.points, c.feedback) for c in starter_grade.criteria}
    assert [p for p, _ in feedback.values()] == [0, 0, 0]
    assert "has no default" in feedback["BACKWARD accepts V2"][1]
    assert "it is v1 itself" in feedback["FULL refuses V2_NOT_FULL"][1]
    assert "rollout could not run" in feedback["the consumer reads v1 and V2"][1]
    assert set(starter_grade.failing_run.anomalies) == {"backward_refuses_v2", "not_the_change", "full_accepts",
                                                        "not_consumed"}


def test_the_same_submission_gets_the_same_grade_in_two_processes(starter_grade):
    again = grade_source("06", _answer("exercises"))
    strip = lambda g: {k: v for k, v in g.to_json().items() if k != "seconds"}
    assert strip(again) == strip(starter_grade)


def test_registry_answers_follow_confluents_modes_for_adding_and_removing_fields():
    optional = se.V1.add_field(Field("channel", "string", "unknown"))
    required = se.V1.add_field(Field("channel", "string"))
    answers = se.registry_answers(optional, optional.remove_field("currency"))
    assert answers["v2"]["backward"] == [] and answers["v2"]["keeps_v1"] == []
    assert answers["not_full"]["backward"] == [] and answers["not_full"]["full"]  # old readers miss currency
    refused = se.registry_answers(required, se.V1)
    assert any("'channel' has no default" in p for p in refused["v2"]["backward"])
    assert refused["not_full"]["full"] == [] and refused["not_full"]["same_as_v1"]
