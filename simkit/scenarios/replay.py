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

from dataclasses import replace
from typing import Any

from .. import checks
from ..broker import Broker, Record
from ..consumer import Consumer, Context
from ..database import Database
from ..distributions import DistributionLike, as_distribution, exponential
from ..errors import ConfigError
from ..groups import ConsumerGroup
from ..producer import Producer
from ..results import Report, RunResult
from ..world import World, check_seed
from ._common import check_choice, check_count, check_positive, until_drained
from .dead_letters import TOPIC

__all__ = ["HANDLER_KINDS", "RESETS", "projection_errors", "replay", "reprocessed"]


HANDLER_KINDS: tuple[str, ...] = ("non_idempotent", "idempotent")
RESETS: tuple[str, ...] = ("earliest", "time", "latest")


PROJECTION = "projection"
TOTALS = "projection.totals"
ENTRIES = "projection.entries"


def replay(
    handler_kind: str,
    reset_to: str | int = "earliest",
    messages: int = 200,
    seed: int = 0,
    *,
    reset_time: float | None = None,
    rebuild: bool = False,
    partitions: int = 2,
    users: int = 10,
    refund_share: float = 0.25,
    bug_at: float | None = None,
    fix_at: float | None = None,
    arrival_interval: DistributionLike | None = None,
    processing_time: DistributionLike = 1,
    email_latency: DistributionLike = 2,
    max_time: float = 120_000,
) -> RunResult:
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

    ``handler_kind``: ``"non_idempotent"`` adds each amount to the balance and sends the
    receipt, every time; ``"idempotent"`` stores each event's amount under its message
    id (a replayed event overwrites its old, wrong amount) and sends the receipt with
    the idempotency key ``receipt/<msg_id>``, which the email provider honours.

    Report fields: ``produced``, ``processed``, ``reprocessed`` (messages handled both
    before and after the reset), ``bug_handled`` (messages handled by version 2),
    ``unrepaired`` (of those, not handled again), ``side_effects_repeated`` (messages
    whose receipt was emailed more than once), ``emails_sent``, ``emails_ignored``,
    ``wrong_balances`` (users whose final balance differs from their payments),
    ``projection_correct`` (1 if none does), ``duration`` (ms) and ``drained``.
    """
    check_choice("handler_kind", handler_kind, HANDLER_KINDS)
    if isinstance(reset_to, int) and not isinstance(reset_to, bool):
        check_count("reset_to", reset_to, 0)
    elif reset_to not in RESETS:
        raise ConfigError("reset_to", reset_to, '"earliest", "time", "latest" or an offset (an int >= 0)')
    messages = check_count("messages", messages)
    seed = check_seed(seed)
    if not isinstance(rebuild, bool):
        raise ConfigError("rebuild", rebuild, "True or False")
    partitions = check_count("partitions", partitions, 1, 64)
    users = check_count("users", users)
    if isinstance(refund_share, bool) or not isinstance(refund_share, (int, float)) or not 0 <= refund_share <= 1:
        raise ConfigError("refund_share", refund_share, "a share from 0 to 1")
    max_time = check_positive("max_time", max_time)
    arrivals = as_distribution("arrival_interval", exponential(10) if arrival_interval is None else arrival_interval)
    span = messages * arrivals.mean  # about when the last event is sent
    bug_at = 0.3 * span if bug_at is None else check_positive("bug_at", bug_at)
    fix_at = 0.7 * span if fix_at is None else check_positive("fix_at", fix_at)
    if fix_at <= bug_at:
        raise ConfigError("fix_at", fix_at, f"a time in ms after bug_at ({bug_at:g})")
    reset_time = bug_at if reset_time is None else check_positive("reset_time", reset_time, allow_zero=True)
    params: dict[str, Any] = dict(
        handler_kind=handler_kind, reset_to=reset_to, messages=messages, reset_time=reset_time, rebuild=rebuild,
        partitions=partitions, users=users, refund_share=refund_share, bug_at=bug_at, fix_at=fix_at,
        arrival_interval=arrivals, processing_time=processing_time, email_latency=email_latency,
        max_time=max_time)

    from ..dedupe import EmailProvider

    world = World(seed)
    env = world.env
    broker = Broker(world)
    broker.create_topic(TOPIC, partitions)
    producer = Producer(world, broker, "payments", partitioner="key")
    db = Database(world, "projection-db")
    db.create_table(TOTALS)
    db.create_table(ENTRIES)
    email = EmailProvider(world, "email", latency=email_latency)
    group = ConsumerGroup(world, broker, PROJECTION, session_timeout=300)
    idempotent = handler_kind == "idempotent"

    def version(v: int):  # type: ignore[no-untyped-def]
        def project(record: Record, ctx: Context):  # type: ignore[no-untyped-def]
            user, cents = record.key, record.value
            if v == 2:
                cents = abs(cents)  # the bug: a refund is counted as a payment
            key = f"receipt/{record.msg_id}" if idempotent else None
            yield from email.send(user, f"receipt: {cents / 100:.2f}", idempotency_key=key, msg_id=record.msg_id)
            tx = db.transaction(PROJECTION, msg_id=record.msg_id)
            before = tx.get(ENTRIES, record.msg_id, 0) if idempotent else 0
            balance = tx.get(TOTALS, user, 0) + cents - before
            tx.put(TOTALS, user, balance)
            if idempotent:
                tx.put(ENTRIES, record.msg_id, cents)
            yield from tx.commit()
            ctx.record("balance_updated", record, detail=balance)
        project.__name__ = f"project_v{v}"
        return project

    def deploy(v: int) -> list[Consumer]:
        world.record("operator", "deployed", detail=f"projection v{v}" + (
            " (bug: refunds counted as payments)" if v == 2 else " (fixed)" if v == 3 else ""))
        # one instance a version: a second member joining mid-poll would repeat records of its own
        return [Consumer(world, broker, f"projection-v{v}", TOPIC, version(v), group=group,
                         commit="after_processing", processing_time=processing_time, auto_offset_reset="earliest")]

    def stop_when_idle(members: list[Consumer]):  # type: ignore[no-untyped-def]
        while not all(c.idle for c in members):
            yield env.timeout(1)
        for c in members:
            c.stop()
        yield env.all_of([c.process for c in members])

    sent, finished = env.event(), env.event()

    def operator():  # type: ignore[no-untyped-def]
        members = deploy(1)
        yield env.timeout(bug_at)
        yield from stop_when_idle(members)
        members = deploy(2)
        yield env.timeout(max(0.0, fix_at - env.now))
        yield from stop_when_idle(members)
        if reset_to == "time":
            group.reset_offsets(TOPIC, time=reset_time)
        else:
            group.reset_offsets(TOPIC, reset_to)
        if rebuild:
            tx = db.transaction(PROJECTION)
            for table in (TOTALS, ENTRIES):
                for k in list(db.table(table)):
                    tx.delete(table, k)
            yield from tx.commit()
            world.record("operator", "projection_truncated", detail=f"{TOTALS}, {ENTRIES}")
        members = deploy(3)
        yield until_drained(world, broker, group, members, sent)
        finished.succeed()

    def payments():  # type: ignore[no-untyped-def]
        rng, who, how = world.rng("arrivals"), world.rng("payload/users"), world.rng("payload/amounts")
        for i in range(messages):
            yield env.timeout(arrivals.sample(rng))
            user = f"user-{who.randrange(users)}"
            cents = how.randint(100, 20_000) * (-1 if how.random() < refund_share else 1)
            world.record("payments", "payment_received", topic=TOPIC, key=user, msg_id=i, detail=cents)
            producer.send(TOPIC, value=cents, key=user, msg_id=i)
        sent.succeed()

    env.process(operator())
    env.process(payments())
    world.run(until=finished | env.timeout(max_time))

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
    return RunResult("replay", seed, params, Report(**fields), result_checks, {}, world.trace)


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
