"""Exercise 01: an idempotent welcome handler (lesson 06), graded on lost users, duplicate emails, the counter.

The learner's ``handle(record, ctx, db)`` sees only:

* ``record.key`` (the user id), ``record.msg_id``, ``record.value``;
* ``db.transaction()`` with ``tx.get(table, key, default)``, ``tx.put(table, key, value)``
  and ``yield from tx.commit()``; any table name may be used (created on first write);
* ``ctx.now``, ``ctx.timeout(ms)`` and ``ctx.crash_point(name)`` (extra points, never instead of the grader's).

The consumer commits its offset after the handler returns (``enable.auto.commit=false``
and a synchronous commit after the work: at-least-once). One consumer owns the one
partition, so no two deliveries run at once; a transaction sees the rows committed
when it reads, and its writes land together at commit (no lock, no conflict check).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pandas as pd

from ...broker import Broker
from ...consumer import Consumer
from ...database import Database
from ...distributions import exponential, uniform
from ...errors import ConfigError
from ...groups import until_drained
from ...producer import Producer
from ..faults import Faults, call, drive
from ..spec import Anomaly, Case, Criterion, Exercise, register
from ..tools import LearnerContext

__all__ = ["EMAILS", "EXERCISE", "STATS"]

EMAILS, STATS, TOPIC = "welcome.emails", "welcome.stats", "signups"


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
        """Commit every write at once: ``yield from tx.commit()``."""
        tables = ", ".join(sorted({t for t, _ in self._tx._writes})) or "nothing"
        self._faults.step("before", f"tx.commit() of {tables}")
        yield from self._tx.commit()
        self._faults.step("after", f"tx.commit() of {tables}")


class LearnerDatabase:
    """The only door to the database: ``db.transaction()``."""

    def __init__(self, db: Database, faults: Faults):
        self._db, self._faults, self._msg = db, faults, None

    def transaction(self) -> LearnerTransaction:
        """Open a transaction."""
        return LearnerTransaction(self._db, self._faults, self._faults.current)


def simulate(run: Any) -> dict:
    """Users sign up once each; one consumer runs the learner's handler; returns the final tables."""
    world, faults = run.world, run.faults
    env = world.env
    broker = Broker(world)
    broker.create_topic(TOPIC, 1)
    producer = Producer(world, broker, "producer", partitioner="key")
    db = Database(world, "db", commit_latency=uniform(1, 3))
    db.create_table(STATS)
    db.create_table(EMAILS)
    users = {f"user-{i}": i for i in range(int(run.workload.get("users", 6)))}

    class MailRelay(dict):  # type: ignore[type-arg]
        """The emails table: every committed write of a row hands one email to the mailer."""

        def __setitem__(self, user: Any, value: Any) -> None:
            super().__setitem__(user, value)
            world.record("mail_relay", "email_queued", key=user, msg_id=users.get(user), detail=repr(value)[:40])

    db.tables[EMAILS] = MailRelay()
    learner_db, ctx = LearnerDatabase(db, faults), LearnerContext(world, faults)
    state: dict[str, Any] = {"incarnation": None, "handle": None}

    def handler(rec: Any, _ctx: Any) -> Any:
        if state["incarnation"] != consumer.incarnation:  # a restart: the learner's Python state is gone
            state["incarnation"] = consumer.incarnation
            state["handle"] = run.learner.fresh()
            faults.revive()
        faults.current = rec.msg_id
        faults.point("before the handler runs")
        steps = call(state["handle"], faults, "handle", LearnerRecord(rec.key, rec.msg_id, rec.value), ctx,
                     learner_db)
        yield from drive(steps, faults, "handle")
        faults.point("after the handler returned, before the offset commit")

    consumer = Consumer(world, broker, "consumer", TOPIC, handler, group="welcome", commit="after_processing",
                        max_poll_records=5, processing_time=1, auto_offset_reset="earliest",
                        session_timeout=300, restart_delay=200, crash_points=("grader",))
    sent = env.event()

    def signups():  # type: ignore[no-untyped-def]
        arrivals, rng = exponential(10), world.rng("arrivals")
        for user, i in users.items():
            yield env.timeout(arrivals.sample(rng))
            producer.send(TOPIC, value="UserSignedUp", key=user, msg_id=i)
        sent.succeed()

    env.process(signups())
    drained = until_drained(world, broker, consumer.group, [consumer], sent)
    world.run(until=drained | env.timeout(60_000), wall_limit=None)
    signups_value = db.tables[STATS].get("signups")
    return dict(users=users, emails=sorted(map(str, db.tables[EMAILS])),
                signups=signups_value if isinstance(signups_value, int) else repr(signups_value),
                drained=drained.triggered)


def anomalies(trace: pd.DataFrame, state: dict, workload: Mapping[str, Any]) -> dict[str, Anomaly]:
    """Lost users, duplicate emails and a wrong counter, from the trace and the final tables."""
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
        return {
            "lost_user": f"wrong even without a crash: {anomaly.detail} (e.g. msg_id {list(anomaly.examples)[:1]}); "
                         "every first delivery must commit the user's welcome.emails row",
            "duplicate_email": f"wrong even without a crash: {anomaly.detail}; the handler writes a user's "
                               "email row more than once on a single delivery",
            "wrong_counter": f"wrong even without a crash: {anomaly.detail}; add one per new user, "
                             "in the transaction that writes the email row",
            "stuck": f"wrong even without a crash: {anomaly.detail}",
        }.get(name, anomaly.detail)
    point, msg = _where(run)
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
        Criterion("correct without crashes", 2, ("lost_user", "duplicate_email", "wrong_counter", "stuck"),
                  scope="baseline"),
        Criterion("no lost user", 3, ("lost_user", "stuck")),
        Criterion("no duplicate email", 3, ("duplicate_email",)),
        Criterion("counter right", 2, ("wrong_counter",)),
    ),
    cases=(Case(0, {"users": 6}, exhaustive=True, random_runs=2),),
    run_seconds=4.0,
    max_runs=60,
    simulate=simulate,
    anomalies=anomalies,
    explain=explain,
))
