"""A grader for exercise 01: write an idempotent consumer handler.

The learner writes a generator ``handle(record, ctx, db)`` for a consumer that
commits its offset *after* processing (at-least-once, Kafka's
``enable.auto.commit=false`` with a commit after the work). Each record is a
``UserSignedUp`` whose ``record.key`` is the user id. The required effect, whatever
crashes happen: exactly one row per user in ``"welcome.emails"`` (key: the user id;
a mail relay sends one email for every committed write of a row, so writing a row
twice sends two emails) and ``"welcome.stats"["signups"]`` equal to the number of
users. Tools: ``tx = db.transaction()``, ``tx.get``/``tx.put``, ``yield from
tx.commit()``, and ``ctx.crash_point(name)`` for points listed in
``handle.crash_points``.

:func:`grade_handler` runs the handler over several seeds and crash schedules: one
crash at every crash point for each message position, then random crashes
(``crash_rate``) per seed. Every user signs up once, so a repeat can only come from
a redelivery after a crash. A run passes when the trace and the database show no
lost user, no duplicate email and the right counter.
"""

from __future__ import annotations

import functools
import inspect
from dataclasses import dataclass, field
from types import GeneratorType
from typing import Any, Callable, Iterable

import pandas as pd

from . import checks
from .broker import Broker
from .consumer import BUILTIN_POINTS, Consumer
from .database import Database
from .distributions import exponential, uniform
from .errors import ConfigError, ExerciseError
from .producer import Producer
from .results import Report, RunResult
from .scenarios._common import check_count, check_positive, until_drained
from .faults import check_rate
from .world import World, check_seed

__all__ = ["EMAILS", "STATS", "FailingRun", "Grade", "grade_handler", "plot_failing_run", "plot_points"]

EMAILS, STATS, TOPIC = "welcome.emails", "welcome.stats", "signups"


@dataclass(frozen=True)
class FailingRun:
    """The smallest failing run: its seed, crash schedule (or rate), problems and trace."""

    seed: int
    schedule: tuple[tuple[int, str], ...]
    crash_rate: float
    problems: tuple[str, ...]
    highlight: tuple[Any, ...]
    result: RunResult = field(repr=False, compare=False)

    @property
    def label(self) -> str:
        crashes = ", ".join(f"at {p!r} while handling delivery {n}" for n, p in self.schedule)
        return f"seed {self.seed}, " + (f"crash {crashes}" if self.schedule else
                                        f"random crashes (crash_rate={self.crash_rate:g})")


@dataclass(frozen=True)
class Grade:
    """Points (one per run that passed), the verdict, plain-English feedback and the smallest failing run."""

    points: int
    max_points: int
    passed: bool
    feedback: list[str]
    failing_run: FailingRun | None = None
    runs: pd.DataFrame = field(default_factory=pd.DataFrame, repr=False, compare=False)

    def __str__(self) -> str:
        verdict = "PASSED" if self.passed else "not passed yet"
        lines = [f"Grade: {self.points}/{self.max_points} runs correct: {verdict}"]
        lines += [f"  - {line}" for line in self.feedback]
        if self.failing_run is not None:
            lines.append(f"Smallest failing run: {self.failing_run.label}")
            lines += [f"  * {p}" for p in self.failing_run.problems]
        return "\n".join(lines)


def _problems(trace: pd.DataFrame, db: Database, users: dict[str, int]) -> tuple[list[str], list[Any]]:
    """What this run got wrong, read from the trace and the final database, and the msg ids to follow."""
    problems: list[str] = []
    lost = checks.lost(trace, produced="send", delivered="email_queued")
    missing = [u for u in users if u not in db.table(EMAILS)]
    lost_ids = list(dict.fromkeys(list(lost.examples) + [users[u] for u in missing]))
    if lost_ids:
        problems.append(f"lost users: {len(lost_ids)} user(s) never got a welcome email row, "
                        f"e.g. msg_id {lost_ids[0]}")
    dup = checks.duplicates(trace, "email_queued")
    if dup.count:
        problems.append(f"duplicate emails: {dup.count} user(s) got the welcome email more than once "
                        f"({dup.detail}), e.g. msg_id {dup.examples[0]}")
    signups = db.table(STATS).get("signups")
    if signups != len(users):
        problems.append(f"wrong counter: welcome.stats['signups'] is {signups!r}, expected {len(users)} "
                        "(one per distinct user)")
    return problems, lost_ids + list(dup.examples)


