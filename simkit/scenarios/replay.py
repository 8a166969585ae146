"""Replay: reset a consumer group's offsets and reprocess history, the runbook after a bug fix.

A ledger projection (per-user balances) is built by a consumer group from the
``payments`` topic of :mod:`~simkit.scenarios.dead_letters`. Version 2 of the handler
has a bug; the fix stops the group, resets its offsets with
:meth:`~simkit.groups.ConsumerGroup.reset_offsets` (to the beginning, an offset or a
time, as ``kafka-consumer-groups --reset-offsets`` does) and deploys version 3, which
reprocesses what it is given. A non-idempotent handler repeats its side effects (the
emails) on replay; an idempotent one does not.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any, Generator

import simpy

from .. import checks
from ..broker import Broker, Record
from ..consumer import Consumer, Context
from ..database import Database
from ..dedupe import EmailProvider
from ..distributions import exponential
from ..errors import ConfigError
from ..glossary import register
from ..groups import ConsumerGroup
from ..params import MAX_MS, Params, count, distribution, flag, ms, optional_ms, positive, probability
from ..producer import Producer
from ..results import Report, RunResult
from ..world import World
from ._common import MAX_DRAIN_MS, client_param, until_drained
from .dead_letters import TOPIC
from .registry import scenario

__all__ = [
    "DESIGNS", "RESETS", "Projection", "ReplayParams", "operator", "payments", "projection_errors", "replay",
    "reprocessed",
]

DESIGNS: tuple[str, ...] = ("non_idempotent", "idempotent")
RESETS: tuple[str, ...] = ("earliest", "time", "latest")

PROJECTION = "projection"
TOTALS = "projection.totals"
ENTRIES = "projection.entries"
_MAX_OFFSET = 10**9


def _check_reset(param: str, value: Any) -> str | int:
    """One of :data:`RESETS`, or an offset (an int >= 0), as ``kafka-consumer-groups --reset-offsets`` takes."""
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= _MAX_OFFSET:
        return value
    if isinstance(value, str) and value in RESETS:
        return value
    raise ConfigError(param, value, f'"earliest", "time", "latest" or an offset (an int from 0 to {_MAX_OFFSET})')


@dataclass(frozen=True)
class ReplayParams(Params):
    """The parameters of :func:`replay` (times in ms)."""

    reset_to: Any = field(default="earliest", metadata={"check": _check_reset, "doc": "where the group restarts"})
    messages: int = count(200, high=100_000, doc="payments and refunds sent")
    reset_time: float | None = optional_ms(None, doc='with reset_to="time": replay from here; None: bug_at')
    rebuild: bool = flag(False, doc="empty the projection before the replay")
    partitions: int = count(2, high=64, doc="partitions of the payments topic")
    users: int = count(10, high=100_000, doc="users paying (the key)")
    refund_share: float = probability(0.25, doc="share of the events that are refunds")
    bug_at: float | None = positive(None, optional=True, high=MAX_MS,
                                    doc="the buggy version 2 is deployed; None: at 30% of the sends")
    fix_at: float | None = positive(None, optional=True, high=MAX_MS,
                                    doc="the reset and the fixed version 3; None: at 70% of the sends")
    arrival_interval: Any = distribution(exponential(10), doc="time between two events")
    processing_time: Any = distribution(1, doc="the projection's work per event")
    email_latency: Any = distribution(2, doc="one way to the email provider")
    max_time: float = ms(120_000, strict=True, high=MAX_DRAIN_MS, doc="the run stops here if not drained")
    retention_ms: float | None = positive(None, optional=True, high=MAX_MS,
                                          doc="the topic's retention.ms; None: Kafka's 7 days, beyond any run")
    retention_check_interval: float = ms(300_000, low=1, doc="how often the broker deletes expired records")
    segment_ms: float | None = optional_ms(None, low=1, doc="the topic's segment.ms; None: Kafka's 7 days "
                                                            "(retention deletes whole segments)")
    client: str = client_param()

    def check(self) -> None:
        bug_at, fix_at, _ = self.times()
        if fix_at <= bug_at:
            raise ConfigError("fix_at", self.fix_at, f"a time in ms after bug_at ({bug_at:g})")

    def times(self) -> tuple[float, float, float]:
        """``bug_at``, ``fix_at`` and ``reset_time`` with their defaults resolved (ms)."""
        mean = getattr(self.arrival_interval, "mean", None)
        if (self.bug_at is None or self.fix_at is None) and not isinstance(mean, (int, float)):
            raise ConfigError("bug_at", self.bug_at, "a time in ms, since arrival_interval has no mean to reckon by")
        span = self.messages * mean if isinstance(mean, (int, float)) else 0.0  # about when the last event is sent
        bug_at = 0.3 * span if self.bug_at is None else self.bug_at
        fix_at = 0.7 * span if self.fix_at is None else self.fix_at
        return bug_at, fix_at, bug_at if self.reset_time is None else self.reset_time


FIELDS = (
    "produced", "processed", "reprocessed", "bug_handled", "unrepaired", "side_effects_repeated", "emails_sent",
    "emails_ignored", "wrong_balances", "projection_correct", "duration", "drained",
)
register("reprocessed", "messages", "messages handled both before and after the group's offsets were reset")
register("bug_handled", "messages", "messages a buggy consumer version handled")
register("unrepaired", "messages", "messages a buggy version handled and no fixed version handled again")
register("side_effects_repeated", "messages", "messages whose outside side effect (an email) happened twice")
register("wrong_balances", "users", "users whose final balance differs from the sum of their payments")
register("projection_correct", "0/1", "1 if every user's balance in the projection is right")


@scenario("replay", designs=DESIGNS, params=ReplayParams, fields=FIELDS, lesson="08",
          renamed={"handler_kind": "design"}, legacy_positional=("design", "reset_to", "messages", "seed"))
def replay(p: ReplayParams) -> RunResult:
    """A projection built with a bug, fixed, then rebuilt by resetting the group's offsets.

    A ``projection`` group keeps each user's balance (payments minus refunds, in cents)
    and emails a receipt for every event. Version 1 is right. At ``bug_at`` ms version 2
    is deployed: it counts a refund as a payment. At ``fix_at`` ms the operator stops
    the group, resets its offsets as ``kafka-consumer-groups --reset-offsets`` does
    (:meth:`~simkit.groups.ConsumerGroup.reset_offsets`) and deploys the fixed version
    3, which reprocesses from there. Each deploy waits until the consumers have
    nothing in hand, then stops them cleanly (so a deploy alone repeats nothing).

    ``reset_to``: ``"earliest"`` (every record again), ``"time"`` (the first record
    whose timestamp is at or after ``reset_time`` ms, default ``bug_at``; Kafka's
    ``--to-datetime``, which goes by the time the record was *produced*), an int offset
    (``--to-offset``, the same in every partition) or ``"latest"`` (no replay: fix
    forward only). ``rebuild=True`` empties the projection before the replay.

    ``retention_ms`` (the topic's ``retention.ms``, with the broker cleaning every
    ``retention_check_interval`` ms) deletes old payments: a reset to a deleted offset
    lands on the log start instead, and what was deleted cannot be replayed. Retention
    deletes whole segments (``segment_ms``, the topic's ``segment.ms``): with Kafka's
    7-day default the one segment keeps taking payments and nothing is deleted during a
    run, however short ``retention_ms`` is.

    ``design`` (the old keyword ``handler_kind=`` still works, with a warning):
    ``"non_idempotent"`` adds each amount to the balance and sends the
    receipt, every time; ``"idempotent"`` stores each event's amount under its message
    id (a replayed event overwrites its old, wrong amount) and sends the receipt with
    the idempotency key ``receipt/<msg_id>``, which the email provider honours.

    Report fields (see :mod:`simkit.glossary`): ``produced``, ``processed``, ``reprocessed`` (messages handled both
    before and after the reset), ``bug_handled`` (messages handled by version 2),
    ``unrepaired`` (of those, not handled again), ``side_effects_repeated`` (messages
    whose receipt was emailed more than once), ``emails_sent``, ``emails_ignored``,
    ``wrong_balances`` (users whose final balance differs from their payments),
    ``projection_correct`` (1 if none does), ``duration`` (ms) and ``drained``. Checks:
    ``projection``, ``reprocessed``, ``side_effects_repeated``. ``params`` holds the
    resolved ``bug_at``, ``fix_at`` and ``reset_time``.
    """
    # build: the payments topic, the projection's database, the email provider, the group
    world = World(p.seed)
    env = world.env
    broker = Broker(world, retention_check_interval=p.retention_check_interval)
    broker.create_topic(TOPIC, p.partitions, retention_ms=p.retention_ms, segment_ms=p.segment_ms)
    producer = Producer(world, broker, "payments", client=p.client)
    db = Database(world, "projection-db")
    db.create_table(TOTALS)
    db.create_table(ENTRIES)
    email = EmailProvider(world, "email", latency=p.email_latency)
    group = ConsumerGroup(world, broker, PROJECTION, session_timeout=300)

    # run: the operator deploys v1, the buggy v2, then resets the offsets and deploys the fixed v3
    sent, finished = env.event(), env.event()
    env.process(operator(world, broker, group, db, email, sent, finished, p))
    env.process(payments(world, producer, sent, p))
    world.run(until=finished | env.timeout(p.max_time))

    # check: everything below reads the trace
    trace = world.trace.to_frame()
    events = trace["event"]
    wrong = projection_errors(trace)
    again = reprocessed(trace)
    handled = trace[events == "processed"]
    comp = handled["component"].astype(str)
    buggy = set(handled.loc[comp.str.startswith("projection-v2"), "msg_id"])
    unrepaired = buggy - set(handled.loc[comp.str.startswith("projection-v3"), "msg_id"])
    repeats = replace(checks.duplicates(trace, "email_sent"), name="side_effects_repeated")
    fields: dict[str, float] = dict(
        produced=int(trace.loc[events == "send", "msg_id"].nunique()),
        processed=int(handled["msg_id"].nunique()),
        reprocessed=again.count,
        bug_handled=len(buggy),
        unrepaired=len(unrepaired),
        side_effects_repeated=repeats.count,
        emails_sent=int((events == "email_sent").sum()),
        emails_ignored=int((events == "email_ignored").sum()),
        wrong_balances=wrong.count,
        projection_correct=int(wrong.valid),
        duration=float(env.now),
        drained=int(finished.triggered),
    )
    result_checks = {"projection": wrong, "reprocessed": again, "side_effects_repeated": repeats}
    bug_at, fix_at, reset_time = p.times()
    params = {**p.to_dict(), "bug_at": bug_at, "fix_at": fix_at, "reset_time": reset_time}
    return RunResult("replay", p.seed, params, Report(**fields), result_checks, {}, world.trace)


class Projection:
    """Version ``v`` of the projection's handler: email a receipt, then update the user's balance.

    Version 2 has the bug: it counts a refund as a payment. With ``idempotent`` the
    receipt carries the key ``receipt/<msg_id>`` and each event's amount is stored under
    its id, so handling it again replaces its old amount instead of adding it twice.
    """

    def __init__(self, v: int, idempotent: bool, db: Database, email: EmailProvider):
        self.v = v
        self.idempotent = idempotent
        self.db = db
        self.email = email
        self.__name__ = f"project_v{v}"  # what error messages call the handler

    def __call__(self, record: Record, ctx: Context) -> Generator[simpy.Event, Any, None]:
        user, cents = record.key, record.value
        if self.v == 2:
            cents = abs(cents)  # the bug: a refund is counted as a payment
        key = f"receipt/{record.msg_id}" if self.idempotent else None
        yield from self.email.send(user, f"receipt: {cents / 100:.2f}", idempotency_key=key, msg_id=record.msg_id)
        tx = self.db.transaction(PROJECTION, msg_id=record.msg_id)
        before = tx.get(ENTRIES, record.msg_id, 0) if self.idempotent else 0
        balance = tx.get(TOTALS, user, 0) + cents - before
        tx.put(TOTALS, user, balance)
        if self.idempotent:
            tx.put(ENTRIES, record.msg_id, cents)
        yield from tx.commit()
        ctx.record("balance_updated", record, detail=balance)


def operator(world: World, broker: Broker, group: ConsumerGroup, db: Database, email: EmailProvider,
             sent: simpy.Event, finished: simpy.Event, p: ReplayParams) -> Generator[simpy.Event, Any, None]:
    """The operator's runbook: v1; the buggy v2 at ``bug_at``; at ``fix_at`` stop, reset the offsets, deploy v3."""
    env = world.env
    bug_at, fix_at, reset_time = p.times()

    def deploy(v: int) -> list[Consumer]:
        world.record("operator", "deployed", detail=f"projection v{v}" + (
            " (bug: refunds counted as payments)" if v == 2 else " (fixed)" if v == 3 else ""))
        # one instance a version: a second member joining mid-poll would repeat records of its own
        handler = Projection(v, p.design == "idempotent", db, email)
        return [Consumer(world, broker, f"projection-v{v}", TOPIC, handler, client=p.client, group=group,
                         commit="after_processing", processing_time=p.processing_time, auto_offset_reset="earliest")]

    members = deploy(1)
    yield env.timeout(bug_at)
    yield from stop_when_idle(world, members)
    members = deploy(2)
    yield env.timeout(max(0.0, fix_at - env.now))
    yield from stop_when_idle(world, members)
    if p.reset_to == "time":
        group.reset_offsets(TOPIC, time=reset_time)
    else:
        group.reset_offsets(TOPIC, p.reset_to)
    if p.rebuild:
        tx = db.transaction(PROJECTION)
        for table in (TOTALS, ENTRIES):
            for k in list(db.table(table)):
                tx.delete(table, k)
        yield from tx.commit()
        world.record("operator", "projection_truncated", detail=f"{TOTALS}, {ENTRIES}")
    members = deploy(3)
    yield until_drained(world, broker, group, members, sent)
    finished.succeed()


def stop_when_idle(world: World, members: list[Consumer]) -> Generator[simpy.Event, Any, None]:
    """A clean deploy: wait until the consumers have nothing in hand, then stop them (so a deploy repeats nothing)."""
    env = world.env
    while not all(c.idle for c in members):
        yield env.timeout(1)
    for c in members:
        c.stop()
    yield env.all_of([c.process for c in members])


def payments(world: World, producer: Producer, sent: simpy.Event,
             p: ReplayParams) -> Generator[simpy.Event, Any, None]:
    """The payment service: ``messages`` amounts in cents, a ``refund_share`` of them refunds (negative)."""
    env = world.env
    rng, who, how = world.rng("arrivals"), world.rng("payload/users"), world.rng("payload/amounts")
    for i in range(p.messages):
        yield env.timeout(p.arrival_interval.sample(rng))
        user = f"user-{who.randrange(p.users)}"
        cents = how.randint(100, 20_000) * (-1 if how.random() < p.refund_share else 1)
        world.record("payments", "payment_received", topic=TOPIC, key=user, msg_id=i, detail=cents)
        producer.send(TOPIC, value=cents, key=user, msg_id=i)
    sent.succeed()


def projection_errors(trace: Any) -> checks.Check:
    """Users whose last ``balance_updated`` total differs from the sum of their ``payment_received`` amounts.

    Rows before the last ``projection_truncated`` row do not count (the projection was
    emptied then); a user with no update since has a balance of 0. Examples are users.
    """
    events = trace["event"]
    paid = trace[events == "payment_received"]
    truth = paid.groupby(paid["key"].astype(str))["detail"].sum()
    updates = trace[events == "balance_updated"]
    cut = trace.loc[events == "projection_truncated", "time"]
    if len(cut):
        updates = updates[updates.index > cut.index[-1]]
    final = updates.groupby(updates["key"].astype(str))["detail"].last()
    users = sorted(set(truth.index) | set(final.index))
    wrong = [u for u in users if int(final.get(u, 0)) != int(truth.get(u, 0))]
    return checks.Check("projection_errors", len(wrong), tuple(wrong[:checks.EXAMPLES]),
                        f"{len(users)} users' balances checked against their payments")


def reprocessed(trace: Any) -> checks.Check:
    """Messages ``processed`` both before and after the group's offsets were reset (the first reset's time)."""
    resets = trace[(trace["event"] == "seek") & (trace["detail"] == "reset offsets")]
    if resets.empty:
        return checks.Check("reprocessed", 0, (), "no offset reset")
    at = float(resets["time"].iloc[0])
    done = trace[trace["event"] == "processed"]
    before = set(done.loc[done["time"] < at, "msg_id"])
    after = done.loc[done["time"] >= at, "msg_id"].drop_duplicates()
    again = [m for m in after if m in before]
    return checks.Check("reprocessed", len(again), tuple(again[:checks.EXAMPLES]),
                        f"handled again after the reset at {at:.0f} ms")
