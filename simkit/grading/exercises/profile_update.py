"""Exercise 07: the profile update handler (lesson 01), graded on own reads, lost and phantom events.

The learner's ``update(request, db, broker, ctx)`` answers one profile update and sees only:

* ``request.user_id``, ``request.changes`` (a dict of fields), ``request.request_id``;
* ``db.transaction()`` with ``tx.get(table, key, default)``, ``tx.put(table, key, value)``,
  ``tx.add_event(topic, key, value)`` (an outbox row, published by the grader's relay
  once the transaction commits) and ``yield from tx.commit()``;
* ``yield from broker.publish(topic, key, value)``: a direct publish; it raises
  :class:`~simkit.errors.BrokerUnavailable` while the broker is down;
* ``ctx.now``, ``ctx.timeout(ms)``, ``ctx.crash_point(name)``.

The answer is the generator's return. Right after it, the same user reads their profile
from ``profiles`` (committed rows only). The CRM reads ``ProfileChanged`` events from
the ``profile-changes`` topic. The broker is down for a window of the workload (a
mechanism, the same in every run). A crash kills the service with the request in hand
(the client gets no answer and does not retry); it restarts 200 ms later with its Python
state gone. The grader's relay never crashes.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pandas as pd

from ...broker import Broker
from ...database import Database
from ...distributions import exponential, uniform
from ...errors import BrokerUnavailable, ClientError, ConfigError, Crash
from ...outbox import Outbox
from ...producer import Producer
from ..faults import Faults, LearnerFault, call, drive
from ..spec import Anomaly, Case, Criterion, Exercise, register
from ..tools import LearnerContext

__all__ = ["EXERCISE", "PROFILES", "TOPIC"]

PROFILES, TOPIC, END = "profiles", "profile-changes", 6_000


class LearnerRequest:
    """``user_id``, ``changes`` (a dict of fields) and ``request_id``."""

    __slots__ = ("changes", "request_id", "user_id")

    def __init__(self, user_id: str, changes: dict, request_id: int):
        self.user_id, self.changes, self.request_id = user_id, dict(changes), request_id


def _name(value: Any, param: str, example: str) -> str:
    if not isinstance(value, str) or not value:
        raise ConfigError(param, value, f"a name such as {example!r}")
    return value


class LearnerTransaction:
    """``get``, ``put``, ``add_event`` and ``yield from commit()``; the commit is a durable step."""

    def __init__(self, db: Database, outbox: Outbox, faults: Faults):
        self._db, self._outbox, self._faults = db, outbox, faults
        self._request = faults.current
        self._tx = db.transaction(msg_id=self._request)
        self._events = 0

    def get(self, table: str, key: Any, default: Any = None) -> Any:
        """The value of ``key`` in ``table`` as this transaction sees it, else ``default``."""
        _name(table, "table", PROFILES)
        if table not in self._db.tables:
            return default
        return self._tx.get(table, key, default)

    def put(self, table: str, key: Any, value: Any) -> None:
        """Write ``value`` under ``key`` in ``table`` (created on first write); visible after commit."""
        _name(table, "table", PROFILES)
        if table == self._outbox.table:
            raise ConfigError("table", table, "any table but the outbox: use tx.add_event(topic, key, value)")
        if table not in self._db.tables:
            self._db.create_table(table)
        self._tx.put(table, key, value)

    def add_event(self, topic: str, key: Any, value: Any) -> None:
        """Write an outbox row in this transaction; the relay publishes it to ``topic`` after the commit."""
        _name(topic, "topic", TOPIC)
        self._outbox.add(self._tx, self._request, topic, key=key, payload=value)
        self._events += 1

    def commit(self) -> Any:
        """Commit every write and event at once: ``yield from tx.commit()``."""
        tables = sorted({t for t, _ in self._tx._writes})
        what = ", ".join(tables) or "nothing"
        self._faults.step("before", f"tx.commit() of {what}")
        yield from self._tx.commit()
        world = self._db.world
        if PROFILES in tables:
            world.record("service", "profile_committed", msg_id=self._request)
        if self._events:
            world.record("service", "outbox_committed", msg_id=self._request)
        self._faults.step("after", f"tx.commit() of {what}")


class LearnerDatabase:
    """The only door to the database: ``db.transaction()``."""

    def __init__(self, db: Database, outbox: Outbox, faults: Faults):
        self._db, self._outbox, self._faults = db, outbox, faults

    def transaction(self) -> LearnerTransaction:
        """Open a transaction."""
        return LearnerTransaction(self._db, self._outbox, self._faults)


class LearnerBroker:
    """``yield from broker.publish(topic, key, value)``: publish directly and wait for the ack."""

    def __init__(self, broker: Broker, producer: Producer, faults: Faults):
        self._broker, self._producer, self._faults = broker, producer, faults

    def publish(self, topic: str, key: Any, value: Any) -> Any:
        """Publish and wait for the ack; raises ``BrokerUnavailable`` while the broker is down."""
        _name(topic, "topic", TOPIC)
        self._faults.step("before", "broker.publish()")
        yield self._producer.world.env.timeout(2)
        if self._broker.down:
            self._producer.world.record("service", "publish_refused", msg_id=self._faults.current)
            raise BrokerUnavailable(f"{self._broker.name} is down: publish refused")
        yield self._producer.send(topic, value, key=key, msg_id=self._faults.current)
        self._faults.step("after", "broker.publish()")


def _holds(profile: Any, changes: dict) -> bool:
    return isinstance(profile, Mapping) and all(k in profile and profile[k] == v for k, v in changes.items())


def simulate(run: Any) -> dict:
    """Users update their profiles, one request at a time; each answer is followed by the user's own read."""
    world, faults = run.world, run.faults
    env = world.env
    broker = Broker(world)
    broker.create_topic(TOPIC, 1)
    db = Database(world, "db", commit_latency=uniform(1, 3))
    db.create_table(PROFILES)
    outbox = Outbox(db)
    service_producer = Producer(world, broker, "profile-service", retries=1, delivery_timeout=50,
                                request_timeout=20)
    relay_producer = Producer(world, broker, "relay")
    n, users = int(run.workload.get("requests", 6)), int(run.workload.get("users", 3))
    start, length = run.workload.get("outage", (150, 250))
    broker.outage(start, length)
    tools = (LearnerDatabase(db, outbox, faults), LearnerBroker(broker, service_producer, faults),
             LearnerContext(world, faults))
    requests = []
    rng = world.rng("requests")
    for i in range(n):
        user = f"user-{i % users}"
        # a user's requests change different fields (email, then name): a handler that replaces the profile with
        # the request's changes, instead of merging them into it, drops the field the user set before
        field = {"email": f"{user}+{i}@example.com"} if (i // users) % 2 == 0 else {"name": f"{user} #{i}"}
        requests.append(LearnerRequest(user, {**field, "rev": i}, i))
    inbox: list[tuple[float, LearnerRequest]] = []
    arrivals = exponential(60)
    t = 0.0
    for r in requests:
        t += arrivals.sample(rng)
        inbox.append((t, r))
    handled: list[int] = []

    def service():  # type: ignore[no-untyped-def]
        update = run.learner.fresh()
        for at, req in inbox:
            if env.now < at:
                yield env.timeout(at - env.now)
            faults.current = req.request_id
            world.record("service", "request", key=req.user_id, msg_id=req.request_id)
            try:
                faults.point("when the request arrives")
                steps = call(update, faults, "update", LearnerRequest(req.user_id, req.changes, req.request_id),
                             *tools)
                yield from drive(steps, faults, "update")
            except Crash as crash:
                world.record("service", "crash", msg_id=req.request_id, detail=crash.point)
                handled.append(req.request_id)
                yield env.timeout(200)
                world.record("service", "restart")
                update = run.learner.fresh()
                faults.revive()
                continue
            except LearnerFault as fault:
                if not isinstance(fault.__cause__, (ClientError, BrokerUnavailable)):
                    raise
                world.record("service", "request_failed", key=req.user_id, msg_id=req.request_id,
                             detail=repr(fault.__cause__)[:60])
                handled.append(req.request_id)
                continue
            world.record("service", "answered", key=req.user_id, msg_id=req.request_id)
            fresh = _holds(db.tables[PROFILES].get(req.user_id), req.changes)
            world.record("client", "own_read", key=req.user_id, msg_id=req.request_id,
                         detail="fresh" if fresh else "stale")
            handled.append(req.request_id)

    def relay():  # type: ignore[no-untyped-def]
        while True:
            for row in outbox.unpublished():
                if broker.down:
                    break
                try:
                    yield relay_producer.send(row.topic, row.payload, key=row.key, msg_id=row.event_id)
                except ClientError:
                    break
                tx = db.transaction(msg_id=row.event_id)
                outbox.mark_published(tx, row)
                yield from tx.commit()
            yield env.timeout(20)

    env.process(service())
    env.process(relay())
    world.run(until=END, wall_limit=None)
    # by the key's text: the state travels as JSON, whose keys are strings (a learner may key a row by a tuple)
    profiles = {str(u): dict(p) if isinstance(p, Mapping) else repr(p) for u, p in db.tables[PROFILES].items()}
    return dict(requests=[r.request_id for r in requests], handled=handled, profiles=profiles,
                changes=[[r.user_id, r.changes] for r in requests])  # by request id, 0 to n - 1


def anomalies(trace: pd.DataFrame, state: dict, workload: Mapping[str, Any]) -> dict[str, Anomaly]:
    """Stale own reads, committed changes without an event, events without a committed change, failed requests."""
    def ids(event: str, **where: Any) -> list[int]:
        rows = trace[trace["event"] == event]
        for col, val in where.items():
            rows = rows[rows[col] == val]
        return [int(m) for m in rows["msg_id"]]

    committed = set(ids("profile_committed"))
    events = set(ids("append", topic=TOPIC))
    reads = trace[trace["event"] == "own_read"]
    stale = [int(m) for m in reads.loc[reads["detail"] == "stale", "msg_id"]]
    lost = sorted(committed - events)
    phantom = sorted(events - committed)
    failed = ids("request_failed")
    out = dict(
        stale_read=Anomaly(len(stale), tuple(stale[:5]), f"{len(stale)} answered update(s) the user's own read "
                           "did not see"),
        lost_event=Anomaly(len(lost), tuple(lost[:5]), f"{len(lost)} committed change(s) never reached the CRM "
                           "as a ProfileChanged event"),
        phantom_event=Anomaly(len(phantom), tuple(phantom[:5]), f"{len(phantom)} ProfileChanged event(s) for a "
                              "change that was never committed"),
        failed_request=Anomaly(len(failed), tuple(failed[:5]), f"{len(failed)} update(s) answered with an error "
                               "while the broker was down"),
    )
    expected: dict[str, dict] = {}
    for request_id in sorted(committed):  # one request at a time: committed in the order they came
        user, changes = state["changes"][request_id]
        expected.setdefault(user, {}).update(changes)
    kept = state["profiles"]
    clobbered = [u for u, want in expected.items() if not _holds(kept.get(u), want)]
    out["clobbered_profile"] = Anomaly(len(clobbered), (), f"{len(clobbered)} user(s) whose profile lost a field "
                                       "an earlier committed update had set" + (
                                           f" ({clobbered[0]}: {kept.get(clobbered[0])!r}, expected to hold "
                                           f"{expected[clobbered[0]]!r})" if clobbered else ""))
    users = {user for user, _changes in state["changes"]}
    strays = sorted(k for k in kept if k not in users)
    out["stray_row"] = Anomaly(len(strays), (), f"{len(strays)} row(s) of profiles under keys that are not user ids"
                               + (f" (e.g. {strays[0]!r})" if strays else ""))
    if len(state["handled"]) < len(state["requests"]):
        out["stuck"] = Anomaly(1, (), f"only {len(state['handled'])} of {len(state['requests'])} requests were "
                               "handled by the end")
    return out


def explain(name: str, anomaly: Anomaly, run: Any) -> str:
    """Feedback naming the anomaly and its cause in the learner's code path."""
    if run.kind == "baseline":
        hint = {
            "stale_read": "commit the profile change before you answer (yield from tx.commit()), not later",
            "lost_event": "the broker was down for a while: an event published directly is lost when the publish "
                          "fails; write it with tx.add_event in the transaction of the change",
            "phantom_event": "an event went out for a change that was never committed to profiles",
            "failed_request": "the update failed because the broker was down: the user's answer must not depend "
                              "on the broker",
            "clobbered_profile": "merge the request's changes into the user's profile (read it, update it, put it "
                                 "back), rather than replacing the profile with the changes alone",
            "stray_row": "profiles holds one row per user, under the user id, and nothing else (a log of requests "
                         "belongs in a table of its own)",
            "stuck": "requests are handled one at a time, so a handler that waits long holds up every request "
                     "behind it: answer as soon as the change is committed",
        }.get(name, "")
        return f"wrong even without a crash: {anomaly.detail}; {hint}"
    point = run.schedule[0][0] if run.schedule else "?"
    msg = next((m for p, i, m, _d in run.passages if run.schedule and (p, i) == tuple(run.schedule[0])), None)
    crash = (f"the service crashed {point!r} while handling request {msg}" if run.kind == "exhaustive"
             else f"random crashes struck at {', '.join(repr(p) for p, _ in run.schedule)}")
    cause = {
        "lost_event": "the change was committed but its event was not yet out, and after the restart nobody "
                      "sent it: commit the profile and the event (tx.add_event) in one transaction",
        "phantom_event": "the event was published before the change was committed, and the crash stopped the "
                         "commit: the CRM heard of a change that never happened",
        "stale_read": "the answer went out before the change was committed",
        "clobbered_profile": "merge the request's changes into the user's profile rather than replacing it",
    }.get(name, "")
    return f"{anomaly.detail}: {crash}; {cause}"


EXERCISE = register(Exercise(
    name="07-profile-update",
    title="A profile update: read your own writes, and no event lost",
    lesson="01-read-your-own-writes",
    entry="update",
    component="service",
    criteria=(
        Criterion("correct without crashes", 2,
                  ("stale_read", "lost_event", "phantom_event", "failed_request", "stray_row", "clobbered_profile",
                   "stuck"), scope="baseline"),
        Criterion("reads see own write", 2, ("stale_read", "clobbered_profile", "stuck")),
        Criterion("no lost event", 3, ("lost_event",)),
        Criterion("no phantom event", 3, ("phantom_event",)),
    ),
    cases=(Case(0, {"requests": 6, "users": 3, "outage": (150, 250)}, exhaustive=True, random_runs=2),),
    simulate=simulate,
    anomalies=anomalies,
    explain=explain,
    run_seconds=4.0,
    max_runs=60,
))
