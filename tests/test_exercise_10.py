"""Exercise 10 (lag alert): the notebooks' reference and starter, hidden cases, and the stall and page checks."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from simkit.grading import grade_source
from simkit.grading.batch import answer_of
from simkit.grading.exercises import lag_alert as la
from simkit.grading.runner import _execute
from simkit.grading.spec import exercise
from simkit.trace import COLUMNS

NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"
EXERCISE = "10-lag-alert.ipynb"


def _answer(folder: str) -> str:
    return answer_of(NOTEBOOKS / folder / EXERCISE)[1]


@pytest.fixture(scope="module")
def starter_grade():
    return grade_source("10", _answer("exercises"))


def test_reference_solution_in_the_notebook_gets_full_marks_also_on_hidden_cases():
    hidden = [{"seed": 21, "workload": {"kind": "trickle_stall", "stall_at": 200_000}, "exhaustive": False,
               "random_runs": 0},
              {"seed": 22, "workload": {"kind": "burst"}, "exhaustive": False, "random_runs": 0}]
    grade = grade_source("10", _answer("solutions"), hidden=hidden)
    assert grade.passed and grade.points == grade.max_points == 10, str(grade)
    assert grade.failing_run is None and grade.runs == 8


def test_starter_misses_the_stall_with_steady_traffic_and_never_pages_falsely(starter_grade):
    points = {c.name: c.points for c in starter_grade.criteria}
    assert points == {"a stall pages within 60 s": 0, "a busy consumer never pages": 3,
                      "an idle consumer never pages": 3}
    run = starter_grade.failing_run
    assert run.kind == "baseline" and set(run.anomalies) == {"missed_stall"}
    assert (run.trace["event"] == "stalled").sum() == 1 and not (run.trace["event"] == "alert").any()


def test_the_same_submission_gets_the_same_grade_in_two_processes(starter_grade):
    again = grade_source("10", _answer("exercises"))
    strip = lambda g: {k: v for k, v in g.to_json().items() if k != "seconds"}
    assert strip(again) == strip(starter_grade)


def _assert_drawn_within(window: str, state_key: str) -> None:
    """The case whose ``window`` draws a time from its seed strikes inside it, at another time with the next seed.

    It strikes at the first payment at or after the drawn time (5 a second), so up to a moment past ``hi``.
    """
    ex = exercise("10")
    (case,) = [c for c in ex.cases if window in c.workload]
    lo, hi = case.workload[window]
    at = {seed: _execute(ex, _answer("solutions"), seed, case.workload, "baseline").state[state_key]
          for seed in (case.seed, case.seed + 1)}
    assert all(lo <= t < hi + 2_000 for t in at.values()) and at[case.seed] != at[case.seed + 1], at


def test_the_fifth_case_draws_its_stall_time_from_its_seed_within_its_window():
    _assert_drawn_within("stall_within", "stall_at")  # the consumer sticks on the first payment it handles after the time
    ex = exercise("10")
    assert {c.workload.get("stall_at") for c in ex.cases if c.workload.get("kind") == "stall"} >= {122_500}


def test_the_sixth_case_draws_its_burst_time_from_its_seed_within_its_window():
    _assert_drawn_within("burst_within", "burst_at")  # the burst comes with the first payment after the time
    fixed = _execute(exercise("10"), _answer("solutions"), 2, {"kind": "burst"}, "baseline").state["burst_at"]
    assert 90_000 < fixed < 110_000, fixed  # the first burst case: after the 500th payment, as before


def _trace(rows):
    full = [dict.fromkeys(COLUMNS) | {"time": t, "event": ev, "detail": "m"} for t, ev in rows]
    return pd.DataFrame(full, columns=list(COLUMNS))


def test_a_page_already_firing_when_the_consumer_sticks_counts_as_caught_but_as_a_false_page_too():
    found = la.anomalies(_trace([(50_000, "alert"), (120_000, "stalled")]), {"kind": "stall", "stall_at": 120_000},
                         {})
    assert "missed_stall" not in found and found["false_page_busy"].count == 1


def test_a_page_more_than_60_s_after_the_stall_is_late_and_a_page_after_a_resolve_is_judged_afresh():
    state = {"kind": "trickle_stall", "stall_at": 100_000}
    late = la.anomalies(_trace([(100_000, "stalled"), (165_000, "alert")]), state, {})
    assert late["missed_stall"].count == 1 and "65 s later" in late["missed_stall"].detail
    on_time = la.anomalies(_trace([(40_000, "alert"), (45_000, "resolved"), (155_000, "alert")]), state, {})
    assert "missed_stall" not in on_time and on_time["false_page_busy"].count == 1


def test_an_idle_case_pages_count_against_the_idle_criterion_only():
    found = la.anomalies(_trace([(95_000, "alert")]), {"kind": "idle", "stall_at": None}, {})
    assert found == {"false_page_idle": found["false_page_idle"]} and found["false_page_idle"].count == 1
