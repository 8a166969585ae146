"""Exercise 05: poison messages (lesson 08): bounded retries with back-off, a dead-letter topic, per-key order.

The learner's ``handle(record, tools)`` is a generator. It sees only:

* ``record.key`` (an order id), ``record.msg_id`` and ``record.value``;
* ``yield from tools.apply(record)``: applies the order update to the database. It
  raises :class:`PoisonRecord` for a record that can never be applied (a malformed
  amount) and :class:`DatabaseDown` while the database is down (a window of
  :data:`OUTAGE_MS` ms at a time set by the case, or the case's ``outage_ms``: a long one,
  that no bounded retry rides out);
* ``yield tools.sleep(ms)``: wait, for a back-off;
* ``yield from tools.dead_letter(record, reason)``: publish the record to
  ``orders.DLT`` (Spring's ``DeadLetterPublishingRecoverer`` habit, :mod:`simkit.dlq`);
* ``tools.parked(key)``: whether ``orders.DLT`` already holds a record of ``key``.

One consumer reads the one partition in order and commits after ``handle`` returns.
An exception that escapes ``handle`` leaves the offset uncommitted, so the consumer
polls the same record again 100 ms later, for ever (what a poll loop without an error
handler does).

The grader owns the crashes: a point before and after every ``tools.apply`` (a database
write) and every ``tools.dead_letter`` (a publish), before the handler and before the
offset commit. The crash case (a smaller workload) crashes once at every point passed,
then at random; the restarted consumer gets the uncommitted records again and a fresh
run of the learner's cell (Python state is lost; ``tools.parked`` reads the dead-letter
topic, so it is not). Retries are bounded per delivery: a redelivery after a crash may
try a record again. The order and nothing-dropped criteria hold under crashes too.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from ...broker import Broker
from ...consumer import Consumer
from ...dlq import dead_letter_topic_for
from ...errors import ConfigError
from ...groups import until_drained
from ...producer import Producer
from ..faults import Faults, LearnerFault, call, drive
from ..spec import Anomaly, Case, Criterion, Exercise, register

__all__ = ["EXERCISE", "MAX_ATTEMPTS", "OUTAGE_MS", "DatabaseDown", "PoisonRecord", "anomalies", "explain",
           "simulate"]

TOPIC = "orders"
DLT = dead_letter_topic_for(TOPIC)
OUTAGE_MS = 400
#: tries of one record at most (the first one included): more is not "bounded"
MAX_ATTEMPTS = 6
#: the shortest wait between two tries that counts as a back-off
MIN_BACKOFF_MS = 10


class PoisonRecord(ValueError):
    """The record can never be applied: its amount is malformed."""


class DatabaseDown(ConnectionError):
    """The database is briefly unavailable: the same record may succeed later."""


class LearnerRecord:
    """The record a handler gets: ``key`` (the order id), ``msg_id`` and ``value``."""

    __slots__ = ("key", "msg_id", "value")

    def __init__(self, key: Any, msg_id: Any, value: Any):
        self.key, self.msg_id, self.value = key, msg_id, value


class Tools:
    """``apply``, ``sleep``, ``dead_letter`` and ``parked``: all a handler may use."""

    def __init__(self, world: Any, producer: Producer, outage_at: float, faults: Faults,
                 outage_ms: float = OUTAGE_MS):
        self._world, self._producer, self._outage = world, producer, (outage_at, outage_at + outage_ms)
        self._faults = faults
        self._parked: set[Any] = set()

    def apply(self, record: LearnerRecord) -> Any:
        """Apply the update: ``yield from tools.apply(record)``; raises PoisonRecord or DatabaseDown."""
        world, env = self._world, self._world.env
        self._faults.step("before", "tools.apply()")
        world.record("orders", "attempt", key=record.key, msg_id=record.msg_id)
        yield env.timeout(2)
        if record.value == "malformed":
            raise PoisonRecord(f"order {record.key}: the amount of {record.msg_id} cannot be parsed")
        if self._outage[0] <= env.now < self._outage[1]:
            raise DatabaseDown("the database is briefly down")
        world.record("orders", "applied", key=record.key, msg_id=record.msg_id)
        self._faults.step("after", "tools.apply()")

    def sleep(self, ms: float) -> Any:
        """An event ``ms`` simulated ms from now: ``yield tools.sleep(200)``."""
        if isinstance(ms, bool) or not isinstance(ms, (int, float)) or ms < 0:
            raise ConfigError("ms", ms, "a number of ms >= 0")
        return self._world.env.timeout(ms)

    def dead_letter(self, record: LearnerRecord, reason: str = "") -> Any:
        """Publish ``record`` to orders.DLT and wait for the ack: ``yield from tools.dead_letter(record, why)``."""
        if not isinstance(record, LearnerRecord):
            raise ConfigError("record", record, "the record handle() was given")
        self._faults.step("before", "tools.dead_letter()")
        yield self._producer.send(DLT, record.value, key=record.key, msg_id=record.msg_id)
        self._parked.add(record.key)
        self._world.record("orders", "dead_lettered", key=record.key, msg_id=record.msg_id, detail=str(reason)[:80])
        self._faults.step("after", "tools.dead_letter()")

    def parked(self, key: Any) -> bool:
        """True if orders.DLT already holds a record of ``key``."""
        return key in self._parked


def simulate(run: Any) -> dict:
    """Orders arrive, two of them poison, the database is down once; one consumer runs the learner's handler."""
    world, wl = run.world, run.workload
    env = world.env
    broker = Broker(world)
    broker.create_topic(TOPIC, 1)
    broker.create_topic(DLT, 1)
    producer = Producer(world, broker, "orders-api", partitioner="key")
    relay = Producer(world, broker, "dlt-publisher", partitioner="key")
    faults = run.faults
    tools = Tools(world, relay, float(wl.get("outage_at", 1500)), faults, float(wl.get("outage_ms", OUTAGE_MS)))
    poison = set(wl.get("poison", (3, 11)))
    n = int(wl.get("orders", 30))
    state: dict[str, Any] = {"incarnation": None, "handle": None}

    def handler(rec: Any, _ctx: Any) -> Any:
        if state["incarnation"] != consumer.incarnation:  # a restart: the learner's Python state is gone
            state["incarnation"] = consumer.incarnation
            state["handle"] = run.learner.fresh()
            faults.revive()
        faults.current = rec.msg_id
        faults.point("before the handler runs")
        while True:
            try:
                steps = call(state["handle"], faults, "handle", LearnerRecord(rec.key, rec.msg_id, rec.value),
                             tools)
                yield from drive(steps, faults, "handle")
                break
            except LearnerFault as why:  # escaped the handler: the offset stays, the record comes back
                if not isinstance(why.__cause__, (PoisonRecord, DatabaseDown)):
                    raise
                world.record("consumer", "handler_failed", key=rec.key, msg_id=rec.msg_id, detail=str(why)[:80])
                yield env.timeout(100)
        faults.point("after the handler returned, before the offset commit")

    consumer = Consumer(world, broker, "consumer", TOPIC, handler, group="orders", commit="after_processing",
                        processing_time=1, auto_offset_reset="earliest", session_timeout=300, restart_delay=200,
                        crash_points=("grader",))
    sent = env.event()
    values: dict[str, str] = {}

    def orders() -> Any:
        gaps = world.rng("arrivals")
        for i in range(n):
            yield env.timeout(gaps.expovariate(1 / 100))
            msg, value = f"m-{i}", "malformed" if i in poison else f"amount={100 + i}"
            values[msg] = value
            producer.send(TOPIC, value, key=f"order-{i % 6}", msg_id=msg)
        sent.succeed()

    env.process(orders())
    drained = until_drained(world, broker, consumer.group, [consumer], sent)
    world.run(until=drained | env.timeout(30_000), wall_limit=None)
    return {"values": values, "drained": drained.triggered}


