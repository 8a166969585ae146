"""Exercise 09: replay after a bug fix (lesson 08), graded on where the replay starts and on a replay-safe handler.

The story, run by the grader: version v1.0 of the payments handler runs correctly; at
:data:`DEPLOY_MS` the operator deploys v1.1, which stores every amount 100 times too large
(cents read as euros); at :data:`FOUND_MS` the bug is found and v1.1 is stopped. Payments go
on arriving. The learner writes two functions in one cell:

* ``reset_to(log)``: where the group replays from. ``log.partitions`` (the partition
  numbers), ``log.beginning(p)``, ``log.end(p)``, ``log.committed(p)`` (the group's
  committed offset now), ``log.offsets_for_times(ms)`` (``{p: first offset whose
  timestamp is >= ms}``, Kafka's ``offsetsForTimes``) and ``log.deploys`` (``[(ms,
  version), ...]``). It returns ``{partition: offset}`` for every partition.
* ``handle(record, ctx, db)``, the fixed v2: ``record.key`` (the account), ``.msg_id``,
  ``.value`` (the amount), ``.offset``, ``.partition``; ``db.transaction()`` with
  ``get/put`` and ``yield from tx.commit()``; ``ctx.now/.timeout(ms)/.crash_point(name)``.

Tables, as v1 left them: ``payments`` (msg_id -> the amount applied), ``balances``
(account -> the sum of its applied amounts) and ``receipts`` (msg_id -> text): every
committed write of a ``receipts`` row hands one receipt email to the mailer (an outbox
relay, as in exercise 01), so a row written again is an email sent again.

v1 kept up: the producer pauses for :data:`QUIET_MS` before the deploy, so every record
written before :data:`DEPLOY_MS` was handled by v1.0 and every later one up to the stop by
v1.1. The replay consumer commits its offset after the handler returns; the grader crashes
it before and after every ``tx.commit()`` and around the offset commit.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pandas as pd

from ...broker import Broker
from ...consumer import Consumer
from ...database import Database
from ...distributions import uniform
from ...groups import ConsumerGroup, until_drained
from ...producer import Producer
from ...scenarios.replay import stop_when_idle
from ..faults import LearnerFault, call, drive
from ..spec import Anomaly, Case, Criterion, Exercise, no_rows, register
from ..tools import LearnerContext
from .welcome import LearnerDatabase

__all__ = ["BALANCES", "DEPLOY_MS", "EXERCISE", "FOUND_MS", "PAYMENTS", "RECEIPTS", "LearnerLog", "LearnerRecord"]

TOPIC, GROUP = "payments", "payments"
PAYMENTS, BALANCES, RECEIPTS = "payments", "balances", "receipts"
DEPLOY_MS, FOUND_MS, END_MS, QUIET_MS = 1_500.0, 3_000.0, 4_000.0, 200.0
V2 = "payments-v2"


class LearnerRecord:
    """The record v2 gets: ``key`` (the account), ``msg_id``, ``value`` (the amount), ``offset``, ``partition``."""

    __slots__ = ("key", "msg_id", "offset", "partition", "value")

    def __init__(self, rec: Any):
        self.key, self.msg_id, self.value = rec.key, rec.msg_id, rec.value
        self.offset, self.partition = rec.offset, rec.partition


class LearnerLog:
    """What an operator's tools tell ``reset_to``: partitions, offsets, offsets for times, the deploy history."""

    def __init__(self, broker: Broker, group: ConsumerGroup, deploys: list[tuple[float, str]]):
        self._broker, self._group = broker, group
        self.partitions: list[int] = list(range(broker.partitions(TOPIC)))
        self.deploys: list[tuple[float, str]] = list(deploys)

    def _log(self, p: Any) -> Any:
        if p not in self.partitions:
            raise LearnerFault(f"no partition {p!r}: the partitions are {self.partitions}")
        return self._broker.log_of(TOPIC, p)

    def beginning(self, p: int) -> int:
        """The first offset still in partition ``p`` (0: nothing was deleted)."""
        self._log(p)
        return 0

    def end(self, p: int) -> int:
        """The log end offset of partition ``p``: the offset the next record will get."""
        return self._log(p).end_offset

    def committed(self, p: int) -> int:
        """The group's committed offset for ``p`` now: where v1.1 stopped."""
        self._log(p)
        return self._group.committed_offset(TOPIC, p) or 0

    def offsets_for_times(self, ms: float) -> dict[int, int]:
        """``{p: the first offset whose timestamp is >= ms}`` (the end offset if none), Kafka's ``offsetsForTimes``."""
        if isinstance(ms, bool) or not isinstance(ms, (int, float)):
            raise LearnerFault(f"offsets_for_times({ms!r}): give a time in ms")
        return {p: self._broker.log_of(TOPIC, p).offset_for_time(ms) for p in self.partitions}


