"""Exercise 04: where to commit in a poll loop with a worker pool (lesson 04).

The learner writes the poll loop ``consume(consumer, pool, ctx)``; it sees only:

* ``records = yield from consumer.poll()``: up to 4 records after the position (waits
  up to 100 ms; may return ``[]``); each has ``key``, ``msg_id``, ``value``, ``offset``;
* ``done = pool.submit(record)``: hand a record to one of 3 workers; ``done`` is an
  event that fires when the worker has done the record's side effect;
* ``yield from consumer.commit(offset=None)``: commit synchronously, as Kafka's
  ``commitSync()``: without ``offset``, the position (every record polled so far);
  with it, ``offset`` (the next record to read). A durable step;
* ``consumer.store_offset(record)``: librdkafka's ``rd_kafka_offsets_store`` with
  ``enable.auto.offset.store=false``: a background timer (``auto.commit.interval.ms``,
  here 200) commits the latest stored offset + 1; that commit is a durable step too;
* ``ctx.now``, ``ctx.timeout(ms)``, ``ctx.all_of(events)``, ``ctx.crash_point(name)``.

A crash stops the loop, the workers and the timer at once; 200 ms later the consumer
starts again from the committed offset, with the learner's Python state gone.
Duplicates are bounded when one crash repeats at most two polls' worth of records.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping
from typing import Any

import pandas as pd
import simpy

from ...broker import Broker
from ...distributions import exponential, uniform
from ...errors import ConfigError, Crash, OffsetOutOfRange
from ...producer import Producer
from ..faults import call, drive
from ..spec import Anomaly, Case, Criterion, Exercise, register
from ..tools import LearnerContext

__all__ = ["EXERCISE"]

TOPIC, POLL, WORKERS, INTERVAL, END = "payments", 4, 3, 200, 20_000


def fetch(sim: PollLoop, position: int) -> list:
    """Up to a poll's worth of records from ``position``; none when a commit put it past the log's end.

    The broker raises Kafka's OFFSET_OUT_OF_RANGE there; the exercise's consumer, like a real one
    with ``auto.offset.reset=latest``, just finds nothing to read until the log grows past it.
    """
    try:
        return sim.broker.fetch(TOPIC, 0, position, POLL)
    except OffsetOutOfRange:
        return []


class PolledRecord:
    """A polled record: ``key``, ``msg_id``, ``value``, ``offset``."""

    __slots__ = ("key", "msg_id", "offset", "value")

    def __init__(self, key: Any, msg_id: Any, value: Any, offset: int):
        self.key, self.msg_id, self.value, self.offset = key, msg_id, value, offset


class Incarnation:
    """One life of the consumer: its position, stored offset, work queue and child processes."""

    def __init__(self, committed: int):
        self.position = committed
        self.stored: int | None = None
        self.queue: deque[tuple[PolledRecord, simpy.Event]] = deque()
        self.idle: list[simpy.Event] = []
        self.children: list[simpy.Process] = []


class LearnerConsumer:
    """``poll()``, ``commit(offset=None)`` and ``store_offset(record)``."""

    def __init__(self, sim: PollLoop):
        self._sim = sim

    def poll(self) -> Any:
        """Up to 4 records after the position: ``records = yield from consumer.poll()``."""
        sim = self._sim
        life = sim.life
        got = fetch(sim, life.position)
        if not got:
            wake = sim.env.event()
            sim.broker.wait_for_data([sim.broker.log_of(TOPIC, 0)], wake)
            yield wake | sim.env.timeout(100)
            got = fetch(sim, life.position)
        else:
            yield sim.env.timeout(0)
        if got:
            life.position = got[-1].offset + 1
            sim.world.record("consumer", "fetch", topic=TOPIC, detail=len(got))
        return [PolledRecord(r.key, r.msg_id, r.value, r.offset) for r in got]

    def commit(self, offset: int | None = None) -> Any:
        """Commit ``offset`` (default: the position) synchronously: ``yield from consumer.commit()``."""
        sim = self._sim
        if offset is None:
            offset = sim.life.position
        if isinstance(offset, bool) or not isinstance(offset, int) or offset < 0:
            raise ConfigError("offset", offset, "None or the next offset to read, an int >= 0")
        yield from sim.commit(offset, "consumer.commit()")

    def store_offset(self, record: PolledRecord) -> None:
        """Store ``record.offset + 1`` for the background auto commit (librdkafka's offsets_store)."""
        if not isinstance(record, PolledRecord):
            raise ConfigError("record", record, "a record from consumer.poll()")
        self._sim.life.stored = record.offset + 1


class LearnerPool:
    """``done = pool.submit(record)``: a worker does the record's side effect; ``done`` fires after it."""

    def __init__(self, sim: PollLoop):
        self._sim = sim

    def submit(self, record: PolledRecord) -> simpy.Event:
        """Queue ``record`` for the next free worker; returns the event that fires when it is done."""
        if not isinstance(record, PolledRecord):
            raise ConfigError("record", record, "a record from consumer.poll()")
        life = self._sim.life
        done = self._sim.env.event()
        life.queue.append((record, done))
        if life.idle:
            life.idle.pop(0).succeed()
        return done


class PollLoop:
    """The simulated world of exercise 04: a topic, the learner's loop, 3 workers and an auto-commit timer."""

    def __init__(self, run: Any):
        self.run, self.world, self.faults = run, run.world, run.faults
        self.env = self.world.env
        self.broker = Broker(self.world)
        self.broker.create_topic(TOPIC, 1)
        self.committed = 0
        self.life = Incarnation(0)
        self.main: simpy.Process | None = None
        self._rng = self.world.rng("workers")
        self.crashing = False

    def commit(self, offset: int, what: str) -> Any:
        if offset == self.committed:  # nothing would change: no request, no durable step
            yield self.env.timeout(0)
            return
        self.faults.step("before", what)
        yield self.env.timeout(2)
        self.committed = offset
        self.world.record("consumer", "commit", topic=TOPIC, partition=0, offset=offset)
        self.faults.step("after", what)

    def _child(self, body: Any) -> Any:
        try:
            yield from body
        except Crash as crash:  # a crash in a worker or the timer kills the whole consumer
            if self.main is not None and self.main.is_alive and not self.crashing:
                self.crashing = True
                self.main.interrupt(crash)
        except simpy.Interrupt:
            return

    def _worker(self) -> Any:
        life = self.life
        while True:
            if not life.queue:
                wake = self.env.event()
                life.idle.append(wake)
                yield wake
                continue
            record, done = life.queue.popleft()
            self.faults.current = record.msg_id
            yield self.env.timeout(uniform(20, 120).sample(self._rng))
            self.faults.point("before a worker's side effect")
            self.world.record("worker", "processed", topic=TOPIC, offset=record.offset, key=record.key,
                              msg_id=record.msg_id)
            self.faults.point("after a worker's side effect")
            done.succeed()

    def _timer(self) -> Any:
        while True:
            yield self.env.timeout(INTERVAL)
            stored = self.life.stored
            if stored is not None and stored != self.committed:
                yield from self.commit(stored, "the auto commit of the stored offset")

    def lifetime(self) -> Any:
        tools = (LearnerConsumer(self), LearnerPool(self), LearnerContext(self.world, self.faults))
        while True:
            self.faults.revive()
            self.crashing = False
            self.life = Incarnation(self.committed)
            self.life.children = [self.env.process(self._child(self._worker())) for _ in range(WORKERS)]
            self.life.children.append(self.env.process(self._child(self._timer())))
            try:
                self.faults.point("when the consumer starts")
                steps = call(self.run.learner.fresh(), self.faults, "consume", *tools)
                yield from drive(steps, self.faults, "consume")
                self.world.record("consumer", "loop_returned")
                return
            except (Crash, simpy.Interrupt) as exc:
                cause = exc.cause if isinstance(exc, simpy.Interrupt) else exc
                for child in self.life.children:
                    if child.is_alive and child is not self.env.active_process:
                        child.interrupt("stop")
                self.faults.dead = True
                self.world.record("consumer", "crash", detail=getattr(cause, "point", str(cause)))
                yield self.env.timeout(200)
                self.world.record("consumer", "restart")


def simulate(run: Any) -> dict:
    """Payments arrive; the learner's loop polls, hands them to workers and commits; crashes where scheduled."""
    sim = PollLoop(run)
    world, env = sim.world, sim.env
    producer = Producer(world, sim.broker, "producer")
    n = int(run.workload.get("records", 12))
    mean_gap_ms = float(run.workload.get("mean_gap_ms", 25))  # 1 ms: a burst, so every poll comes back full

    def payments():  # type: ignore[no-untyped-def]
        arrivals, rng = exponential(mean_gap_ms), world.rng("arrivals")
        for i in range(n):
            yield env.timeout(arrivals.sample(rng))
            producer.send(TOPIC, value="PaymentReceived", key=f"account-{i % 4}", msg_id=i)

    env.process(payments())
    sim.main = env.process(sim.lifetime())
    world.run(until=END, wall_limit=None)
    return dict(records=n, committed=sim.committed, end=sim.broker.log_of(TOPIC, 0).end_offset)


def anomalies(trace: pd.DataFrame, state: dict, workload: Mapping[str, Any]) -> dict[str, Anomaly]:
    """Lost records, extra side effects beyond two polls per crash, offsets left uncommitted."""
    done = trace.loc[trace["event"] == "processed", "msg_id"].astype(int).tolist()
    lost = [i for i in range(state["records"]) if i not in done]
    extra = len(done) - len(set(done))
    crashes = int(((trace["event"] == "crash") & (trace["component"] == "consumer")).sum())
    bound = 2 * POLL * crashes
    dups = tuple(dict.fromkeys(i for i in done if done.count(i) > 1))
    returned = trace.loc[(trace["event"] == "loop_returned") & (trace["component"] == "consumer"), "time"]
    return dict(
        returned=Anomaly(len(returned), (), f"the poll loop returned at {float(returned.iloc[0]):.0f} ms"
                         if len(returned) else "the poll loop never returned"),
        lost_record=Anomaly(len(lost), tuple(lost[:5]), f"{len(lost)} of {state['records']} payments never "
                            "processed"),
        unbounded_duplicates=Anomaly(int(extra > bound), dups[:5], f"{extra} repeated side effect(s) for "
                                     f"{crashes} crash(es); at most {2 * POLL} per crash"),
        uncommitted=Anomaly(int(state["committed"] != state["end"]), (),
                            f"committed offset {state['committed']}, log end {state['end']}"),
    )


def explain(name: str, anomaly: Anomaly, run: Any) -> str:
    """Feedback naming the anomaly and where in the poll loop it came from."""
    if run.kind == "baseline":
        hint = {"lost_record": "every polled record must reach a worker",
                "unbounded_duplicates": "without a crash each record must be processed once",
                "uncommitted": "commit (or store) the offsets of the records your workers finished",
                "returned": "a consumer polls for as long as the service runs: a loop that returns (at an empty "
                            "poll, say) leaves every later payment unprocessed; loop for ever"}.get(name, "")
        return f"wrong even without a crash: {anomaly.detail}; {hint}"
    point = run.schedule[0][0] if run.schedule else "?"
    crash = (f"the consumer crashed {point!r}" if run.kind == "exhaustive"
             else f"random crashes struck at {', '.join(repr(p) for p, _ in run.schedule)}")
    cause = {
        "lost_record": "the offset was committed past records the workers had not finished, so the restart "
                       "skipped them: commit (or store) only what the workers have done",
        "unbounded_duplicates": "the restart went back to a committed offset far behind the work already done: "
                                "commit after each batch",
        "uncommitted": "the consumer never committed the end of the log",
        "returned": "the poll loop returned, and nothing polls after it: loop for ever",
    }.get(name, "")
    return f"{anomaly.detail}: {crash}; {cause}"


EXERCISE = register(Exercise(
    name="04-where-to-commit",
    title="Where to commit in a poll loop with a worker pool",
    lesson="04-commit-policies",
    entry="consume",
    component="consumer",
    criteria=(
        Criterion("correct without crashes", 2, ("lost_record", "unbounded_duplicates", "uncommitted", "returned"),
                  scope="baseline"),
        Criterion("no lost record", 4, ("lost_record", "returned")),
        Criterion("duplicates bounded", 3, ("unbounded_duplicates",)),
        Criterion("offsets committed", 1, ("uncommitted",)),
    ),
    # The burst fills every poll, so a loop that lets several polls' work go uncommitted repeats more than
    # two polls' worth after a crash; with 25 ms between payments most polls hold one or two records and hide it.
    cases=(Case(0, {"records": 12}, exhaustive=True, random_runs=2),
           Case(1, {"records": 24, "mean_gap_ms": 1}, exhaustive=True, random_runs=2)),
    simulate=simulate,
    anomalies=anomalies,
    explain=explain,
    run_seconds=4.0,
    max_runs=80,
))
