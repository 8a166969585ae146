"""Exercise 02: an outbox relay (lesson 03), graded on lost events, order, bounded duplicates and a drained outbox.

The service commits ``OrderPlaced`` rows into an outbox table; the learner writes the
relay ``relay(outbox, broker, ctx)``, a generator that runs for ever and sees only:

* ``outbox.unpublished(limit=None)``: the committed rows not yet marked, oldest first,
  each with ``seq``, ``event_id``, ``key`` and ``payload`` (a read: no latency, no crash point);
* ``yield from broker.publish(row)``: publish the row's event to ``orders`` and wait for
  the broker's acknowledgement (acks=all); a durable step;
* ``yield from outbox.mark(row)``: commit that the row was published; a durable step;
* ``ctx.now``, ``ctx.timeout(ms)``, ``ctx.crash_point(name)``.

A crash kills the relay; it restarts 200 ms later with its Python state gone. At least
once is the best a relay can do (lesson 03): a crash after the ack and before the mark
publishes the row again, so the bound is one extra publish per crash.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pandas as pd

from ...broker import Broker
from ...database import Database
from ...distributions import exponential, uniform
from ...errors import ConfigError, Crash
from ...outbox import Outbox
from ...producer import Producer
from ..faults import Faults, call, drive
from ..spec import Anomaly, Case, Criterion, Exercise, register
from ..tools import LearnerContext

__all__ = ["EXERCISE"]

TOPIC, END = "orders", 20_000


class LearnerRow:
    """One committed outbox row: ``seq`` (its position), ``event_id``, ``key``, ``payload``."""

    __slots__ = ("event_id", "key", "payload", "seq")

    def __init__(self, seq: int, event_id: Any, key: Any, payload: Any):
        self.seq, self.event_id, self.key, self.payload = seq, event_id, key, payload

    def __repr__(self) -> str:
        return f"Row(seq={self.seq}, event_id={self.event_id!r})"


def _row(row: Any) -> int:
    if not isinstance(row, LearnerRow):
        raise ConfigError("row", row, "a row from outbox.unpublished()")
    return row.seq


class LearnerOutbox:
    """``unpublished(limit)`` and ``yield from mark(row)``."""

    def __init__(self, outbox: Outbox, faults: Faults):
        self._outbox, self._faults = outbox, faults

    def unpublished(self, limit: int | None = None) -> list[LearnerRow]:
        """Committed rows not yet marked published, oldest first (at most ``limit``)."""
        if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 1):
            raise ConfigError("limit", limit, "None or an int >= 1")
        return [LearnerRow(r.seq, r.event_id, r.key, r.payload) for r in self._outbox.unpublished(limit)]

    def mark(self, row: LearnerRow) -> Any:
        """Commit that ``row`` was published: ``yield from outbox.mark(row)``."""
        seq = _row(row)
        committed = self._outbox.db.tables[self._outbox.table][seq]
        self._faults.current = row.event_id
        self._faults.step("before", "outbox.mark()")
        tx = self._outbox.db.transaction(msg_id=row.event_id)
        self._outbox.mark_published(tx, committed)
        yield from tx.commit()
        self._outbox.world.record("relay", "outbox_marked", topic=TOPIC, key=row.key, msg_id=row.event_id,
                                  detail=f"row {seq}")
        self._faults.step("after", "outbox.mark()")


class LearnerBroker:
    """``yield from broker.publish(row)``: publish and wait for the acknowledgement."""

    def __init__(self, producer: Producer, faults: Faults):
        self._producer, self._faults = producer, faults

    def publish(self, row: LearnerRow) -> Any:
        """Publish ``row``'s event to the orders topic and wait for the broker's ack."""
        seq = _row(row)
        self._faults.current = row.event_id
        self._faults.step("before", "broker.publish()")
        yield self._producer.send(TOPIC, row.payload, key=row.key, msg_id=row.event_id)
        self._producer.world.record("relay", "outbox_published", topic=TOPIC, key=row.key, msg_id=row.event_id,
                                    detail=f"row {seq}")
        self._faults.step("after", "broker.publish()")


def simulate(run: Any) -> dict:
    """The service writes ``orders`` outbox rows; the learner's relay drains them, crashing where scheduled."""
    world, faults = run.world, run.faults
    env = world.env
    broker = Broker(world)
    broker.create_topic(TOPIC, 1)
    producer = Producer(world, broker, "relay-producer")
    db = Database(world, "db", commit_latency=uniform(1, 3))
    outbox = Outbox(db)
    orders = int(run.workload.get("orders", 5))
    gap = float(run.workload.get("gap_ms", 60))
    tools = (LearnerOutbox(outbox, faults), LearnerBroker(producer, faults), LearnerContext(world, faults))

    def service():  # type: ignore[no-untyped-def]
        arrivals, rng = exponential(gap), world.rng("arrivals")
        for i in range(orders):
            yield env.timeout(arrivals.sample(rng))
            tx = db.transaction(msg_id=i)
            outbox.add(tx, i, TOPIC, key=f"order-{i}", payload="OrderPlaced")
            yield from tx.commit()

    def life():  # type: ignore[no-untyped-def]
        while True:
            faults.revive()
            faults.current = None
            try:
                faults.point("when the relay starts")
                steps = call(run.learner.fresh(), faults, "relay", *tools)
                yield from drive(steps, faults, "relay")
                world.record("relay", "relay_returned")
                return
            except Crash as crash:
                world.record("relay", "crash", msg_id=faults.current, detail=crash.point)
                yield env.timeout(200)
                world.record("relay", "restart")

    env.process(service())
    env.process(life())
    world.run(until=END, wall_limit=None)
    rows = db.tables[outbox.table]
    return dict(events=[rows[s].event_id for s in sorted(rows)],
                unmarked=[rows[s].event_id for s in sorted(rows) if rows[s].published_at is None])