def _v1(db: Database, buggy: bool) -> Any:
    def handler(rec: Any, _ctx: Any) -> Any:
        amount = rec.value * 100 if buggy else rec.value  # the bug: cents read as euros
        tx = db.transaction(msg_id=rec.msg_id)
        tx.put(PAYMENTS, rec.msg_id, amount)
        tx.put(BALANCES, rec.key, tx.get(BALANCES, rec.key, 0) + amount)
        tx.put(RECEIPTS, rec.msg_id, f"payment {rec.msg_id} received")
        yield from tx.commit()
    return handler


def simulate(run: Any) -> dict:
    """v1.0, the buggy v1.1, the learner's reset, then the learner's v2 under the grader's crashes."""
    world, faults = run.world, run.faults
    env = world.env
    broker = Broker(world)
    broker.create_topic(TOPIC, 2)
    producer = Producer(world, broker, "payments", partitioner="key")
    db = Database(world, "db", commit_latency=uniform(1, 3))
    for table in (PAYMENTS, BALANCES):
        db.create_table(table)
    amounts: dict[str, int] = {}
    accounts = [f"acct-{i}" for i in range(int(run.workload.get("accounts", 5)))]

    class MailRelay(dict):  # type: ignore[type-arg]
        """The receipts table: every committed write of a row hands one email to the mailer."""

        def __setitem__(self, msg_id: Any, value: Any) -> None:
            super().__setitem__(msg_id, value)
            world.record("mail_relay", "email_queued", msg_id=msg_id, detail=repr(value)[:40])

    db.tables[RECEIPTS] = MailRelay()
    group = ConsumerGroup(world, broker, GROUP, session_timeout=300)
    deploys: list[tuple[float, str]] = []
    learner_db, ctx = LearnerDatabase(db, faults), LearnerContext(world, faults)
    state: dict[str, Any] = {"incarnation": None, "handle": None}
    sent, finished = env.event(), env.event()

    def deploy(name: str, handler: Any, **kw: Any) -> Consumer:
        deploys.append((env.now, name))
        world.record("operator", "deployed", detail=name)
        return Consumer(world, broker, name.split(" ")[0], TOPIC, handler, group=group, commit="after_processing",
                        max_poll_records=5, processing_time=1, auto_offset_reset="earliest", **kw)

    def v2(rec: Any, _ctx: Any) -> Any:
        if state["incarnation"] != consumer.incarnation:  # a restart: the learner's Python state is gone
            state["incarnation"] = consumer.incarnation
            state["handle"] = run.learner.fresh()
            faults.revive()
        faults.current = rec.msg_id
        faults.point("before the handler runs (after the previous offset commit)")
        steps = call(state["handle"], faults, "handle", LearnerRecord(rec), ctx, learner_db)
        yield from drive(steps, faults, "handle")
        faults.point("after the handler returned, before the offset commit")

    consumer: Any = None
    where: dict[str, list[int]] = {}

    def operator() -> Any:
        nonlocal consumer
        members = [deploy("payments-v1.0", _v1(db, False))]
        yield env.timeout(DEPLOY_MS)
        yield from stop_when_idle(world, members)
        members = [deploy("payments-v1.1 (bug: stores amounts 100 times too large)", _v1(db, True))]
        yield env.timeout(FOUND_MS - env.now)
        yield from stop_when_idle(world, members)
        deploys.append((env.now, "payments-v1.1 stopped: bug found"))
        world.record("operator", "stopped", detail="payments-v1.1: bug found")
        log = LearnerLog(broker, group, deploys)
        reset = run.learner.fresh().__globals__.get("reset_to")
        if not callable(reset):
            raise LearnerFault("your cell must define a function called 'reset_to'")
        faults.current = "reset_to(log)"
        offsets = call(reset, faults, "reset_to", log)
        if not isinstance(offsets, dict) or set(offsets) != set(log.partitions) or not all(
                isinstance(o, int) and not isinstance(o, bool) and 0 <= o <= log.end(p) for p, o in offsets.items()):
            raise LearnerFault(f"reset_to returned {offsets!r}: return {{partition: offset}} for partitions "
                               f"{log.partitions}, each offset between 0 and the partition's end")
        where.update(reset=[offsets[p] for p in log.partitions], stopped=[log.committed(p) for p in log.partitions],
                     bug=[log.offsets_for_times(DEPLOY_MS)[p] for p in log.partitions])
        for p, off in sorted(offsets.items()):
            group.committed[(TOPIC, p)] = off
            world.record("operator", "seek", topic=TOPIC, partition=p, offset=off, detail="reset offsets")
        consumer = deploy(V2, v2, restart_delay=200, crash_points=("grader",))
        yield until_drained(world, broker, group, [consumer], sent)
        finished.succeed()

    def traffic() -> Any:
        rng, n = world.rng("arrivals"), 0
        while True:
            gap = rng.expovariate(1 / 100)
            if DEPLOY_MS - QUIET_MS <= env.now + gap < DEPLOY_MS:
                gap = DEPLOY_MS - env.now  # v1.0 drains before the deploy
            if env.now + gap >= END_MS:
                break
            yield env.timeout(gap)
            msg_id, amount = f"p-{n}", rng.randint(1, 50)
            amounts[msg_id] = amount
            producer.send(TOPIC, amount, key=accounts[rng.randrange(len(accounts))], msg_id=msg_id)
            n += 1
        sent.succeed()

    env.process(traffic())
    env.process(operator())
    world.run(until=finished | env.timeout(60_000), wall_limit=None)
    keys = {str(m): str(k) for k, m in zip(world.trace.column("key"), world.trace.column("msg_id"))
            if m in amounts and k is not None}
    return {"amounts": amounts, "accounts": keys,
            "payments": {str(k): v for k, v in db.tables[PAYMENTS].items()},
            "balances": {str(k): v for k, v in db.tables[BALANCES].items()}, "drained": finished.triggered,
            **where}


