"""Idempotent consumers: making the second delivery of a message harmless.

Every design here commits offsets *after* processing (at least once), so a consumer
that crashes before its commit gets the message again. Each ``UserSignedUp`` event
asks the consumer to do two things: count the sign-up in its own database (schema
``welcome``) and send the user a welcome email through an external
:class:`~simkit.dedupe.EmailProvider`. The strategies differ in how they treat a
message they may have seen before:

============================  ==========================================================
``"none"``                    send the email, then add one to ``welcome.stats.signups``,
                              on every delivery.
``"natural"``                 send the email, then *set* ``welcome.users[user]`` (the
                              count is the number of rows): repeating a set changes
                              nothing, but the email goes out again.
``"dedupe_table"``            look the message id up in a dedupe table and skip it if
                              found; else email, then one transaction that adds to the
                              counter *and* records the id.
``"dedupe_table_separate_tx"``  the same, but the counter and the id are two commits; a
                              crash between them lets the next delivery count again.
``"business_check"``          ask the business state ("was this user welcomed?") and skip
                              if so; else email, then one transaction that counts and
                              marks the user welcomed. No extra table, no TTL.
============================  ==========================================================

The email is outside the database, so no transaction covers it: a crash after the
email and before the commit (crash point ``after_email``) sends it again on the next
delivery, whatever the strategy, unless the provider honours an idempotency key
(``email_idempotency_key=True``; the consumer always passes ``welcome/<msg_id>``).

Crash points of the consumer, the same for every strategy so that one seed crashes
every design at the same place: ``before_process``, ``after_email`` (email sent,
nothing committed), ``after_effect_tx`` (the counting transaction committed; for
``dedupe_table_separate_tx`` the id is not recorded yet) and ``after_process``
(done, offset not committed).

``ttl`` (ms) bounds the dedupe table: a cleanup every ``cleanup_interval`` ms deletes
older ids. ``redeliver_after`` (ms) makes an upstream publisher send a share
(``redeliver_share``) of the messages a second time that long after the first, as
a replay or a relay that re-publishes does; later than the TTL, such a copy is no
longer in the table and slips through.

Defaults: a sign-up every 25 ms on average, each handled in about 20 ms (2 ms of work,
a 1 ms read, a 10 ms email round trip, 2 ms commits), so the consumer keeps up and
each crash (``crash_rate`` 0.05: one every 20 deliveries or so) costs a restart of
500 ms (after the 300 ms session timeout has removed the crashed member, as in
:mod:`~simkit.scenarios.consume`) and redelivers the message it was handling.
"""

from __future__ import annotations

from typing import Any, Iterable

from .. import checks
from ..broker import Broker
from ..consumer import Consumer, Context
from ..database import Database
from ..dedupe import DedupeTable, EmailProvider, table_size
from ..distributions import DistributionLike, as_distribution, exponential
from ..errors import ConfigError
from ..faults import check_rate
from ..groups import ConsumerGroup
from ..params import check_schedule
from ..producer import Producer
from ..results import Report, RunResult
from ..world import World, check_seed
from ._common import (
    check_choice,
    check_count,
    check_positive,
    latency_fields,
    until_drained,
)

__all__ = ["CRASH_POINTS", "DESIGNS", "dedupe"]

DESIGNS: tuple[str, ...] = ("none", "natural", "dedupe_table", "dedupe_table_separate_tx", "business_check")
CRASH_POINTS: tuple[str, ...] = ("before_process", "after_email", "after_effect_tx", "after_process")

TOPIC = "signups"
STATS = "welcome.stats"
USERS = "welcome.users"
PROCESSED = "welcome.processed"


