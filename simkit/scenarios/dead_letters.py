"""Poison messages and dead letters: one bad record must not stop a partition.

A payment service publishes ``PaymentReceived`` events, keyed by user, to the
``payments`` topic; a ``ledger`` consumer group adds each amount to the user's
balance in its database. A few events are *malformed*: their ``amount`` field was
written with a decimal comma (``"12,34"``), which the ledger cannot parse. Which
events are malformed is a property of the payload, chosen before the run from the
named stream ``payload/poison``, so every design meets the same bad records, and the
handler fails on them by parsing them, every time it tries.

==========  ==========================================================================
``"no_dlq"``  the handler's exception crashes the consumer (``on_error="crash"``). It
              restarts from the last committed offset, reads the same record, crashes
              again: a crash loop. The partition stops behind the poison record, and
              every consumer the group hands that partition to crashes in turn.
``"skip"``    log the error and carry on (``on_error="skip"``): the partition flows,
              but the bad record is committed past and gone, with nothing to replay.
``"dlq"``     retry with back-off (``retries``, ``backoff`` ms, doubling), then publish
              the record to ``payments.DLT`` and move on (:func:`~simkit.dlq.with_retries`,
              Spring Kafka's ``DefaultErrorHandler`` with a dead-letter recoverer). The
              partition pauses only for the retries; the record is parked, not lost,
              and a :class:`~simkit.monitor.Monitor` alerts when the dead-letter topic
              holds more than ``dlq_alert_threshold`` records.
==========  ==========================================================================

``db_outage=(start, duration)`` (ms) takes the ledger's database down for a while:
a *transient* failure that the retries of ``"dlq"`` ride out when the back-offs add up
to more than the outage, and that sends good records to the dead-letter topic when
they do not.

Two monitors sample every ``monitor_interval`` ms, as an operator's dashboards would:
the dead-letter topic's depth (alert above ``dlq_alert_threshold`` records) and the
group's **consumer lag**, the log end offset minus the committed offset of its worst
partition (alert above ``lag_alert_threshold`` records; what ``kafka-consumer-groups
--describe`` shows and lag exporters scrape). A poison record that blocks its
partition makes that partition's lag grow with every payment that arrives behind it,
until the lag alert fires; with a dead-letter topic the lag only bumps up for the
retries' pauses and falls back.

Consumers commit after processing. A crashed member is removed after
``session_timeout=300`` ms and restarts after ``restart_delay=500`` ms, as in
:mod:`~simkit.scenarios.consume`. The run ends when the group has drained the topic,
or at ``max_time`` ms (a crash loop never drains); after a drain the monitors take
one more sample, so their last sample shows the final state.

:func:`simkit.scenarios.replay` is the other operational habit of this lesson:
resetting a group's offsets to reprocess history.
"""

from __future__ import annotations

from typing import Any, Iterable

import pandas as pd

from .. import checks
from ..broker import Broker, Record
from ..consumer import Consumer, Context
from ..database import Database
from ..distributions import DistributionLike, as_distribution, exponential
from ..dlq import blocked_time, dead_letter_topic_for, dlq_depth, unfinished, watch_depth, with_retries
from ..errors import ConfigError
from ..groups import ConsumerGroup
from ..monitor import Monitor
from ..producer import Producer
from ..results import Report, RunResult
from ..world import World, check_seed
from ._common import check_choice, check_count, check_positive, latency_fields, until_drained

__all__ = [
    "DESIGNS", "dead_letters", "lag_series", "parse_cents",
]

DESIGNS: tuple[str, ...] = ("no_dlq", "skip", "dlq")

TOPIC = "payments"
DLQ = dead_letter_topic_for(TOPIC)
GROUP = "ledger"
BALANCES = "ledger.balances"


def parse_cents(amount: str) -> int:
    """``"12.34"`` -> 1234. A malformed amount such as ``"12,34"`` raises ValueError, as a real parser would."""
    dollars, _, cents = amount.partition(".")
    if not dollars.isdigit() or len(cents) != 2 or not cents.isdigit():
        raise ValueError(f"malformed amount {amount!r}: expected digits, a dot and two decimals")
    return int(dollars) * 100 + int(cents)


