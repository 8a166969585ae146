"""Exercise 01: an idempotent welcome handler (lesson 06), graded on lost users, duplicate emails, the counter.

The learner's ``handle(record, ctx, db)`` sees only:

* ``record.key`` (the user id), ``record.msg_id``, ``record.value``;
* ``db.transaction()`` with ``tx.get(table, key, default)``, ``tx.put(table, key, value)``
  and ``yield from tx.commit()``; any table name may be used (created on first write);
* ``ctx.now``, ``ctx.timeout(ms)`` and ``ctx.crash_point(name)`` (extra points, never instead of the grader's).

The consumer commits its offset after the handler returns (``enable.auto.commit=false``
and a synchronous commit after the work: at-least-once). The simulated database is
``isolation="serializable"`` (see :mod:`simkit.database`): a transaction sees the rows
committed when it reads, its writes land together at commit, and a commit is refused with
a ``TransactionConflict`` (nothing written) when a key it read or wrote was committed by
another transaction since. A handler that raises it has failed the record, which is not
committed, so it is delivered again (up to :data:`ATTEMPTS` times), as Kafka would.

Two cases: one consumer owning the one partition, crashed at every durable step (and
randomly); and a *zombie*: a member that polled the records, stalled (a long GC pause)
after one of its durable steps while its partition moved to a new owner, and went on
once the new owner had handled the same record. The zombie is paused at each of its
grader-owned points in turn. The "concurrent delivery" criterion counts only what the
overlap breaks: an anomaly that neither the same two deliveries one after the other nor
a crash of the zombie at that same point shows (those are the other criteria's).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pandas as pd

from ...broker import Broker
from ...consumer import Consumer
from ...database import Database
from ...distributions import exponential, uniform
from ...errors import ConfigError, Crash, TransactionConflict
from ...groups import until_drained
from ...producer import Producer
from ...world import World
from ..faults import Faults, LearnerFault, call, drive, learner_line
from ..spec import Anomaly, Case, Criterion, Exercise, register
from ..tools import LearnerContext

__all__ = ["ATTEMPTS", "EMAILS", "EXERCISE", "STATS"]

EMAILS, STATS, TOPIC = "welcome.emails", "welcome.stats", "signups"
#: deliveries of one record a member makes while its transactions keep conflicting
ATTEMPTS = 5
#: the zombie case: the zombie handles its polled records from ZOMBIE_START; the new owner gets the
#: partition at OWNER_START (after the session timeout and the rebalance); a paused zombie goes on at PAUSE_END
ZOMBIE_START, OWNER_START, PAUSE_END = 10.0, 300.0, 600.0


class LearnerRecord:
    """The record a handler gets: ``key`` (the user id), ``msg_id`` and ``value``."""

    __slots__ = ("key", "msg_id", "value")

    def __init__(self, key: Any, msg_id: Any, value: Any):
        self.key, self.msg_id, self.value = key, msg_id, value


class LearnerTransaction:
    """``get``, ``put`` and ``yield from commit()``: the commit is a durable step with a crash point either side."""

    def __init__(self, db: Database, faults: Faults, msg_id: Any):
        self._tx = db.transaction(msg_id=msg_id)
        self._db = db
        self._faults = faults

    def get(self, table: str, key: Any, default: Any = None) -> Any:
        """The value of ``key`` in ``table`` as this transaction sees it, else ``default``."""
        if not isinstance(table, str) or not table:
            raise ConfigError("table", table, "a table name such as 'welcome.emails'")
        if table not in self._db.tables:
            return default
        return self._tx.get(table, key, default)

    def put(self, table: str, key: Any, value: Any) -> None:
        """Write ``value`` under ``key`` in ``table`` (created on first write); visible after commit."""
        if not isinstance(table, str) or not table:
            raise ConfigError("table", table, "a table name such as 'welcome.emails'")
        if table not in self._db.tables:
            self._db.create_table(table)
        self._tx.put(table, key, value)

    def commit(self) -> Any:
        """Commit every write at once: ``yield from tx.commit()``; ``TransactionConflict`` if it lost a race."""
        tables = ", ".join(sorted({t for t, _ in self._tx._writes})) or "nothing"
        self._faults.step("before", f"tx.commit() of {tables}")
        yield from _hold(self._faults)
        yield from self._tx.commit()
        self._faults.step("after", f"tx.commit() of {tables}")
        yield from _hold(self._faults)


class Pauses:
    """The zombie's fault schedule: a scheduled point pauses the member until PAUSE_END instead of crashing it.

    It passes the grader's points through the run's :class:`Faults` (so the grader sees
    every passage and every pause that struck), and turns the crash into a stall, as a
    long GC pause stalls a member whose session then times out.
    """

    def __init__(self, faults: Faults, world: Any):
        self._faults, self._world, self.pending = faults, world, False

    def __getattr__(self, name: str) -> Any:
        return getattr(self._faults, name)

    def step(self, when: str, what: str) -> None:
        line = learner_line()
        self.point(f"{when} {what}" + (f" (line {line})" if line else ""))

    def point(self, name: str, declared: bool = False) -> None:
        if declared:  # the zombie stalls only at the grader's own points
            return
        try:
            self._faults.point(name)
        except Crash:
            self._faults.revive()
            self.pending = True
            self._world.record("zombie", "paused", msg_id=self._faults.current, detail=name)


def _hold(faults: Any) -> Any:
    """The stall a :class:`Pauses` has pending, as SimPy steps (nothing for the ordinary faults)."""
    if isinstance(faults, Pauses) and faults.pending:
        faults.pending = False
        env = faults._world.env
        yield env.timeout(max(0.0, PAUSE_END - env.now))
        faults._world.record("zombie", "resumed", msg_id=faults.current, detail="the pause ended")


class LearnerDatabase:
    """The only door to the database: ``db.transaction()``."""

    def __init__(self, db: Database, faults: Faults):
        self._db, self._faults, self._msg = db, faults, None

    def transaction(self) -> LearnerTransaction:
        """Open a transaction."""
        return LearnerTransaction(self._db, self._faults, self._faults.current)


def deliver(world: Any, who: str, handle: Any, faults: Any, rec: LearnerRecord, ctx: Any, db: Any) -> Any:
    """Run ``handle`` on ``rec``; a ``TransactionConflict`` fails the attempt and the record comes again.

    The offset of a failed record is not committed, and the consumer seeks back to it so
    that the next poll returns it, as a Kafka listener's error handler does (Spring for
    Apache Kafka's ``DefaultErrorHandler`` seeks to the failed record and redelivers it).
    """
    for attempt in range(1, ATTEMPTS + 1):
        steps = call(handle, faults, "handle", rec, ctx, db)
        try:
            return (yield from drive(steps, faults, "handle"))
        except LearnerFault as exc:
            if not isinstance(exc.__cause__, TransactionConflict) or attempt == ATTEMPTS:
                raise
            world.record(who, "handler_retry", key=rec.key, msg_id=rec.msg_id,
                         detail=f"attempt {attempt}: TransactionConflict; the record is not committed, so it "
                                "is delivered again")


def _world(run: Any, world: World, faults: Faults, zombie: str | None) -> dict:
    """One world of the exercise; ``zombie``: an old owner and the new owner handle the same records.

    ``zombie="stall"`` pauses the old owner at its scheduled point; ``"crash"`` kills it
    there for good (its partition moved: nothing restarts it).
    """
    env = world.env
    broker = Broker(world)
    broker.create_topic(TOPIC, 1)
    producer = Producer(world, broker, "producer", partitioner="key")
    db = Database(world, "db", commit_latency=uniform(1, 3), isolation="serializable")
    db.create_table(STATS)
    db.create_table(EMAILS)
    users = {f"user-{i}": i for i in range(int(run.workload.get("users", 6)))}
    writes: dict[str, int] = {}

    class MailRelay(dict):  # type: ignore[type-arg]
        """The emails table: every committed write of a row hands one email to the mailer."""

        def __setitem__(self, user: Any, value: Any) -> None:
            super().__setitem__(user, value)
            writes[str(user)] = writes.get(str(user), 0) + 1
            world.record("mail_relay", "email_queued", key=user, msg_id=users.get(user), detail=repr(value)[:40])

    db.tables[EMAILS] = MailRelay()
    # in the zombie case the new owner never crashes: the grader's schedule is the zombie's pauses
    owner_faults = Faults(world, "consumer") if zombie else faults
    learner_db, ctx = LearnerDatabase(db, owner_faults), LearnerContext(world, owner_faults)
    state: dict[str, Any] = {"incarnation": None, "handle": None}

    def handler(rec: Any, _ctx: Any) -> Any:
        if state["incarnation"] != consumer.incarnation:  # a restart: the learner's Python state is gone
            state["incarnation"] = consumer.incarnation
            state["handle"] = run.learner.fresh()
            owner_faults.revive()
        owner_faults.current = rec.msg_id
        owner_faults.point("before the handler runs")
        yield from deliver(world, "consumer", state["handle"], owner_faults,
                           LearnerRecord(rec.key, rec.msg_id, rec.value), ctx, learner_db)
        owner_faults.point("after the handler returned, before the offset commit")

    consumer = Consumer(world, broker, "consumer", TOPIC, handler, group="welcome", commit="after_processing",
                        max_poll_records=5, processing_time=1, auto_offset_reset="earliest",
                        session_timeout=300, restart_delay=200, crash_points=("grader",),
                        start=OWNER_START if zombie else 0)
    sent = env.event()

    def signups():  # type: ignore[no-untyped-def]
        arrivals, rng = exponential(10), world.rng("arrivals")
        for user, i in users.items():
            yield env.timeout(1 if zombie else arrivals.sample(rng))
            producer.send(TOPIC, value="UserSignedUp", key=user, msg_id=i)
        sent.succeed()

    def zombie_member():  # type: ignore[no-untyped-def]
        """The old owner: it polled every record, and handles them after its partition moved."""
        pauses = Pauses(faults, world) if zombie == "stall" else faults
        handle, zdb, zctx = run.learner.fresh(), LearnerDatabase(db, pauses), LearnerContext(world, pauses)
        yield env.timeout(ZOMBIE_START)
        world.record("zombie", "fetch", detail=f"{len(users)} records, polled before its partition moved")
        try:
            for user, i in users.items():
                faults.current = i
                world.record("zombie", "process", key=user, msg_id=i)
                pauses.point("before the handler runs")
                yield from _hold(pauses)
                yield from deliver(world, "zombie", handle, pauses, LearnerRecord(user, i, "UserSignedUp"), zctx,
                                   zdb)
                world.record("zombie", "processed", key=user, msg_id=i)
        except Crash as crash:
            world.record("zombie", "crash", msg_id=faults.current, detail=crash.point)
            return
        world.record("zombie", "commit_failed", detail="CommitFailed: the group rebalanced, its partition moved")

    env.process(signups())
    drained = until_drained(world, broker, consumer.group, [consumer], sent)
    done = (drained & env.process(zombie_member())) if zombie else drained
    world.run(until=done | env.timeout(60_000), wall_limit=None)
    signups_value = db.tables[STATS].get("signups")
    return dict(users=users, emails=sorted(map(str, db.tables[EMAILS])),
                signups=signups_value if isinstance(signups_value, int) else repr(signups_value),
                drained=done.triggered, email_writes=writes)


def simulate(run: Any) -> dict:
    """Users sign up once each; the learner's handler runs in one consumer (and a zombie); the final tables.

    In the zombie case a run with a pause also runs two controls: the same world with
    no pause (the two deliveries one after the other) and with the zombie crashed at the
    paused point instead (the one-consumer crash case), so the grader can tell what the
    overlap broke from what a redelivery or a crash already breaks.
    """
    zombie = "stall" if run.workload.get("zombie") else None
    state = _world(run, run.world, run.faults, zombie)
    if zombie:
        keep = ("emails", "signups", "drained", "email_writes")
        controls = [state]
        if run.faults.schedule:
            again, crashed = World(run.world.seed), World(run.world.seed)
            controls = [_world(run, again, Faults(again, "zombie"), "stall"),
                        _world(run, crashed, Faults(crashed, "zombie", run.faults.schedule), "crash")]
        state["controls"] = [{k: c[k] for k in keep} for c in controls]
    return state


def _overlap(state: dict) -> dict[str, Anomaly]:
    """The zombie case: what the run shows and neither control (one after the other; a crash there) does."""
    users: dict[str, int] = state["users"]
    n, controls, got = len(users), state["controls"], state["email_writes"]
    lost = [users[u] for u in users if u not in set(state["emails"]) and all(u in c["emails"] for c in controls)]
    dup = [users[u] for u in users
           if got.get(u, 0) > 1 and all(c["email_writes"].get(u, 0) <= 1 for c in controls)]
    wrong = state["signups"] != n and all(c["signups"] == n for c in controls)
    out = {"overlap_lost_user": Anomaly(len(lost), tuple(lost[:5]), f"{len(lost)} of {n} users got no email row"),
           "overlap_duplicate_email": Anomaly(len(dup), tuple(dup[:5]), f"{len(dup)} user(s) got more than one email"),
           "overlap_wrong_counter": Anomaly(int(wrong), (),
                                            f"welcome.stats['signups'] is {state['signups']!r}, expected {n}")}
    if not state["drained"] and all(c["drained"] for c in controls):
        out["overlap_stuck"] = Anomaly(1, (), "records were still unprocessed after 60 s of simulated time")
    return out


def anomalies(trace: pd.DataFrame, state: dict, workload: Mapping[str, Any]) -> dict[str, Anomaly]:
    """Lost users, duplicate emails and a wrong counter, from the trace and the final tables."""
    if workload.get("zombie"):
        return _overlap(state)
    users: dict[str, int] = state["users"]
    queued = trace.loc[trace["event"] == "email_queued", "key"]
    counts = queued.value_counts()
    lost = [users[u] for u in users if u not in set(state["emails"]) or counts.get(u, 0) == 0]
    dup = [users[u] for u in users if counts.get(u, 0) > 1]
    signups, n = state["signups"], len(users)
    processed = trace.loc[trace["event"] == "process", "msg_id"].value_counts()
    redelivered = tuple(int(m) for m in processed.index if processed[m] > 1)
    wrong = Anomaly(0 if signups == n else 1, redelivered[:5],
                    f"welcome.stats['signups'] is {signups!r}, expected {n}")
    out = dict(lost_user=Anomaly(len(lost), tuple(lost[:5]), f"{len(lost)} of {n} users got no email row"),
               duplicate_email=Anomaly(len(dup), tuple(dup[:5]),
                                       f"{len(dup)} user(s) got more than one email"),
               wrong_counter=wrong)
    strays = [k for k in state["emails"] if k not in users]  # the relay emails these rows too
    out["stray_email"] = Anomaly(len(strays), (),
                                 f"{len(strays)} row(s) of welcome.emails under keys that are not user ids"
                                 + (f" (e.g. {strays[0]!r}), each one emailed" if strays else ""))
    if not state["drained"]:
        out["stuck"] = Anomaly(1, (), "records were still unprocessed after 60 s of simulated time")
    return out


def _where(run: Any) -> tuple[str, Any]:
    point = run.schedule[0][0] if run.schedule else "?"
    msg = next((m for p, i, m, _d in run.passages if (p, i) == tuple(run.schedule[0])), None) \
        if run.schedule else None
    return point, msg


def explain(name: str, anomaly: Anomaly, run: Any) -> str:
    """Feedback naming the anomaly and its cause in the learner's code path."""
    if run.kind == "baseline":
        strays = [k for k in run.state.get("emails", ()) if k not in run.state.get("users", {})]
        if name == "lost_user" and strays:
            return (f"wrong even without a crash: {anomaly.detail}, and welcome.emails has rows under keys that are "
                    f"not user ids (e.g. {strays[0]!r}): key each user's row by the user id, record.key")
        return {
            "lost_user": f"wrong even without a crash: {anomaly.detail} (e.g. msg_id {list(anomaly.examples)[:1]}); "
                         "every first delivery must commit the user's welcome.emails row",
            "duplicate_email": f"wrong even without a crash: {anomaly.detail}; the handler writes a user's "
                               "email row more than once on a single delivery",
            "wrong_counter": f"wrong even without a crash: {anomaly.detail}; add one per new user, "
                             "in the transaction that writes the email row",
            "stuck": f"wrong even without a crash: {anomaly.detail}",
            "stray_email": f"wrong even without a crash: {anomaly.detail}; welcome.emails holds the users' rows "
                           "alone, since the relay emails every row written there: keep a 'seen' marker in a "
                           "table of its own",
        }.get(name, anomaly.detail)
    point, msg = _where(run)
    if name.startswith("overlap_"):
        zombie = (f"a zombie member (the old owner, still processing after its partition moved) stalled {point!r} "
                  f"on msg_id {msg} while the new owner handled the same record, then went on")
        if "after tx.commit()" in point:
            cause = ("the check and the effect are in different transactions, which lets two members both pass "
                     "the check: the zombie's check had committed before its stall, and its later transaction "
                     "wrote without reading again what the new owner had committed meanwhile. Check and write "
                     "in ONE transaction: under serializable isolation the second to commit then gets a "
                     "TransactionConflict, and its redelivery sees the user as welcomed")
        else:
            cause = ("the two members' transactions overlapped and both took effect; check and write in ONE "
                     "transaction, so that the second to commit gets a TransactionConflict and its redelivery "
                     "sees the user as welcomed")
        return f"{anomaly.detail}: {zombie}; {cause}"
    crash = (f"the consumer crashed {point!r} while handling msg_id {msg}" if run.kind == "exhaustive"
             else f"random crashes struck at {', '.join(repr(p) for p, _ in run.schedule)}")
    stats_alone = "welcome.stats" in point and EMAILS not in point and "after tx.commit()" in point
    emails_alone = EMAILS in point and "welcome.stats" not in point and "after tx.commit()" in point
    if name == "duplicate_email":
        return (f"{anomaly.detail}: {crash}; the email row was already committed, and the redelivery wrote it "
                "again, so the relay sent a second email. Check whether the user was welcomed in the same "
                "transaction that writes the row")
    if name == "wrong_counter":
        if isinstance(run.state.get("signups"), int) and run.state["signups"] < len(run.state["users"]):
            cause = ("what your code committed before the crash made the redelivery skip the user, so the counter "
                     "is short: a transaction committed before the counter's left it one short")
        elif stats_alone:
            cause = ("the counter was committed in its own transaction, apart from the email row; after that "
                     "commit the redelivery counted the user again")
        elif emails_alone:
            cause = ("the email row was committed in its own transaction, before the counter; the redelivery "
                     "saw the user as welcomed and skipped the counter, so it is one short")
        else:
            cause = "the redelivery counted the user again: the counter must change only with the first email row"
        return f"{anomaly.detail}: {crash}; {cause}"
    if name == "lost_user":
        return (f"{anomaly.detail} (e.g. msg_id {list(anomaly.examples)[:1]}): {crash}; what your code committed "
                "before the crash made the redelivery skip the user, whose email row was never written. Commit "
                "any 'seen' marker in the same transaction as the effect")
    return f"{anomaly.detail}: {crash}"


EXERCISE = register(Exercise(
    name="01-idempotent-handler",
    title="An idempotent welcome handler",
    lesson="06-idempotent-consumers",
    entry="handle",
    component="consumer",
    criteria=(
        Criterion("correct without crashes", 2, ("lost_user", "duplicate_email", "wrong_counter", "stuck",
                                                 "stray_email"), scope="baseline"),
        Criterion("no lost user", 3, ("lost_user", "stuck")),
        Criterion("no duplicate email", 3, ("duplicate_email",)),
        Criterion("counter right", 2, ("wrong_counter",)),
        Criterion("concurrent delivery", 2, ("overlap_lost_user", "overlap_duplicate_email",
                                             "overlap_wrong_counter", "overlap_stuck")),
    ),
    cases=(Case(0, {"users": 6}, exhaustive=True, random_runs=2),
           Case(0, {"users": 2, "zombie": True}, exhaustive=True, random_runs=0)),
    run_seconds=4.0,
    max_runs=60,
    simulate=simulate,
    anomalies=anomalies,
    explain=explain,
))
