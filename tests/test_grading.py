"""The grader: notebooks' reference and starter, determinism, the batch command, the release, the plots."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from exercise_banks.ex01 import BANK as BANK01

import simkit as sk
from simkit.grading import check, grade_source
from simkit.grading.batch import TAG, answer_of

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = ROOT / "notebooks"
EXERCISE = "01-idempotent-handler.ipynb"


def _answer(folder: str) -> str:
    return answer_of(NOTEBOOKS / folder / EXERCISE)[1]


@pytest.fixture(scope="module")
def starter_grade():
    return grade_source("01", _answer("exercises"))


def test_reference_solution_in_the_notebook_gets_full_marks_also_on_hidden_cases():
    grade = grade_source("01", _answer("solutions"), hidden=[dict(seed=11, workload=dict(users=8), random_runs=1)])
    assert grade.passed and grade.points == grade.max_points == 12, str(grade)
    assert grade.failing_run is None and grade.runs > 30


def test_starter_loses_exactly_the_duplicate_and_counter_points_with_their_anomalies(starter_grade):
    points = {c.name: c.points for c in starter_grade.criteria}
    assert points == {"correct without crashes": 2, "no lost user": 3, "no duplicate email": 0, "counter right": 0,
                      "concurrent delivery": 2}
    run = starter_grade.failing_run
    assert run.kind == "exhaustive" and len(run.schedule) == 1 and "after tx.commit()" in run.schedule[0][0]
    assert set(run.anomalies) >= {"wrong_counter"}
    assert set(run.highlight) <= set(run.trace["msg_id"].dropna())


def test_the_same_submission_gets_the_same_grade_in_two_processes(starter_grade):
    again = grade_source("01", _answer("exercises"))
    strip = lambda g: {k: v for k, v in g.to_json().items() if k != "seconds"}
    assert strip(again) == strip(starter_grade)


def test_check_prints_the_points_table_and_returns_the_batch_numbers(capsys, starter_grade):
    namespace: dict = {}
    source = _answer("exercises")
    exec(compile(source, "<cell>", "exec"), namespace)
    grade = check("01", source=source, plots=False)
    out = capsys.readouterr().out
    assert "7/12 points" in out and "no duplicate email" in out and "Smallest failing run" in out
    assert grade.points == starter_grade.points


ZOMBIE = {"users": 2, "zombie": True}
# the bank's own entry (tests/ is on sys.path under pytest's default import mode): one copy of the handler
CHECK_APART = BANK01["read_only_check_in_its_own_transaction"][0]


def _zombie_run(source, point):
    from simkit.grading.runner import _execute
    from simkit.grading.spec import exercise

    ex = exercise("01")
    base = _execute(ex, source, 0, ZOMBIE, "baseline")
    sched = next((p, i) for p, i, _m, _d in base.passages if p.startswith(point))
    return _execute(ex, source, 0, ZOMBIE, "exhaustive", (sched,))


def test_the_zombie_case_makes_the_one_transaction_answer_conflict_and_redeliver_without_harm():
    run = _zombie_run(_answer("solutions"), "before tx.commit()")
    t = run.trace
    assert run.error is None and not any(a.count for a in run.anomalies.values())
    assert t[t.event == "paused"].component.tolist() == ["zombie"]
    # the zombie's stale commit is refused, its redelivery sees the user welcomed: one email each, counter 2
    assert len(t[t.event == "db_conflict"]) == 1 and len(t[(t.event == "handler_retry") & (t.msg_id == 0)]) == 1
    assert t[t.event == "email_queued"].key.value_counts().to_dict() == {"user-0": 1, "user-1": 1}
    assert run.state["signups"] == 2


def test_the_zombie_case_finds_the_gap_between_a_check_and_a_write_in_two_transactions():
    run = _zombie_run(CHECK_APART, "after tx.commit() of nothing")
    t = run.trace
    assert t[t.event == "db_conflict"].empty  # neither transaction read what the other wrote after reading it
    assert t[t.event == "email_queued"].key.value_counts()["user-0"] == 2
    assert run.anomalies["overlap_duplicate_email"].count == 1
    grade = grade_source("01", CHECK_APART)
    lost = {c.name: c.feedback for c in grade.criteria if c.points < c.max_points}
    assert list(lost) == ["concurrent delivery"] and grade.points == 10
    assert "different transactions" in lost["concurrent delivery"] and "zombie" in lost["concurrent delivery"]
    assert grade.failing_run.kind == "exhaustive" and "after tx.commit() of nothing" in grade.failing_run.schedule[0][0]


def test_check_does_nothing_inside_a_grading_run(monkeypatch):
    monkeypatch.setenv("SIMKIT_GRADING_CHILD", "1")
    assert check("01", source="def handle(record, ctx, db):\n    yield\n") is None


def test_patching_the_grader_in_this_process_cannot_change_a_grade(monkeypatch, starter_grade):
    from simkit.grading.exercises import welcome

    monkeypatch.setattr(welcome, "anomalies", lambda *a: {})
    assert grade_source("01", _answer("exercises")).points == starter_grade.points


def test_grade_handler_still_works_with_a_deprecation_warning(starter_grade):
    namespace: dict = {}
    path = ROOT / "tests" / "_old_style_handler.py"
    path.write_text(_answer("exercises"))
    try:
        exec(compile(path.read_text(), str(path), "exec"), namespace)
        import linecache

        linecache.checkcache(str(path))
        with pytest.warns(DeprecationWarning, match="check"):
            grade = sk.grading.grade_handler(namespace["handle"], seeds=2)
    finally:
        path.unlink()
    assert grade.points == starter_grade.points
    with pytest.raises(sk.ConfigError):
        sk.grading.grade_handler(namespace["handle"], seeds=0)


def _submission(folder: Path, name: str, source: str) -> None:
    nb = nbformat.read(NOTEBOOKS / "exercises" / EXERCISE, as_version=4)
    for cell in nb.cells:
        if TAG in cell.metadata.get("tags", []):
            cell.source = source
    nbformat.write(nb, folder / f"01-{name}.ipynb")


ANSWERS = {
    "base-exception-loop": ("def handle(record, ctx, db):\n    while True:\n        try:\n            pass\n"
                            "        except BaseException:\n            pass\n    yield\n"),
    "exits": "import sys\n\ndef handle(record, ctx, db):\n    sys.exit(1)\n    yield\n",
    "hoards": ("def handle(record, ctx, db):\n    h = []\n    while True:\n        h.append(bytearray(10**8))\n"
               "    yield\n"),
    "syntax": "def handle(record, ctx, db)\n    yield\n",
}


def test_batch_grades_every_submission_and_none_stops_it(tmp_path):
    subs = tmp_path / "subs"
    subs.mkdir()
    for name, source in ANSWERS.items():
        _submission(subs, name, source)
    _submission(subs, "correct", _answer("solutions"))
    _submission(subs, "wrong", _answer("exercises"))
    (subs / "01-unreadable.ipynb").write_text("{not json")
    hidden = tmp_path / "hidden.json"
    hidden.write_text(json.dumps({"01": [dict(seed=5, workload=dict(users=4), random_runs=0)]}))
    out = tmp_path / "grades.csv"
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    done = subprocess.run([sys.executable, "-m", "simkit.grading", "grade", str(subs), "--out", str(out),
                           "--jobs", "2", "--hidden", str(hidden), "--results-json"],
                          capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0, done.stderr
    rows = {r["submission"]: r for r in csv.DictReader(out.open())}
    assert len(rows) == 7
    assert rows["01-correct.ipynb"]["points"] == "12" and rows["01-correct.ipynb"]["reason"] == ""
    assert rows["01-wrong.ipynb"]["points"] == "7" and rows["01-wrong.ipynb"]["no duplicate email (3)"] == "0"
    assert rows["01-wrong.ipynb"]["failing_seed"] == "0" and "after tx.commit()" in rows["01-wrong.ipynb"][
        "failing_schedule"]
    for name, why in [("base-exception-loop", "CPU time"), ("exits", "sys.exit"), ("hoards", "memory"),
                      ("syntax", "syntax error"), ("unreadable", "unreadable")]:
        row = rows[f"01-{name}.ipynb"]
        assert row["points"] == "0" and why in row["reason"], row
    results = json.loads((tmp_path / "grades_results" / "01-wrong.json").read_text())
    assert results["score"] == 7 and {t["name"] for t in results["tests"]} >= {"counter right"}


def test_release_leaves_out_solutions_hidden_cases_and_outputs(tmp_path):
    src = tmp_path / "nb"
    (src / "solutions").mkdir(parents=True)
    (src / "exercises").mkdir()
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("1 + 1")])
    nb.cells[0].outputs = [nbformat.v4.new_output("execute_result", {"text/plain": "2"}, execution_count=1)]
    nbformat.write(nb, src / "exercises" / "01-x.ipynb")
    nbformat.write(nb, src / "solutions" / "01-x.ipynb")
    (src / "hidden-cases.json").write_text("{}")
    (src / "README.md").write_text("hi")
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    done = subprocess.run([sys.executable, "-m", "simkit.grading", "release", str(tmp_path / "out"),
                           "--notebooks", str(src)], capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 0, done.stderr
    files = sorted(str(p.relative_to(tmp_path / "out")) for p in (tmp_path / "out").rglob("*") if p.is_file())
    assert files == ["README.md", "exercises/01-x.ipynb"]
    assert nbformat.read(tmp_path / "out" / "exercises" / "01-x.ipynb", as_version=4).cells[0].outputs == []


def test_plots_draw_the_failing_run_and_the_points(starter_grade):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ax = sk.grading.plot_failing_run(starter_grade)
    assert "wrong_counter" in ax.get_title() and "after tx.commit()" in ax.get_title() and ax.collections
    ax = sk.grading.plot_points(starter_grade)
    assert "7/12 points" in ax.get_title()
    plt.close("all")
    passing = grade_source("01", _answer("solutions"))
    with pytest.raises(sk.ConfigError):
        sk.grading.plot_failing_run(passing)


def test_show_prints_the_table_draws_the_points_and_the_failing_run_and_lists_its_rows(capsys, starter_grade):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    drawn = sk.grading.show(starter_grade)
    out = capsys.readouterr().out
    assert "7/12 points" in out and "Smallest failing run" in out
    points, timeline = drawn
    assert "7/12 points" in points.get_title() and len(points.patches) == 2 * len(starter_grade.criteria)
    assert "wrong_counter" in timeline.get_title() and timeline.collections
    first = str(starter_grade.failing_run.highlight[0])
    assert "email_queued" in out and first in out  # the first hurt message's trace rows, printed outside IPython
    plt.close("all")
    with pytest.raises(sk.ConfigError, match="grade"):
        sk.grading.show("5/10")


def test_show_draws_an_exercise_its_own_way_and_says_when_every_run_passed(capsys):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from simkit.grading.batch import answer_of

    (starter,) = NOTEBOOKS.glob("exercises/03-*.ipynb")
    grade = grade_source("03", answer_of(starter)[1])
    points, shares = sk.grading.show(grade)
    assert shares.get_ylabel() == "share of records (%)" and max(p.get_height() for p in shares.patches) > 30
    plt.close("all")
    (solution,) = NOTEBOOKS.glob("solutions/03-*.ipynb")
    passing = grade_source("03", answer_of(solution)[1])
    capsys.readouterr()
    assert passing.passed and len(sk.grading.show(passing)) == 1
    assert "every run passed" in capsys.readouterr().out
    plt.close("all")


def test_the_tools_handed_to_the_learner_are_sealed_and_records_pass_through():
    from simkit.grading.exercises.welcome import LearnerDatabase, LearnerRecord
    from simkit.grading.faults import Faults
    from simkit.grading.tools import LearnerContext, seal

    world = sk.World(0)
    faults = Faults(world, "consumer")
    db, ctx = seal(LearnerDatabase(sk.Database(world, "db"), faults)), seal(LearnerContext(world, faults))
    tx = db.transaction()
    for tool, private in [(db, "_db"), (db, "_faults"), (ctx, "_world"), (ctx, "_faults"), (tx, "_tx")]:
        with pytest.raises(AttributeError):
            object.__getattribute__(tool, private)
        assert not hasattr(tool, "__dict__")
    assert {n for n in dir(db) if not n.startswith("_")} == {"transaction"}
    assert {n for n in dir(tx) if not n.startswith("_")} == {"commit", "get", "put"}
    assert {n for n in dir(ctx) if not n.startswith("_")} == {"all_of", "crash_point", "now", "timeout"}
    tx.put("t", "k", 1)
    assert tx.get("t", "k") == 1 and ctx.now == 0 and "Commit every write" in type(tx).commit.__doc__
    record = LearnerRecord("user-1", 1, "UserSignedUp")
    assert seal(record) is record and seal(ctx) is ctx  # records pass as they are; sealing twice changes nothing


def test_a_run_is_limited_in_cpu_time_and_the_parent_measures_it():
    from simkit.grading import sandbox
    from simkit.grading.sandbox import WALL_FACTOR, cpu_limit, run_forked

    def spin():
        while True:
            pass

    got = run_forked(spin, 0.1, 256)
    assert got["error_kind"] == "timeout" and "CPU time" in got["error"], got
    assert sandbox.CPU_KILL_SHARE * cpu_limit(0.1) <= got["cpu"] < WALL_FACTOR * cpu_limit(0.1)
    quick = run_forked(lambda: dict(answer=42), 0.1, 256)
    assert quick["answer"] == 42 and 0 <= quick["cpu"] < 1


def test_a_run_out_of_cpu_time_is_named_so_even_when_its_code_ignores_sigxcpu():
    import signal

    from simkit.grading.sandbox import cpu_limit, run_forked

    def spin_deaf():
        signal.signal(signal.SIGXCPU, signal.SIG_IGN)
        while True:
            pass

    got = run_forked(spin_deaf, 0.1, 256)  # SIGXCPU ignored: the hard limit's SIGKILL a second later ends it
    assert got["error_kind"] == "timeout" and "CPU time" in got["error"], got
    assert got["cpu"] >= cpu_limit(0.1) - 0.5, got


def test_the_cpu_limit_is_told_by_its_own_signal_not_by_the_cpu_time_measured(monkeypatch):
    from simkit.grading import sandbox

    def spin():
        while True:
            pass

    # however the parent's measure of the child's CPU time falls short, SIGXCPU names the cause
    monkeypatch.setattr(sandbox, "CPU_KILL_SHARE", 10.0)
    got = sandbox.run_forked(spin, 0.1, 256)
    assert got["error_kind"] == "timeout" and "CPU time" in got["error"], got


def test_code_that_sleeps_is_stopped_by_the_wall_clock_backstop():
    import time as _time

    from simkit.grading.sandbox import run_forked

    got = run_forked(lambda: _time.sleep(3600), 0.1, 256)
    assert got["error_kind"] == "timeout" and "real time" in got["error"] and got["cpu"] < 1, got


def test_a_grade_does_not_depend_on_the_graders_string_hash_seed(monkeypatch):
    """hash() of a str differs between processes unless the seed is fixed: the grading process fixes it."""
    source = '''
def key_for(event):
    return event.account if hash("acct") % 2 == 0 else None
'''
    grades = []
    for seed in ("1", "2"):  # hash("acct") % 2 is 0 under one and 1 under the other
        monkeypatch.setenv("PYTHONHASHSEED", seed)
        grades.append(tuple(c.points for c in grade_source("03", source).criteria))
    assert grades[0] == grades[1], grades


SPINS = "def page(m):\n    while True:\n        pass\n"


def _forks(monkeypatch):
    """Count the runs the grader forks (each is a learner process) in this process."""
    from simkit.grading import runner

    started = []
    real = runner.run_forked

    def counting(job, seconds, memory_mb):
        started.append(seconds)
        return real(job, seconds, memory_mb)

    monkeypatch.setattr(runner, "run_forked", counting)
    return started


def test_once_a_run_runs_out_of_cpu_time_the_rest_of_the_grade_is_skipped_not_run_to_its_limit(monkeypatch):
    from dataclasses import replace

    from simkit.grading.runner import grade_exercise
    from simkit.grading.sandbox import cpu_limit
    from simkit.grading.spec import exercise

    started = _forks(monkeypatch)
    ex = replace(exercise("10"), run_seconds=0.1)  # a 2 s CPU limit a run, so the test stays short
    grade = grade_exercise(ex, SPINS)
    assert len(ex.cases) == 6 and started == [0.1] and grade.runs == 1, (started, str(grade))
    assert grade.points == 0 and all(f"more than {cpu_limit(0.1)} s of CPU time" in c.feedback
                                     for c in grade.criteria), str(grade)
    assert any("rest of the grade was skipped" in n and "seed 0" in n for n in grade.notes), grade.notes


def test_a_crash_run_out_of_cpu_time_skips_the_remaining_crash_runs_and_keeps_the_baseline_points(monkeypatch):
    from dataclasses import replace

    from simkit.grading.runner import grade_exercise
    from simkit.grading.spec import Case, Criterion, exercise

    def simulate(run):  # fine without crashes, loops forever in a run with random crashes
        while run.faults.rate > 0:
            pass
        return {}

    started = _forks(monkeypatch)
    ex = replace(exercise("10"), run_seconds=0.1, simulate=simulate, anomalies=lambda *a: {},
                 criteria=(Criterion("quiet", 2, (), scope="baseline"), Criterion("survives crashes", 3, ())),
                 cases=(Case(0, {}, exhaustive=False, random_runs=3), Case(1, {}, exhaustive=False, random_runs=3)))
    grade = grade_exercise(ex, SPINS)
    assert len(started) == 3 and grade.runs == 3, (started, str(grade))  # two baselines, one random run
    assert [c.points for c in grade.criteria] == [2, 0] and "CPU time" in grade.criteria[1].feedback, str(grade)
    assert any("a random crash run (seed 1)" in n for n in grade.notes), grade.notes


def test_a_looping_answer_is_graded_zero_with_the_reason_after_one_run():
    grade = grade_source("10", SPINS)
    assert grade.points == 0 and grade.runs == 1, str(grade)
    assert all("CPU time" in c.feedback and "loop forever" in c.feedback for c in grade.criteria), str(grade)
    assert any("rest of the grade was skipped" in n for n in grade.notes), grade.notes