def _poison_ids(poison: Any, messages: int, world: World) -> set[int]:
    """The ids of the malformed messages: a share, a count (drawn from ``payload/poison``) or given ids."""
    if isinstance(poison, bool):
        raise ConfigError("poison", poison, "a share from 0 to 1, a count, or a list of message ids")
    if isinstance(poison, float):
        if not 0 <= poison <= 1:
            raise ConfigError("poison", poison, "a share from 0.0 to 1.0")
        poison = round(poison * messages)
    if isinstance(poison, int):
        check_count("poison", poison, 0, messages)
        return set(world.rng("payload/poison").sample(range(messages), poison))
    try:
        ids = set(poison)
    except TypeError:
        raise ConfigError("poison", poison, "a share from 0 to 1, a count, or a list of message ids") from None
    if not all(isinstance(i, int) and not isinstance(i, bool) and 0 <= i < messages for i in ids):
        raise ConfigError("poison", poison, f"message ids from 0 to {messages - 1}")
    return ids


def dead_letters(
    design: str,
    poison: float | int | Iterable[int] = 3,
    messages: int = 300,
    seed: int = 0,
    *,
    partitions: int = 3,
    consumers: int = 3,
    users: int = 30,
    retries: int = 3,
    backoff: float = 20,
    dlq_alert_threshold: float = 2,
    lag_alert_threshold: float = 20,
    monitor_interval: float = 50,
    arrival_interval: DistributionLike | None = None,
    processing_time: DistributionLike = 2,
    commit_latency: DistributionLike = 1,
    db_outage: tuple[float, float] | None = None,
    session_timeout: float = 300,
    restart_delay: DistributionLike = 500,
    max_time: float | None = None,
) -> RunResult:
    """Run ``messages`` payments, ``poison`` of them malformed, through a ledger group using ``design``.

    ``design`` is one of :data:`DESIGNS`. ``poison`` is a share of the messages (a float
    from 0 to 1), a count (an int), or the message ids themselves. ``arrival_interval``
    defaults to exponential with mean 10 ms; ``max_time`` (ms) to 3 s after the last
    payment is due (``messages`` times the mean arrival interval, plus 3000).

    Report fields: ``produced``, ``poison`` (malformed messages sent), ``processed``
    (messages booked on a balance), ``dead_lettered`` (messages parked on the
    dead-letter topic), ``lost`` (committed past without being booked or parked),
    ``stuck`` (still waiting in the log behind a blocked position when the run ended),
    ``blocked_ms`` (ms, summed over partitions, that a failing record held its
    partition), ``crashes``, ``retries`` (failed attempts tried again),
    ``handler_errors`` (failures handed to the consumer), ``dlq_depth_max`` (records),
    ``alerts`` (times the dead-letter depth crossed ``dlq_alert_threshold``),
    ``lag_max`` (records: the highest consumer lag of any partition, sampled),
    ``lag_alerts`` (times the lag crossed ``lag_alert_threshold``), ``lag_alert_at``
    (ms: when the lag alert first fired, -1 if it never did), ``latency_*`` (ms from
    send to booked), ``duration`` (ms) and ``drained`` (1 if the group caught up, 0 if
    ``max_time`` stopped the run). ``series["dlq_depth"]`` and ``series["consumer_lag"]``
    are the monitors' samples; ``series["lag"]`` is the committed lag of each partition
    at the same moments, read from the trace (:func:`lag_series`, for
    :func:`simkit.plots.lag_over_time`).
    """
    check_choice("design", design, DESIGNS)
    messages = check_count("messages", messages)
    seed = check_seed(seed)
    partitions = check_count("partitions", partitions, 1, 64)
    consumers = check_count("consumers", consumers, 1, 64)
    users = check_count("users", users)
    retries = check_count("retries", retries, 0, 20)
    backoff = check_positive("backoff", backoff, allow_zero=True)
    dlq_alert_threshold = check_positive("dlq_alert_threshold", dlq_alert_threshold, allow_zero=True)
    lag_alert_threshold = check_positive("lag_alert_threshold", lag_alert_threshold, allow_zero=True)
    monitor_interval = check_positive("monitor_interval", monitor_interval)
    session_timeout = check_positive("session_timeout", session_timeout)
    arrivals = as_distribution("arrival_interval", exponential(10) if arrival_interval is None else arrival_interval)
    max_time = messages * arrivals.mean + 3000 if max_time is None else check_positive("max_time", max_time)
    processing = as_distribution("processing_time", processing_time)
    restart = as_distribution("restart_delay", restart_delay)
    if db_outage is not None:
        try:
            start, length = db_outage
        except (TypeError, ValueError):
            raise ConfigError("db_outage", db_outage, "None or (start, duration) in ms") from None
        db_outage = (check_positive("db_outage start", start, allow_zero=True),
                     check_positive("db_outage duration", length))

    world = World(seed)
    bad = _poison_ids(poison, messages, world)
    params: dict[str, Any] = dict(
        design=design, poison=tuple(sorted(bad)), messages=messages, partitions=partitions, consumers=consumers,
        users=users, retries=retries, backoff=backoff, dlq_alert_threshold=dlq_alert_threshold,
        lag_alert_threshold=lag_alert_threshold, monitor_interval=monitor_interval, arrival_interval=arrivals,
        processing_time=processing,
        commit_latency=commit_latency, db_outage=db_outage, session_timeout=session_timeout,
        restart_delay=restart, max_time=max_time, dead_letter_topic=DLQ)

    env = world.env
    broker = Broker(world)
    broker.create_topic(TOPIC, partitions)
    broker.create_topic(DLQ, partitions)
    producer = Producer(world, broker, "payments", partitioner="key")
    db = Database(world, "ledger-db", commit_latency=commit_latency)
    db.create_table(BALANCES)
    if db_outage is not None:
        db.outage(*db_outage)

    def book(record: Record, ctx: Context):  # type: ignore[no-untyped-def]
        cents = parse_cents(record.value["amount"])  # a malformed amount fails here, every time
        user = record.value["user"]
        tx = db.transaction("ledger", msg_id=record.msg_id)
        balance = tx.get(BALANCES, user, 0) + cents
        tx.put(BALANCES, user, balance)
        yield from tx.commit()
        ctx.record("side_effect", record, detail=f"{user} balance {balance}")

    if design == "dlq":
        dlq_producer = Producer(world, broker, "ledger-dlq", partitioner="key")
        handler: Any = with_retries(book, retries=retries, backoff=backoff, producer=dlq_producer,
                                    dead_letter_topic=DLQ)
    else:
        handler = book
    group = ConsumerGroup(world, broker, GROUP, session_timeout=session_timeout)
    members = [
        Consumer(world, broker, f"ledger-{i}", TOPIC, handler, group=group, commit="after_processing",
                 max_poll_records=20, processing_time=processing, auto_offset_reset="earliest",
                 on_error="skip" if design == "skip" else "crash", restart_delay=restart)
        for i in range(consumers)
    ]
    monitor = watch_depth(world, broker, DLQ, threshold=dlq_alert_threshold, interval=monitor_interval)

    def worst_lag() -> float:  # what a lag exporter scrapes: log end minus committed, worst partition
        ends = broker.end_offsets(TOPIC)
        return float(max(end - (group.committed_offset(TOPIC, p) or 0) for p, end in enumerate(ends)))

    lag_monitor = Monitor(world, "consumer_lag", worst_lag, interval=monitor_interval, threshold=lag_alert_threshold)
    sent = env.event()

    def payments():  # type: ignore[no-untyped-def]
        rng, who, how_much = world.rng("arrivals"), world.rng("payload/users"), world.rng("payload/amounts")
        for i in range(messages):
            yield env.timeout(arrivals.sample(rng))
            user = f"user-{who.randrange(users)}"
            cents = how_much.randint(100, 20_000)
            text = f"{cents // 100},{cents % 100:02d}" if i in bad else f"{cents // 100}.{cents % 100:02d}"
            producer.send(TOPIC, value={"user": user, "amount": text}, key=user, msg_id=i)
        sent.succeed()

    env.process(payments())
    drained = until_drained(world, broker, group, members, sent)
    world.run(until=drained | env.timeout(max_time))
    end = float(env.now)
    if drained.triggered:  # the monitors look once more, so their last sample sees the drained state
        world.run(until=end + monitor_interval)

    trace = world.trace.to_frame()
    events = trace["event"]
    lost, stuck = unfinished(trace, TOPIC, done=("side_effect", "dead_lettered"), group=GROUP)
    dead = trace.loc[events == "dead_lettered", "msg_id"].drop_duplicates()
    lat = checks.latencies(trace, "send", "side_effect")
    detail = trace["detail"].astype(str)
    alerts = trace[(events == "alert") & detail.str.startswith(monitor.name + "=")]
    lag_alerts = trace[(events == "alert") & detail.str.startswith(lag_monitor.name + "=")]
    lag_samples = lag_monitor.to_frame()
    fields: dict[str, float] = dict(
        produced=int(trace.loc[(events == "send") & (trace["topic"] == TOPIC), "msg_id"].nunique()),
        poison=len(bad),
        processed=int(lat.size),
        dead_lettered=int(dead.size),
        lost=lost.count,
        stuck=stuck.count,
        blocked_ms=blocked_time(trace, TOPIC, end=end, group=GROUP),
        crashes=int((events == "crash").sum()),
        retries=int((events == "handler_retry").sum()),
        handler_errors=int((events == "handler_error").sum()),
        dlq_depth_max=int(dlq_depth(trace, DLQ)["depth"].max()),
        alerts=int(len(alerts)),
        lag_max=int(lag_samples["consumer_lag"].max()) if len(lag_samples) else 0,
        lag_alerts=int(len(lag_alerts)),
        lag_alert_at=float(lag_alerts["time"].iloc[0]) if len(lag_alerts) else -1.0,
        **latency_fields(lat),
        duration=end,
        drained=int(drained.triggered),
    )
    dead_check = checks.Check("dead_lettered", int(dead.size), tuple(dead.head(checks.EXAMPLES)), f"parked on {DLQ}")
    result_checks = {"lost": lost, "stuck": stuck, "dead_lettered": dead_check}
    series = {"dlq_depth": monitor.to_frame(), "consumer_lag": lag_samples,
              "lag": lag_series(trace, TOPIC, lag_samples["time"], group=GROUP)}
    return RunResult("dead_letters", seed, params, Report(**fields), result_checks, series, world.trace)


