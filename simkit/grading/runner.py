"""The grading loop: a run without crashes, one crash at every crash point passed, then random crashes.

It runs in the grading process (never in the learner's kernel): every run is forked
(:mod:`.sandbox`), and the verdict is computed here from what the run sent back.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from ..trace import COLUMNS
from ..world import World
from .faults import Faults
from .result import CriterionResult, FailingRun, Grade
from .sandbox import WALL_FACTOR, Learner, run_forked
from .spec import Anomaly, Case, Exercise

__all__ = ["Run", "RunOutcome", "grade_exercise"]


@dataclass
class Run:
    """What an exercise's ``simulate`` gets: a fresh world, the workload, the grader's crash points, the learner."""

    world: World
    workload: Mapping[str, Any]
    faults: Faults
    learner: Learner


@dataclass
class RunOutcome:
    """One run as the grader sees it, after checking."""

    seed: int
    kind: str
    schedule: tuple[tuple[str, int], ...]
    workload: Mapping[str, Any]
    rows: tuple = ()
    state: dict = field(default_factory=dict)
    passages: list = field(default_factory=list)
    anomalies: dict[str, Anomaly] = field(default_factory=dict)
    error: str | None = None
    error_kind: str | None = None
    cpu: float = 0.0  # CPU seconds the run's process used

    @property
    def trace(self) -> pd.DataFrame:
        return pd.DataFrame(list(self.rows), columns=list(COLUMNS))

    def failing_run(self) -> FailingRun:
        return FailingRun(self.seed, self.kind, self.schedule,
                          {k: dict(count=a.count, examples=list(a.examples), detail=a.detail)
                           for k, a in self.anomalies.items() if a.count}, self.error, tuple(self.rows))


def _hashable(value: Any) -> Any:
    """A trace cell as it was sent: JSON brings a tuple back as a list (a key the learner chose, say), which pandas
    cannot count or group; make it a tuple again."""
    return tuple(_hashable(v) for v in value) if isinstance(value, list) else value


def _execute(ex: Exercise, source: str, seed: int, workload: Mapping[str, Any], kind: str,
             schedule: tuple[tuple[str, int], ...] = (), rate: float = 0.0) -> RunOutcome:
    def job() -> dict:
        world = World(seed)
        faults = Faults(world, ex.component, schedule, rate)
        run = Run(world, workload, faults, Learner(source, ex.entry))
        state = ex.simulate(run)
        return dict(rows=list(zip(*(world.trace.column(c) for c in COLUMNS))), state=state, passages=faults.passages,
                    fired=faults.fired)

    got = run_forked(job, ex.run_seconds, ex.memory_mb)
    out = RunOutcome(seed, kind, schedule, workload)
    out.cpu = float(got.get("cpu", 0.0))
    if got.get("error"):
        out.error, out.error_kind = got["error"], got.get("error_kind")
        return out
    out.rows = tuple(tuple(_hashable(v) for v in r) for r in got["rows"])
    out.state = got["state"]
    out.passages = [tuple(p) for p in got["passages"]]
    fired = tuple((p, i) for p, i in got["fired"])
    if kind == "random":
        out.schedule = fired
    elif schedule and not set(schedule) <= set(fired):
        out.error = (f"grader error: the scheduled crash {schedule[0][0]!r} (pass {schedule[0][1] + 1}) never "
                     "struck: your code took another path than in the run without crashes (does it use "
                     "randomness or the wall clock?); this run counts as failed, never as passed")
        out.error_kind = "grader"
        return out
    out.anomalies = ex.anomalies(out.trace, out.state, workload)
    return out


def _schedules(base: RunOutcome) -> list[tuple[bool, tuple[tuple[str, int], ...]]]:
    """One single-crash schedule per crash point passed in ``base``: the grader's own first."""
    own = [((p, i),) for p, i, _m, declared in base.passages if not declared]
    yours = [((p, i),) for p, i, _m, declared in base.passages if declared]
    return [(False, s) for s in own] + [(True, s) for s in yours]


def _skipped(out: RunOutcome) -> str:
    """The note for the runs not run once ``out`` ran out of time."""
    what = "a run without crashes" if out.kind == "baseline" else f"a {out.kind} crash run"
    return (f"the rest of the grade was skipped: {what} (seed {out.seed}) ran out of time, and your code would take "
            "every later run to its limit too; every criterion that run counts for scores zero")


