"""Exercise 09 (replay after a fix): the story the notebook tells is the one the grader runs, on several seeds."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from simkit.grading import grade_source
from simkit.grading.batch import answer_of
from simkit.grading.exercises import replay_fix as rf
from simkit.grading.runner import _execute
from simkit.grading.spec import exercise

NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"

_spec = importlib.util.spec_from_file_location("bank_ex09", Path(__file__).parent / "exercise_banks" / "ex09.py")
bank = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(bank)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_v1_kept_up_so_the_deploy_time_gives_the_first_bad_offset_of_every_partition(seed):
    run = _execute(exercise("09"), bank.REFERENCE, seed, {"accounts": 5}, "baseline")
    assert run.error is None and not any(a.count for a in run.anomalies.values()), run.anomalies
    trace = run.trace
    handled = trace[trace.event == "process"]
    sends = trace[trace.event == "append"]
    assert len(sends) and not ((sends.time >= rf.DEPLOY_MS - rf.QUIET_MS) & (sends.time < rf.DEPLOY_MS)).any()
    seeks = dict(trace.loc[trace.event == "seek", ["partition", "offset"]].astype(int).values.tolist())
    for p in (0, 1):
        mine = handled[handled.partition == p]
        good = mine.loc[mine.component == "payments-v1.0", "offset"]
        bad = mine.loc[mine.component == "payments-v1.1", "offset"]
        assert len(good) and len(bad), f"partition {p} needs records before and during the bug"
        assert good.max() + 1 == bad.min() == seeks[p]  # v1.1 took over where v1.0 stopped, and the reset is there
        new = mine.loc[mine.component == "payments-v2", "offset"]
        assert new.min() == seeks[p] and new.max() > bad.max()  # the replay also handles records v1 never saw


def test_a_reset_that_is_not_an_offset_per_partition_scores_zero_with_the_reason():
    source = bank.SAFE_HANDLER + "\n\ndef reset_to(log):\n    return [0, 0]\n"
    grade = grade_source("09", source)
    assert grade.points == 0 and "reset_to returned [0, 0]" in str(grade), str(grade)

#: a case the learners never see (what an instructor passes with --hidden)
HIDDEN = {"accounts": 7}


def test_reference_solution_in_the_notebook_gets_full_marks_also_on_a_hidden_case():
    hidden = [{"seed": 13, "workload": HIDDEN, "exhaustive": False, "random_runs": 2}]
    grade = grade_source("09", answer_of(NOTEBOOKS / "solutions" / "09-replay-after-fix.ipynb")[1], hidden=hidden)
    assert grade.passed and grade.failing_run is None, str(grade)
    assert not grade.notes, grade.notes  # every hidden run was run, none cut by the cap


def test_the_hidden_case_catches_the_starter_without_a_crash():
    starter = answer_of(NOTEBOOKS / "exercises" / "09-replay-after-fix.ipynb")[1]
    run = _execute(exercise("09"), starter, 13, HIDDEN, "baseline")
    assert run.error is None and any(a.count for a in run.anomalies.values()), run.anomalies