def _handled(trace: pd.DataFrame, who: str) -> set[str]:
    rows = trace[(trace["event"] == "process") & (trace["component"].astype(str) == who)]
    return set(rows["msg_id"].astype(str))


def anomalies(trace: pd.DataFrame, state: dict, workload: Mapping[str, Any]) -> dict[str, Anomaly]:
    """Wrong amounts, wrong balances, receipts sent twice or never, pre-bug records replayed, from trace and tables."""
    amounts, payments, balances = state["amounts"], state["payments"], state["balances"]
    bad = _handled(trace, "payments-v1.1")
    wrong = sorted((m for m in amounts if payments.get(m) != amounts[m]), key=lambda m: (m not in bad, m))
    want: dict[str, int] = {}
    for m, a in amounts.items():
        want[state["accounts"][m]] = want.get(state["accounts"][m], 0) + a
    off = sorted(a for a in want if balances.get(a) != want[a])
    counts = trace.loc[trace["event"] == "email_queued", "msg_id"].astype(str).value_counts()
    twice = [m for m in amounts if counts.get(m, 0) > 1]
    never = [m for m in amounts if counts.get(m, 0) == 0]
    strays = [m for m in counts.index if m not in amounts]  # rows under other keys: emails about no payment's row
    redone = sorted(_handled(trace, "payments-v1.0") & _handled(trace, V2))
    nbad = sum(m in bad for m in wrong)
    out = {
        "wrong_amount": Anomaly(len(wrong), tuple(wrong[:5]), f"{len(wrong)} payment(s) have a wrong amount in "
                             f"payments ({nbad} of the {len(bad)} v1.1 got wrong), e.g. {wrong[:1]}: "
                             + (f"{payments.get(wrong[0])!r} instead of {amounts[wrong[0]]}" if wrong else "")),
        "wrong_balance": Anomaly(len(off), tuple(off[:5]), f"{len(off)} account balance(s) wrong, e.g. "
                              + (f"{off[0]}: {balances.get(off[0])!r} instead of {want[off[0]]}" if off else "")),
        "resent_receipt": Anomaly(len(twice), tuple(twice[:5]), f"{len(twice)} payment(s) got more than one receipt"),
        "lost_receipt": Anomaly(len(never), tuple(never[:5]), f"{len(never)} payment(s) got no receipt"),
        "stray_receipt": Anomaly(len(strays), (), f"{len(strays)} receipts row(s) under keys that are no payment's "
                                 "msg_id" + (f" (e.g. {strays[0]!r}), each one emailed" if strays else "")),
        "redone_prebug": Anomaly(len(redone), tuple(redone[:5]), f"v2 handled {len(redone)} record(s) v1.0 had "
                              "already handled correctly, before the bug"),
    }
    if not state["drained"]:
        out["stuck"] = Anomaly(1, (), "records were still unprocessed after 60 s of simulated time")
    return out