def _gaps(attempts: pd.DataFrame, deliveries: pd.DataFrame) -> list[tuple[str, int, float]]:
    """Per record and delivery: (msg_id, number of tries, shortest wait between two tries in ms).

    A delivery starts at the consumer's ``process`` row of the record: after a crash the
    record comes again, and its tries count afresh.
    """
    out = []
    starts = {m: rows["time"].to_numpy() for m, rows in deliveries.groupby("msg_id", sort=False)}
    for msg, rows in attempts.groupby("msg_id", sort=False):
        times = rows["time"].to_numpy()
        which = np.searchsorted(starts.get(msg, np.zeros(1)), times, side="right")
        for d in dict.fromkeys(which):
            mine = times[which == d]
            waits = mine[1:] - mine[:-1] - 2  # each try itself takes 2 ms
            out.append((msg, len(mine), float(waits.min()) if len(waits) else float("inf")))
    return out


def anomalies(trace: pd.DataFrame, state: dict, workload: Mapping[str, Any]) -> dict[str, Anomaly]:
    """Blocked partition, unbounded or eager retries, good records dead-lettered, order broken, records dropped."""
    values = state["values"]
    ev = trace["event"]
    applied = set(trace.loc[ev == "applied", "msg_id"])
    dead = trace.loc[ev == "dead_lettered", ["msg_id", "key", "time"]]
    # in a long outage a good record that has had its tries belongs in orders.DLT: only a brief one must be ridden out
    brief = float(workload.get("outage_ms", OUTAGE_MS)) <= OUTAGE_MS
    good_dead = [m for m in dead["msg_id"]
                 if brief and values[m] != "malformed" and not _behind_poison(m, trace, values)]
    tries = _gaps(trace[ev == "attempt"], trace[(ev == "process") & (trace["component"] == "consumer")])
    many = [(m, k) for m, k, _w in tries if k > MAX_ATTEMPTS]
    eager = [(m, w) for m, k, w in tries if k > 1 and w < MIN_BACKOFF_MS]
    dropped = [m for m in values if m not in applied and m not in set(dead["msg_id"])] if state["drained"] else []
    broken = []
    for _key, rows in trace[ev.isin(["applied", "dead_lettered"])].groupby("key", sort=False):
        poisoned = False  # an update of this order is in orders.DLT: later ones must not be applied
        for m, e in zip(rows["msg_id"], rows["event"]):
            if e == "dead_lettered":
                poisoned = True
            elif e == "applied" and poisoned:
                broken.append(m)
    out = {
        "blocked": Anomaly(0 if state["drained"] else 1, (),
                           "the partition was still not through its orders after 30 s"),
        "unbounded_retries": Anomaly(len(many), tuple(m for m, _ in many[:5]),
                                     f"a record was tried {max((k for _, k in many), default=0)} times (at most "
                                     f"{MAX_ATTEMPTS} tries allowed)"),
        "no_backoff": Anomaly(len(eager), tuple(m for m, _ in eager[:5]),
                              f"a record was tried again {min((w for _, w in eager), default=0):g} ms after it "
                              f"failed (a back-off waits at least {MIN_BACKOFF_MS} ms)"),
        "good_record_dead_lettered": Anomaly(len(good_dead), tuple(good_dead[:5]),
                                             f"{len(good_dead)} record(s) that could be applied went to orders.DLT"),
        "order_broken": Anomaly(len(broken), tuple(broken[:5]),
                                f"{len(broken)} later update(s) of an order were applied after an earlier update "
                                "of the same order went to orders.DLT"),
        "dropped": Anomaly(len(dropped), tuple(dropped[:5]),
                           f"{len(dropped)} record(s) were neither applied nor dead-lettered"),
    }
    return out