def lag_series(trace: pd.DataFrame, topic: str, times: Iterable[float], group: str | None = None) -> pd.DataFrame:
    """The committed consumer lag of every partition of ``topic`` at the given ``times`` (ms), from the trace.

    Lag is the partition's log end offset (its ``append`` rows) minus the group's last
    committed offset (its ``commit`` rows; ``group`` filters them by the group named in
    their detail), 0 before anything arrives. Columns ``time``, ``topic``,
    ``partition``, ``lag`` (records): the shape :func:`simkit.checks.lag` returns and
    :func:`simkit.plots.lag_over_time` draws.
    """
    import numpy as np

    at = np.asarray(list(times), dtype=float)
    on_topic = trace["topic"] == topic
    app = trace[(trace["event"] == "append") & on_topic]
    com = trace[(trace["event"] == "commit") & on_topic]
    if group is not None:
        com = com[com["detail"] == group]
    frames = []
    for p in sorted(int(x) for x in app["partition"].dropna().unique()):
        ends = np.searchsorted(app.loc[app["partition"] == p, "time"].to_numpy(dtype=float), at, side="right")
        c = com[com["partition"] == p]
        k = np.searchsorted(c["time"].to_numpy(dtype=float), at, side="right")
        offs = c["offset"].to_numpy(dtype=np.int64)
        committed = np.where(k > 0, offs[np.maximum(k - 1, 0)] if len(offs) else 0, 0)
        frames.append(pd.DataFrame({"time": at, "topic": topic, "partition": p, "lag": (ends - committed).astype(int)}))
    if not frames:
        return pd.DataFrame({"time": pd.Series(dtype=float), "topic": pd.Series(dtype=object),
                             "partition": pd.Series(dtype=int), "lag": pd.Series(dtype=int)})
    return pd.concat(frames, ignore_index=True)
