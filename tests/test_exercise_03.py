"""Exercise 03 (partition key): the notebooks' reference and starter, hidden cases, and the anomaly checks."""

from __future__ import annotations

import random
from pathlib import Path

import pandas as pd
import pytest

from simkit.grading import grade_source
from simkit.grading.batch import answer_of
from simkit.grading.exercises import partition_key as pk
from simkit.trace import COLUMNS

NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"
EXERCISE = "03-partition-key.ipynb"


def _answer(folder: str) -> str:
    return answer_of(NOTEBOOKS / folder / EXERCISE)[1]


@pytest.fixture(scope="module")
def starter_grade():
    return grade_source("03", _answer("exercises"))


def test_reference_solution_in_the_notebook_gets_full_marks_also_on_hidden_cases():
    hidden = [{"seed": 5, "workload": {"hot": "acct-11"}, "exhaustive": False, "random_runs": 0},
              {"seed": 9, "workload": {"hot": "acct-30", "share": 0.45}, "exhaustive": False, "random_runs": 0}]
    grade = grade_source("03", _answer("solutions"), hidden=hidden)
    assert grade.passed and grade.points == grade.max_points == 10, str(grade)
    assert grade.failing_run is None and grade.runs == 5


def test_the_third_case_draws_its_busy_account_from_its_seed():
    from simkit.world import World

    (case,) = [c for c in pk.EXERCISE.cases if c.workload.get("hot") == "drawn"]
    named = {c.workload["hot"] for c in pk.EXERCISE.cases if c.workload.get("hot") != "drawn"}
    drawn = pk._hot(World(case.seed), case.workload)
    assert drawn == "acct-28" and drawn not in named  # an account no other case makes busy
    assert pk._hot(World(case.seed + 1), case.workload) != drawn  # another seed, another account


def test_starter_keeps_order_but_loses_the_load_points_to_the_busy_account(starter_grade):
    points = {c.name: c.points for c in starter_grade.criteria}
    assert points == {"per-account order": 5, "load spread": 0}
    run = starter_grade.failing_run
    assert run.kind == "baseline" and run.schedule == () and set(run.anomalies) == {"hot_partition"}
    assert all(m in set(run.trace["msg_id"]) for m in run.highlight) and run.highlight
    assert "acct-07" in starter_grade.criteria[1].feedback


def test_the_same_submission_gets_the_same_grade_in_two_processes(starter_grade):
    again = grade_source("03", _answer("exercises"))
    strip = lambda g: {k: v for k, v in g.to_json().items() if k != "seconds"}
    assert strip(again) == strip(starter_grade)


def test_the_workload_gives_the_busy_account_its_share_mostly_read_only_and_numbers_each_account():
    events = pk.account_events(random.Random(3), 4000, "acct-12", 0.4, 0.8)
    hot = [e for e in events if e.account == "acct-12"]
    assert 0.37 < len(hot) / len(events) < 0.43
    assert 0.77 < sum(e.kind in pk.READ_KINDS for e in hot) / len(hot) < 0.83
    for account in {e.account for e in events}:
        assert [e.seq for e in events if e.account == account] == list(range(1, 1 + sum(
            e.account == account for e in events)))
    assert [e.event_id for e in pk.account_events(random.Random(3), 50, "acct-12", 0.4, 0.8)] == \
        [e.event_id for e in events[:50]]


def _trace(rows):
    """A trace from (time, event, msg_id, partition) rows of topic account-events."""
    full = [dict.fromkeys(COLUMNS) | {"time": t, "event": ev, "msg_id": m, "partition": p, "topic": pk.TOPIC, "key": "k"}
            for t, ev, m, p in rows]
    return pd.DataFrame(full, columns=list(COLUMNS))


STATE = {"hot": "acct-01", "drained": True, "events": {
    "e-0": ["acct-01", "Deposited", 1], "e-1": ["acct-01", "Withdrawn", 2], "e-2": ["acct-02", "Deposited", 1],
    "e-3": ["acct-01", "BalanceChecked", 3]}}


def test_an_account_split_over_partitions_and_applied_backwards_is_named_with_its_account():
    rows = [(0, "send", "e-0", None), (1, "send", "e-1", None), (2, "send", "e-2", None), (3, "send", "e-3", None),
            (4, "append", "e-0", 0), (4, "append", "e-1", 1), (4, "append", "e-2", 2), (4, "append", "e-3", 3),
            (5, "processed", "e-1", 1), (6, "processed", "e-0", 0), (7, "processed", "e-2", 2),
            (8, "processed", "e-3", 3)]
    found = pk.anomalies(_trace(rows), STATE, {})
    assert found["split_account"].count == 1 and found["split_account"].examples == ("acct-01",)
    assert found["out_of_order"].count == 1 and found["out_of_order"].examples == ("e-0",)
    assert found["hot_partition"].count == 0  # 4 records on 4 partitions: 25% each


def test_read_only_events_on_other_partitions_do_not_split_the_account_but_a_busy_partition_is_caught():
    rows = [(0, "send", m, None) for m in STATE["events"]] + [
        (4, "append", "e-0", 0), (4, "append", "e-1", 0), (4, "append", "e-2", 1), (4, "append", "e-3", 2)] + [
        (5 + i, "processed", m, None) for i, m in enumerate(STATE["events"])]
    found = pk.anomalies(_trace(rows), STATE, {})
    assert found["split_account"].count == 0 and found["out_of_order"].count == 0
    assert found["hot_partition"].count == 1 and "50%" in found["hot_partition"].detail
    assert found["hot_partition"].examples == ("e-0", "e-1")