def _behind_poison(msg: str, trace: pd.DataFrame, values: Mapping[str, str]) -> bool:
    """True if ``msg`` was parked: an earlier record of its key is poison."""
    sends = trace.loc[trace["event"] == "send"].drop_duplicates("msg_id")
    sends = sends[sends["topic"] == TOPIC]
    order = list(sends["msg_id"])
    key = sends.set_index("msg_id")["key"]
    return any(values[m] == "malformed" and key[m] == key[msg] for m in order[:order.index(msg)])


def explain(name: str, anomaly: Anomaly, run: Any) -> str:
    """Feedback naming the anomaly and its cause in the handler."""
    why = {
        "blocked": "a poison record never succeeds, so retrying it for ever (or letting its error escape) stops "
                   "the partition: after the last retry, publish it to orders.DLT and return",
        "unbounded_retries": ("bound the retries: a poison record fails every time, and a database that stays down "
                              "longer than your back-off can wait leaves the record for orders.DLT after its last "
                              "try"),
        "no_backoff": "wait between tries (`yield tools.sleep(ms)`), growing the wait, so that a database that is "
                      "briefly down has time to come back",
        "good_record_dead_lettered": "a DatabaseDown is transient: retry it with a back-off long enough to outlast "
                                     "a short outage (400 ms here) before giving up",
        "order_broken": "once an update of an order is in orders.DLT, applying a later update of that order "
                        "applies them out of order: park the later ones too (tools.parked(record.key))",
        "dropped": "a record that fails for good must go to orders.DLT, not vanish",
    }.get(name, "")
    if run.kind != "baseline" and run.schedule:
        why += (f"; it went wrong after the consumer crashed {run.schedule[0][0]!r}: the restarted consumer gets "
                "the uncommitted records again, and your Python variables are gone (tools.parked reads the "
                "dead-letter topic, which a crash does not wipe)")
    return f"{anomaly.detail} (e.g. {list(anomaly.examples)[:2]}): {why}" if anomaly.examples else \
        f"{anomaly.detail}: {why}"