def _run(handle: Callable[..., Any], points: tuple[str, ...], seed: int, schedule: tuple, crash_rate: float,
         messages: int, wall_limit: float) -> tuple[list[str], list[Any], RunResult]:
    world = World(seed)
    env = world.env
    broker = Broker(world)
    broker.create_topic(TOPIC, 1)
    producer = Producer(world, broker, "producer", partitioner="key")
    db = Database(world, "db", commit_latency=uniform(1, 3))
    db.create_table(STATS)
    db.create_table(EMAILS)
    users = {f"user-{i}": i for i in range(messages)}

    class MailRelay(dict):  # type: ignore[type-arg]
        """The emails table: every committed write of a row hands one email to the mailer."""

        def __setitem__(self, user: Any, value: Any) -> None:
            super().__setitem__(user, value)
            world.record("mail_relay", "email_queued", key=user, msg_id=users.get(user), detail=repr(value))

    db.tables[EMAILS] = MailRelay()

    @functools.wraps(handle)
    def handler(record: Any, ctx: Any):  # type: ignore[no-untyped-def]
        steps = handle(record, ctx, db)
        if type(steps) is not GeneratorType:
            raise ExerciseError(f"handle returned {steps!r}, not a generator: write it with "
                                "`yield from tx.commit()` so the database's commit latency is paid")
        return (yield from steps)

    consumer = Consumer(world, broker, "consumer", TOPIC, handler, group="welcome", commit="after_processing",
                        max_poll_records=5, processing_time=1, auto_offset_reset="earliest",
                        session_timeout=300, restart_delay=200, crash_points=points, crash_rate=crash_rate,
                        crash_schedule=schedule)
    sent = env.event()

    def signups():  # type: ignore[no-untyped-def]
        arrivals, rng = exponential(10), world.rng("arrivals")
        for user, i in users.items():
            yield env.timeout(arrivals.sample(rng))
            producer.send(TOPIC, value="UserSignedUp", key=user, msg_id=i)
        sent.succeed()

    env.process(signups())
    drained = until_drained(world, broker, consumer.group, [consumer], sent)
    world.run(until=drained | env.timeout(120_000), wall_limit=wall_limit)
    trace = world.trace.to_frame()
    problems, highlight = _problems(trace, db, users)
    if not drained.triggered:
        problems.append("the consumer never caught up: some records were still unprocessed after 120 s")
    report = Report(problems=len(problems), crashes=int((trace["event"] == "crash").sum()))
    result = RunResult("grade_handler", seed, dict(schedule=schedule, crash_rate=crash_rate), report,
                       _trace=world.trace)
    return problems, highlight, result


def _seeds(seeds: int | Iterable[int]) -> list[int]:
    if isinstance(seeds, int) and not isinstance(seeds, bool):
        return list(range(check_count("seeds", seeds)))
    try:
        out = [check_seed(s) for s in seeds]  # type: ignore[union-attr]
    except (TypeError, ConfigError):
        raise ConfigError("seeds", seeds, "a count >= 1 or a non-empty list of int seeds") from None
    if not out:
        raise ConfigError("seeds", seeds, "a count >= 1 or a non-empty list of int seeds")
    return out