def explain(name: str, anomaly: Anomaly, run: Any) -> str:
    """Feedback naming the anomaly and its cause in the learner's reset or handler."""
    if run.kind == "baseline":
        crash = "wrong even without a crash"
    elif run.kind == "exhaustive" and run.schedule:
        point = run.schedule[0][0]
        msg = next((m for p, i, m, _d in run.passages if (p, i) == tuple(run.schedule[0])), None)
        crash = f"v2 crashed {point!r} while handling msg_id {msg}"
    else:
        crash = f"random crashes struck at {', '.join(repr(p) for p, _ in run.schedule)}"
    why = {
        "wrong_amount": "the replay never reached those records or left them wrong: reset_to must start at the "
                        "first record v1.1 handled (offsets_for_times of its deploy time), not at the committed "
                        "offset nor one past it, and v2 must overwrite a wrong payments row",
        "wrong_balance": "a balance must move by the difference between the right amount and what payments says "
                         "was applied, in the transaction that writes the payments row: a record applied twice, "
                         "or a marker committed apart from the balance, leaves it wrong",
        "resent_receipt": "a receipt was sent again for a payment that already had one: check the receipts table "
                          "in the same transaction and write the row only if it is missing",
        "lost_receipt": "a payment never got its receipt: write the receipts row in the transaction of the payment",
        "stray_receipt": "the relay emails every receipts row, whatever its key, so each of those rows reached a "
                         "customer: a payment's one receipt is the row under its msg_id, and nothing else goes there",
        "redone_prebug": "the replay started before the bug: records v1.0 handled were right and need no replay; "
                         "start at the deploy of v1.1",
        "stuck": "the replay never finished",
    }.get(name, "")
    point = run.schedule[0][0] if run.schedule else ""
    reset, bug, stopped = (run.state.get(k) or [] for k in ("reset", "bug", "stopped"))
    late = [p for p, (r, b) in enumerate(zip(reset, bug)) if r > b]
    if name == "wrong_amount" and late:
        p = late[0]
        told = ("the committed offset, where v1.1 stopped" if reset[p] >= stopped[p] else
                "one past the first record v1.1 handled" if reset[p] == bug[p] + 1 else "after v1.1's first record")
        why = (f"reset_to started partition {p} at offset {reset[p]}, {told}: v1.1 handled offsets {bug[p]} to "
               f"{stopped[p] - 1} there, so the replay never reached offset {bug[p]}; " + why)
    if name == "wrong_balance" and run.kind == "baseline":
        why = ("a record replayed was added to its balance again, applied twice; " + why)
    elif name == "wrong_balance" and "after tx.commit()" in point and BALANCES not in point:
        why = (f"your code committed {point.split('of ', 1)[-1]} apart from the balance, a marker committed apart "
               "from the balance: after that commit the redelivery saw the record as done and never fixed its "
               "balance. Write the balance in the same transaction")
    return f"{anomaly.detail}: {crash}; {why}"


def draw(fr: Any, ax: Any) -> Any:
    """Which version handled which record, over time: v1.0, v1.1 (the bug) and the learner's v2."""
    trace = fr.trace
    handled = trace[trace.event == "process"]
    for who, rows in handled.groupby("component"):
        ax.scatter(rows.time / 1000, rows.offset + 0.2 * rows.partition, s=12, label=str(who))
    ax.set_xlabel("time (s)")
    ax.set_ylabel("offset (partition 1 shifted up a little)")
    ax.set_title(fr.label)
    ax.legend()
    return ax


EXERCISE = register(Exercise(
    name="09-replay-after-fix",
    title="Replay after a bug fix: reset to the right offsets and a handler safe to replay",
    lesson="08-poison-messages-dead-letters-and-replay",
    entry="handle",
    component=V2,
    criteria=(
        Criterion("correct without crashes", 2,
                  ("wrong_amount", "wrong_balance", "resent_receipt", "lost_receipt", "stray_receipt", "stuck"),
                  scope="baseline"),
        Criterion("every bad record corrected", 3, ("wrong_amount", "stuck")),
        Criterion("balances right: nothing applied twice", 3, ("wrong_balance",)),
        Criterion("one receipt per payment", 2, ("resent_receipt", "lost_receipt", "stray_receipt")),
        Criterion("replay starts where the bug started", 2, ("redone_prebug",), scope="baseline"),
    ),
    cases=(Case(0, {"accounts": 5}, exhaustive=True, random_runs=2),),
    run_seconds=5.0,
    max_runs=150,
    simulate=simulate,
    anomalies=anomalies,
    explain=explain,
    draw=draw,
    examples=no_rows,
))