SHOWN = ("attempt", "applied", "dead_lettered", "handler_failed")


def draw(fr: Any, ax: Any) -> Any:
    """Every try, every record applied, dead-lettered or whose error escaped the handler, over time."""
    trace = fr.trace
    rows = trace[trace.event.isin(SHOWN)]
    for i, event in enumerate(SHOWN):
        times = rows[rows.event == event].time
        ax.plot(times, [i] * len(times), "|", markersize=14, label=f"{event} ({len(times)})")
    ax.set_yticks(range(len(SHOWN)), SHOWN)
    ax.set_xlabel("time (ms)")
    ax.set_title(fr.label)
    return ax


def examples(fr: Any) -> pd.DataFrame:
    """Those rows for the records the anomalies name."""
    trace = fr.trace
    rows = trace[trace.event.isin(SHOWN)]
    return rows[rows.msg_id.isin(fr.highlight)].head(10)


EXERCISE = register(Exercise(
    name="05-poison-messages",
    title="Poison messages: retries with back-off, a dead-letter topic, per-key order",
    lesson="08-poison-messages-dead-letters-and-replay",
    entry="handle",
    component="consumer",
    criteria=(
        Criterion("the partition keeps moving", 2, ("blocked",), scope="baseline"),
        Criterion("bounded retries with back-off", 2, ("unbounded_retries", "no_backoff"), scope="baseline"),
        Criterion("a brief outage is ridden out", 2, ("good_record_dead_lettered",), scope="baseline"),
        Criterion("per-order order holds", 2, ("order_broken",)),
        Criterion("nothing dropped", 2, ("dropped",)),
    ),
    cases=(Case(0, {"outage_at": 1500, "poison": (3, 11)}, exhaustive=False, random_runs=0),
           Case(1, {"outage_at": 800, "poison": (2, 20)}, exhaustive=False, random_runs=0),
           # the crash case: small enough to crash once at every point passed
           Case(2, {"orders": 8, "outage_at": 300, "poison": (1,)}, exhaustive=True, random_runs=2),
           # a long outage: a handler that retries the database for as long as it is down is tried more than
           # MAX_ATTEMPTS times here (the brief outages above end before that); dead-lettering is right here
           Case(3, {"outage_at": 800, "outage_ms": 5_000, "poison": (2, 20)}, exhaustive=False, random_runs=0)),
    run_seconds=8.0,
    max_runs=60,
    simulate=simulate,
    anomalies=anomalies,
    explain=explain,
    draw=draw,
    examples=examples,
))
