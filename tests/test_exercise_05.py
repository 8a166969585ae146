"""Exercise 05 (poison messages): the notebooks' reference and starter, hidden cases, and the order check."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from simkit.grading import grade_source
from simkit.grading.batch import answer_of
from simkit.grading.exercises import poison
from simkit.trace import COLUMNS

NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"
EXERCISE = "05-poison-messages.ipynb"


def _answer(folder: str) -> str:
    return answer_of(NOTEBOOKS / folder / EXERCISE)[1]


@pytest.fixture(scope="module")
def starter_grade():
    return grade_source("05", _answer("exercises"))


def test_reference_solution_in_the_notebook_gets_full_marks_also_on_a_hidden_case():
    hidden = [{"seed": 9, "workload": {"outage_at": 2500, "poison": [0, 5, 17], "orders": 40},
               "exhaustive": False, "random_runs": 0}]
    grade = grade_source("05", _answer("solutions"), hidden=hidden)
    assert grade.passed and grade.points == grade.max_points == 10, str(grade)
    assert grade.failing_run is None and grade.runs > 4  # three cases and the hidden one, then the crash case's runs


def test_starter_blocks_the_partition_on_the_first_poison_record_and_retries_it_without_bound(starter_grade):
    points = {c.name: c.points for c in starter_grade.criteria}
    assert points == {"the partition keeps moving": 0, "bounded retries with back-off": 0,
                      "a brief outage is ridden out": 2, "per-order order holds": 2, "nothing dropped": 2}
    run = starter_grade.failing_run
    assert set(run.anomalies) == {"blocked", "unbounded_retries"} and run.anomalies["unbounded_retries"][
        "examples"][0] == "m-3"
    assert (run.trace["event"] == "handler_failed").sum() > 100  # polled again every 100 ms, for ever


def test_the_same_submission_gets_the_same_grade_in_two_processes(starter_grade):
    again = grade_source("05", _answer("exercises"))
    strip = lambda g: {k: v for k, v in g.to_json().items() if k != "seconds"}
    assert strip(again) == strip(starter_grade)


def test_an_update_applied_after_an_earlier_one_of_its_order_was_dead_lettered_breaks_order_even_if_not_poison():
    rows = [(0, "send", "m-0", "order-1"), (1, "send", "m-1", "order-1"), (2, "send", "m-2", "order-2"),
            (10, "attempt", "m-0", "order-1"), (12, "dead_lettered", "m-0", "order-1"),
            (20, "attempt", "m-1", "order-1"), (22, "applied", "m-1", "order-1"),
            (30, "attempt", "m-2", "order-2"), (32, "applied", "m-2", "order-2")]
    trace = pd.DataFrame([dict.fromkeys(COLUMNS) | {"time": t, "event": e, "msg_id": m, "key": k, "topic": "orders"}
                          for t, e, m, k in rows], columns=list(COLUMNS))
    state = {"values": {"m-0": "amount=1", "m-1": "amount=2", "m-2": "amount=3"}, "drained": True}
    found = poison.anomalies(trace, state, {})
    assert found["order_broken"].examples == ("m-1",) and found["good_record_dead_lettered"].examples == ("m-0",)
    assert found["dropped"].count == 0 and found["no_backoff"].count == 0 and found["blocked"].count == 0