def anomalies(trace: pd.DataFrame, state: dict, workload: Mapping[str, Any]) -> dict[str, Anomaly]:
    """Lost events, order of first publishes, extra publishes beyond one per crash, rows left unmarked."""
    appends = trace.loc[(trace["event"] == "append") & (trace["topic"] == TOPIC)].sort_values("offset")
    ids = [int(m) for m in appends["msg_id"]]
    events = [int(e) for e in state["events"]]
    lost = [e for e in events if e not in ids]
    first = list(dict.fromkeys(ids))
    order = [b for a, b in zip(first, first[1:]) if events.index(b) < events.index(a)]
    extra = len(ids) - len(first)
    crashes = int(((trace["event"] == "crash") & (trace["component"] == "relay")).sum())
    dup_ids = tuple(dict.fromkeys(i for i in ids if ids.count(i) > 1))
    returned = trace.loc[(trace["event"] == "relay_returned") & (trace["component"] == "relay"), "time"]
    return dict(
        returned=Anomaly(len(returned), tuple(float(t) for t in returned[:1]),
                         f"the relay returned at {float(returned.iloc[0]):.0f} ms" if len(returned) else
                         "the relay never returned"),
        lost_event=Anomaly(len(lost), tuple(lost[:5]), f"{len(lost)} of {len(events)} outbox events never reached "
                           "the topic"),
        out_of_order=Anomaly(len(order), tuple(order[:5]), f"{len(order)} event(s) first published before an "
                             "older row"),
        unbounded_duplicates=Anomaly(int(extra > crashes), dup_ids[:5],
                                     f"{extra} extra publish(es) for {crashes} crash(es); at most one per crash"),
        unmarked=Anomaly(len(state["unmarked"]), tuple(state["unmarked"][:5]),
                         f"{len(state['unmarked'])} row(s) still unmarked at the end"),
    )


def explain(name: str, anomaly: Anomaly, run: Any) -> str:
    """Feedback naming the anomaly and where in the relay's path it came from."""
    if run.kind == "baseline":
        hint = {"lost_event": "every committed row must be published: does the relay keep polling?",
                "out_of_order": "publish rows in the order outbox.unpublished() gives them",
                "unbounded_duplicates": "without a crash each row must be published once: mark it after its ack",
                "unmarked": "mark each row after its publish is acknowledged",
                "returned": "a relay runs for as long as the service does: every row committed after it returns "
                            "is lost, so it loops for ever"}.get(name, "")
        return f"wrong even without a crash: {anomaly.detail}; {hint}"
    point = run.schedule[0][0] if run.schedule else "?"
    msg = next((m for p, i, m, _d in run.passages if run.schedule and (p, i) == tuple(run.schedule[0])), None)
    crash = (f"the relay crashed {point!r} (row of event {msg})" if run.kind == "exhaustive"
             else f"random crashes struck at {', '.join(repr(p) for p, _ in run.schedule)}")
    cause = {
        "lost_event": "a row was marked before its event was acknowledged, so after the restart nobody published "
                      "it: mark only after the publish",
        "out_of_order": "after the restart a newer row went out before an older one",
        "unbounded_duplicates": "after the restart the relay published again rows whose publish had been "
                                "acknowledged long before: mark each row right after its own ack",
        "unmarked": "the relay stopped before marking every row",
        "returned": "a relay that returns loses every row committed after it: loop for ever",
    }.get(name, "")
    return f"{anomaly.detail}: {crash}; {cause}"


EXERCISE = register(Exercise(
    name="02-outbox-relay",
    title="An outbox relay that survives its own crash",
    lesson="03-lost-messages-dual-write-and-outbox",
    entry="relay",
    component="relay",
    criteria=(
        Criterion("correct without crashes", 2,
                  ("lost_event", "out_of_order", "unbounded_duplicates", "unmarked", "returned"), scope="baseline"),
        Criterion("no lost event", 3, ("lost_event", "returned")),
        Criterion("in order", 2, ("out_of_order",)),
        Criterion("duplicates bounded", 2, ("unbounded_duplicates",)),
        Criterion("outbox drained", 1, ("unmarked",)),
    ),
    # the second case: a burst of 12 orders, so that the relay meets a backlog in which "order-10" sorts
    # before "order-2" as a string (a relay that reorders rows by key passes the 5-order case)
    cases=(Case(0, {"orders": 5}, exhaustive=True, random_runs=2),
           Case(1, {"orders": 12, "gap_ms": 5}, exhaustive=False, random_runs=2)),
    simulate=simulate,
    anomalies=anomalies,
    explain=explain,
    run_seconds=4.0,
    max_runs=60,
))