def grade_handler(handle: Callable[..., Any], seeds: int | Iterable[int] = 3, schedules: int = 6, *,
                  messages: int = 6, crash_rate: float = 0.3, wall_limit: float = 2.0) -> Grade:
    """Grade ``handle`` over ``seeds`` (a count, or a list of seeds) and crash schedules.

    For every seed: one run per (message position ``n`` below ``schedules``, crash
    point) with a single crash there, then one run with random crashes at
    ``crash_rate``. ``messages`` users sign up once each. ``wall_limit`` (s of real
    time) stops a run whose handler never returns. Bad arguments raise ConfigError;
    whatever the handler does, the result is a :class:`Grade`.
    """
    seed_list = _seeds(seeds)
    schedules = check_count("schedules", schedules)
    messages = check_count("messages", messages, 1, 1000)
    crash_rate = check_rate("crash_rate", crash_rate)
    wall_limit = check_positive("wall_limit", wall_limit)
    if not callable(handle):
        raise ConfigError("handle", handle, "a generator function handle(record, ctx, db)")
    name = getattr(handle, "__name__", repr(handle))
    if not inspect.isgeneratorfunction(handle):
        return Grade(0, 1, False, [f"{name} is not a generator function: it must `yield from tx.commit()` "
                                   "(a handler that never yields cannot wait for the database)"])
    declared = getattr(handle, "crash_points", ())
    if isinstance(declared, str) or not all(isinstance(p, str) for p in declared):
        return Grade(0, 1, False, [f"{name}.crash_points must be a tuple of names, not {declared!r}"])
    points = tuple(dict.fromkeys(BUILTIN_POINTS + tuple(declared)))
    plan = [((n, p),) for n in range(schedules) for p in points]
    cases = [(s, sched, 0.0) for s in seed_list for sched in plan] + [(s, (), crash_rate) for s in seed_list]
    rows, failing = [], None
    for seed, sched, rate in cases:
        try:
            problems, highlight, result = _run(handle, points, seed, sched, rate, messages, wall_limit)
        except ExerciseError as err:
            msg = str(err).split(" at t=")[0]
            return Grade(0, len(cases), False, [f"your handler failed in seed {seed}: {msg}",
                                                "fix the error above, then grade again"])
        rows.append(dict(seed=seed, schedule=str(list(sched)) if sched else f"crash_rate={rate:g}",
                         passed=not problems, problems="; ".join(problems)))
        if problems and (failing is None or (len(sched) or 99, seed) < (len(failing.schedule) or 99, failing.seed)):
            failing = FailingRun(seed, sched, rate, tuple(problems), tuple(highlight), result)
    runs = pd.DataFrame(rows)
    points_won = int(runs["passed"].sum())
    if points_won == len(cases):
        feedback = [f"all {len(cases)} runs correct over {len(seed_list)} seed(s): no lost user, no duplicate "
                    "email, the counter is right whatever crash struck"]
    else:
        kinds = {p.split(":")[0] for p in runs["problems"] if p for p in p.split("; ")}
        feedback = [f"{len(cases) - points_won} of {len(cases)} runs went wrong: {', '.join(sorted(kinds))}",
                    "a redelivered record must change nothing: check and write in ONE transaction"]
    return Grade(points_won, len(cases), points_won == len(cases), feedback, failing, runs)


def plot_failing_run(grade: Grade, ax: Any = None) -> Any:
    """The smallest failing run's timeline, with the users it got wrong circled in red."""
    from .plots import timeline

    if grade.failing_run is None:
        raise ConfigError("grade", "a passing grade", "a grade with a failing run")
    fr = grade.failing_run
    return timeline(fr.result, ax=ax, highlight=fr.highlight,
                    title=f"{fr.problems[0].split(':')[0]} ({fr.label})")


def plot_points(grade: Grade, ax: Any = None) -> Any:
    """Correct runs per seed, as bars beside the number of runs each seed had."""
    from .plots import axes_or_new

    if grade.runs.empty:
        raise ConfigError("grade", "a grade without runs", "a grade from runs that completed")
    by = grade.runs.groupby("seed")["passed"].agg(["sum", "count"])
    ax = axes_or_new(ax)
    ax.bar(by.index.astype(str), by["count"], color="#dddddd", edgecolor="black", label="runs")
    ax.bar(by.index.astype(str), by["sum"], color="#2ca02c", edgecolor="black", label="correct")
    ax.set_xlabel("seed")
    ax.set_ylabel("runs (one per crash schedule)")
    ax.legend()
    ax.set_title(f"{grade.points}/{grade.max_points} runs correct: " +
                 ("the handler survives every crash" if grade.passed else "some crashes break the handler"))
    return ax