def dedupe(
    strategy: str,
    crash_rate: float = 0.05,
    messages: int = 200,
    seed: int = 0,
    *,
    ttl: float | None = 2000,
    cleanup_interval: float = 500,
    redeliver_after: float | None = None,
    redeliver_share: float = 0.1,
    email_idempotency_key: bool = False,
    arrival_interval: DistributionLike | None = None,
    processing_time: DistributionLike = 2,
    read_latency: DistributionLike = 1,
    commit_latency: DistributionLike = 2,
    email_latency: DistributionLike = 5,
    max_poll_records: int = 10,
    session_timeout: float = 300,
    restart_delay: DistributionLike = 500,
    crash_schedule: Iterable[tuple[int, str]] = (),
    max_time: float = 600_000,
) -> RunResult:
    """Run ``messages`` sign-ups through a crashing at-least-once consumer using ``strategy``.

    ``strategy`` is one of :data:`DESIGNS`; ``crash_schedule`` pairs ``(n, point)``
    crash the consumer exactly while it handles its ``n``-th delivery (0-based,
    redeliveries counted), ``point`` one of :data:`CRASH_POINTS`.
    ``arrival_interval`` defaults to exponential with mean 25 ms.

    Report fields: ``produced``, ``processed``, ``lost``, ``redelivered`` (messages
    handled more than once), ``duplicates`` (messages whose database side effect, the
    counter, was applied more than once), ``repeated_sets`` (messages whose idempotent
    set ran more than once: harmless), ``emails_sent``, ``duplicate_emails`` (messages
    that caused more than one email), ``emails_ignored`` (repeats the provider
    recognised by their key), ``skipped`` (deliveries the strategy recognised and
    skipped), ``crashes``, ``dedupe_table_max_size``, ``dedupe_table_final_size``,
    ``expired`` (ids the TTL cleanup deleted), ``latency_*`` (ms, send to first
    processed), ``duration`` (ms), ``drained``. ``series["dedupe_table_size"]`` is the
    table's size sampled every 100 ms by a :class:`~simkit.monitor.Monitor`.
    """
    check_choice("strategy", strategy, DESIGNS)
    crash_rate = check_rate("crash_rate", crash_rate)
    messages = check_count("messages", messages)
    seed = check_seed(seed)
    if ttl is not None:
        ttl = check_positive("ttl", ttl)
    cleanup_interval = check_positive("cleanup_interval", cleanup_interval)
    if redeliver_after is not None:
        redeliver_after = check_positive("redeliver_after", redeliver_after)
    redeliver_share = check_rate("redeliver_share", redeliver_share)
    if not isinstance(email_idempotency_key, bool):
        raise ConfigError("email_idempotency_key", email_idempotency_key, "True or False")
    max_poll_records = check_count("max_poll_records", max_poll_records)
    session_timeout = check_positive("session_timeout", session_timeout)
    max_time = check_positive("max_time", max_time)
    arrivals = as_distribution("arrival_interval", exponential(25) if arrival_interval is None else arrival_interval)
    processing = as_distribution("processing_time", processing_time)
    restart = as_distribution("restart_delay", restart_delay)
    schedule = check_schedule("crash_schedule", crash_schedule, CRASH_POINTS)
    params: dict[str, Any] = dict(
        strategy=strategy, crash_rate=crash_rate, messages=messages, ttl=ttl, cleanup_interval=cleanup_interval,
        redeliver_after=redeliver_after, redeliver_share=redeliver_share,
        email_idempotency_key=email_idempotency_key, arrival_interval=arrivals, processing_time=processing,
        read_latency=read_latency, commit_latency=commit_latency, email_latency=email_latency,
        max_poll_records=max_poll_records, session_timeout=session_timeout, restart_delay=restart,
        crash_schedule=schedule, max_time=max_time)

    world = World(seed)
    env = world.env
    broker = Broker(world)
    broker.create_topic(TOPIC, 1)
    producer = Producer(world, broker, "producer", partitioner="key")
    db = Database(world, "db", read_latency=read_latency, commit_latency=commit_latency)
    db.create_table(STATS)
    db.create_table(USERS)
    table = DedupeTable(world, db, PROCESSED, ttl=ttl, cleanup_interval=cleanup_interval)
    email = EmailProvider(world, "email", latency=email_latency, accepts_idempotency_key=email_idempotency_key)

    def welcome(rec: Any, ctx: Context):  # type: ignore[no-untyped-def]
        user, mid = rec.key, rec.msg_id
        if strategy in ("dedupe_table", "dedupe_table_separate_tx"):
            if (yield from table.contains(mid)):
                ctx.record("duplicate_skipped", rec, detail=f"{mid} is in {PROCESSED}")
                return
        elif strategy == "business_check":
            if (yield from db.read(USERS, user)) == "welcomed":
                ctx.record("duplicate_skipped", rec, detail=f"{user} was already welcomed")
                return
        yield from email.send(user, "Welcome aboard!", idempotency_key=f"welcome/{mid}", msg_id=mid)
        ctx.crash_point("after_email")
        tx = db.transaction("welcome", msg_id=mid)
        if strategy == "natural":
            tx.put(USERS, user, "signed_up")
            yield from tx.commit()
            ctx.record("value_set", rec, detail=f"users[{user}] = signed_up")
        else:
            count = tx.get(STATS, "signups", 0) + 1
            tx.put(STATS, "signups", count)
            if strategy == "dedupe_table":
                table.add(tx, mid)
            elif strategy == "business_check":
                tx.put(USERS, user, "welcomed")
            yield from tx.commit()
            ctx.record("counter_incremented", rec, detail=f"signups = {count}")
        ctx.crash_point("after_effect_tx")
        if strategy == "dedupe_table_separate_tx":
            tx = db.transaction("welcome", msg_id=mid)
            table.add(tx, mid)
            yield from tx.commit()

    welcome.crash_points = CRASH_POINTS[1:3]  # type: ignore[attr-defined]
    group = ConsumerGroup(world, broker, "welcome", session_timeout=session_timeout)
    consumer = Consumer(world, broker, "consumer", TOPIC, welcome, group=group, commit="after_processing",
                        max_poll_records=max_poll_records, processing_time=processing,
                        auto_offset_reset="earliest", crash_rate=crash_rate, crash_schedule=schedule,
                        restart_delay=restart)
    sent = env.event()

    def signups():  # type: ignore[no-untyped-def]
        rng, pick = world.rng("arrivals"), world.rng("upstream/replay")
        replays = []
        for i in range(messages):
            yield env.timeout(arrivals.sample(rng))
            producer.send(TOPIC, value="UserSignedUp", key=f"user-{i}", msg_id=i)
            if pick.random() < redeliver_share and redeliver_after is not None:
                replays.append(env.process(replay(i, redeliver_after)))
        yield env.all_of(replays)
        sent.succeed()

    def replay(i: int, delay: float):  # type: ignore[no-untyped-def]
        yield env.timeout(delay)
        world.record("upstream", "republish", topic=TOPIC, key=f"user-{i}", msg_id=i,
                     detail=f"sent again {delay:g} ms after the first time")
        producer.send(TOPIC, value="UserSignedUp", key=f"user-{i}", msg_id=i)

    env.process(signups())
    drained = until_drained(world, broker, group, [consumer], sent)
    world.run(until=drained | env.timeout(max_time))

    trace = world.trace.to_frame()
    events = trace["event"]
    lost = checks.lost(trace)
    redelivered = checks.duplicates(trace, "process")
    dup = checks.duplicates(trace, "counter_incremented")
    dup_emails = checks.duplicates(trace, "email_sent")
    lat = checks.latencies(trace)
    size = table_size(trace, PROCESSED)
    fields: dict[str, float] = dict(
        produced=int(trace.loc[events == "send", "msg_id"].nunique()),
        processed=int(lat.size),
        lost=lost.count,
        redelivered=redelivered.count,
        duplicates=dup.count,
        repeated_sets=checks.duplicates(trace, "value_set").count,
        emails_sent=int((events == "email_sent").sum()),
        duplicate_emails=dup_emails.count,
        emails_ignored=int((events == "email_ignored").sum()),
        skipped=int((events == "duplicate_skipped").sum()),
        crashes=int((events == "crash").sum()),
        dedupe_table_max_size=int(size["size"].max()) if len(size) else 0,
        dedupe_table_final_size=int(size["size"].iloc[-1]) if len(size) else 0,
        expired=int((events == "dedupe_expired").sum()),
        **latency_fields(lat),
        duration=float(env.now),
        drained=int(drained.triggered),
    )
    result_checks = {"lost": lost, "redelivered": redelivered, "duplicates": dup, "duplicate_emails": dup_emails}
    series = {"dedupe_table_size": table.size_series()}
    return RunResult("dedupe", seed, params, Report(**fields), result_checks, series, world.trace)