def grade_exercise(ex: Exercise, source: str, extra: Sequence[Case] = ()) -> Grade:
    """Grade the learner's ``source`` on ``ex`` (plus hidden ``extra`` cases), in this process."""
    start, own_cpu = time.monotonic(), time.process_time()
    cases = list(ex.cases) + list(extra)
    # hidden cases come with time of their own: the limit is per case as the exercise declares its cases.
    # The budget is CPU time (the runs' and this process's), so a busy machine does not change a grade;
    # real time is only a backstop (WALL_FACTOR times the budget) for code that sleeps
    budget = ex.grade_seconds * max(1.0, len(cases) / max(1, len(ex.cases)))
    backstop = start + WALL_FACTOR * budget
    runs: list[RunOutcome] = []
    notes: list[str] = []
    # a run that ran out of time (CPU, or real time for code that waits) fails every criterion it counts for,
    # and the same code would take every later run to its limit too: the grade stops there, whatever the exercise
    baselines: list[RunOutcome] = []
    for c in cases:
        baselines.append(_execute(ex, source, c.seed, c.workload, "baseline"))
        if baselines[-1].error_kind == "timeout":
            break
    runs += baselines
    runs_cpu = sum(r.cpu for r in baselines)
    planned: list[tuple[Case, str, tuple, float, int]] = []
    for case, base in zip(cases, baselines):
        mine: list[tuple[Case, str, tuple, float, int]] = []
        if case.exhaustive and base.error is None:
            for declared, sched in _schedules(base):
                mine.append((case, "exhaustive", sched, 0.0, case.seed))
        for k in range(case.random_runs if base.error is None else 0):  # a broken baseline fails them all
            mine.append((case, "random", (), ex.crash_rate, case.seed + 1 + k))
        # the cap is per case (a hidden case gets runs of its own); past it, keep the random runs and the
        # grader's own crash points, and drop learner-declared points
        room = max(0, ex.max_runs - 1)
        if len(mine) > room:
            randoms = [m for m in mine if m[1] == "random"]
            mine = [m for m in mine if m[1] != "random"][:max(0, room - len(randoms))] + randoms[:room]
            notes.append(f"crash schedules beyond the cap of {ex.max_runs} runs a case were not tried")
        planned += mine
    if runs[-1].error_kind == "timeout":
        notes += [_skipped(runs[-1])] if len(baselines) < len(cases) or planned else []
        planned = []
    for case, kind, sched, rate, seed in planned:
        if runs[-1].error_kind == "timeout":
            notes.append(_skipped(runs[-1]))
            break
        spent = runs_cpu + time.process_time() - own_cpu
        if spent > budget or time.monotonic() > backstop:
            what = (f"{budget:g} s of CPU time" if spent > budget
                    else f"{WALL_FACTOR * budget:g} s of real time (your code may sleep)")
            out = RunOutcome(seed, kind, sched, case.workload,
                             error=f"not run: the grade's time limit of {what} was spent",
                             error_kind="timeout")
            runs.append(out)
            notes.append(out.error)
            break
        runs.append(_execute(ex, source, seed, case.workload, kind, sched, rate))
        runs_cpu += runs[-1].cpu
    results, first_fail = [], None
    for c in ex.criteria:
        scope = [r for r in runs if c.scope != "baseline" or r.kind == "baseline"]
        bad = next((r for r in scope if r.error or any(r.anomalies.get(a) and r.anomalies[a].count
                                                        for a in c.anomalies)), None)
        if bad is None:
            results.append(CriterionResult(c.name, c.points, c.points, f"ok in all {len(scope)} runs"))
            continue
        if bad.error:
            why = bad.error
        else:
            name = next(a for a in c.anomalies if bad.anomalies.get(a) and bad.anomalies[a].count)
            why = ex.explain(name, bad.anomalies[name], bad)
        results.append(CriterionResult(c.name, 0, c.points, why))
        if first_fail is None or runs.index(bad) < runs.index(first_fail):
            first_fail = bad
    points = sum(r.points for r in results)
    return Grade(ex.name, points, ex.max_points, tuple(results),
                 None if first_fail is None else first_fail.failing_run(),
                 round(time.monotonic() - start, 2), len(runs), tuple(dict.fromkeys(notes)))
