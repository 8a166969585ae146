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
``"dlq"``     retry with back-off (``handler_retries``, ``backoff`` ms, doubling), then publish
              the record to ``payments.DLT`` and move on (:func:`~simkit.dlq.with_retries`,
              Spring Kafka's ``DefaultErrorHandler`` with a dead-letter recoverer). The
              partition pauses only for the retries; the record is parked, not lost,
              and a :class:`~simkit.monitor.Monitor` alerts when the dead-letter topic
              holds more than ``dlq_alert_threshold`` records. The key's later
              records are booked before the parked one: its order is broken
              (the ``overtook_parked`` check counts them).
``"dlq_park_key"``  as ``"dlq"``, and every later record of a parked record's key is
              parked behind it (``with_retries(park_keys=True)``), so the key keeps its
              order on the dead-letter topic; more records wait there instead.
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

import functools
import math
from dataclasses import dataclass, field
from typing import Any, Generator, Iterable

import pandas as pd
import simpy

from .. import checks
from ..broker import Broker, Record
from ..consumer import Consumer, Context
from ..database import Database
from ..distributions import exponential
from ..dlq import blocked_time, dead_letter_topic_for, dlq_depth, unfinished, watch_depth, with_retries
from ..errors import ConfigError
from ..glossary import PERCENTILES, register
from ..groups import ConsumerGroup
from ..monitor import Monitor
from ..params import Params, check_steps, count, distribution, ms, positive, window
from ..producer import Producer
from ..results import Report, RunResult
from ..world import World
from ._common import MAX_DRAIN_MS, client_param, latency_fields, until_drained
from .registry import scenario

__all__ = [
    "DESIGNS", "PARKING_DESIGNS", "DeadLettersParams", "Ledger", "dead_letters", "lag_series", "overtook_parked",
    "parse_cents", "payments", "worst_lag",
]

DESIGNS: tuple[str, ...] = ("no_dlq", "skip", "dlq", "dlq_park_key")
#: the designs that park a failed record on the dead-letter topic (the others have none)
PARKING_DESIGNS: tuple[str, ...] = ("dlq", "dlq_park_key")

TOPIC = "payments"
DLQ = dead_letter_topic_for(TOPIC)
GROUP = "ledger"
BALANCES = "ledger.balances"
_POISON = "a share from 0 to 1 (a float), a count (an int), or a list of message ids"


def parse_cents(amount: str) -> int:
    """``"12.34"`` -> 1234. A malformed amount such as ``"12,34"`` raises ValueError, as a real parser would."""
    dollars, _, cents = amount.partition(".")
    if not dollars.isdigit() or len(cents) != 2 or not cents.isdigit():
        raise ValueError(f"malformed amount {amount!r}: expected digits, a dot and two decimals")
    return int(dollars) * 100 + int(cents)


def _check_poison(param: str, value: Any) -> float | int | tuple[int, ...]:
    """A share (float), a count (int) or message ids (a sorted tuple); :meth:`DeadLettersParams.check` bounds them."""
    if isinstance(value, bool) or isinstance(value, (str, bytes)):
        raise ConfigError(param, value, _POISON)
    if isinstance(value, float):
        if not 0 <= value <= 1:
            raise ConfigError(param, value, "a share from 0.0 to 1.0")
        return value
    if isinstance(value, int):
        return value
    try:
        ids = sorted(set(value))
    except TypeError:
        raise ConfigError(param, value, _POISON) from None
    if not all(isinstance(i, int) and not isinstance(i, bool) for i in ids):
        raise ConfigError(param, value, _POISON)
    return tuple(ids)


@dataclass(frozen=True)
class DeadLettersParams(Params):
    """The parameters of :func:`dead_letters` (times in ms)."""

    poison: Any = field(default=3, metadata={"check": _check_poison, "doc": "the malformed payments: " + _POISON})
    messages: int = count(300, high=100_000, doc="payments sent")
    partitions: int = count(3, high=64, doc="partitions of the payments topic (and of its dead-letter topic)")
    consumers: int = count(3, high=64, doc="members of the ledger group")
    users: int = count(30, high=100_000, doc="users paying (the key)")
    handler_retries: int = count(3, low=0, high=20, doc="tries again after the first failure, before the DLT")
    backoff: float = ms(20, doc="the pause before the first retry, doubling after each")
    dlq_alert_threshold: float = positive(2, zero=True, doc="dead-letter records that raise an alert")
    lag_alert_threshold: float = positive(20, zero=True, doc="consumer lag (records) that raises an alert")
    monitor_interval: float = ms(50, strict=True, doc="the two monitors sample this often")
    arrival_interval: Any = distribution(exponential(10), doc="time between two payments")
    processing_time: Any = distribution(2, doc="the ledger's work per payment")
    commit_latency: Any = distribution(1, doc="a database commit")
    db_outage: tuple[float, float] | None = window(doc="(start, duration) of a ledger database outage")
    session_timeout: float = ms(300, strict=True, doc="how long a crashed member lingers (session.timeout.ms)")
    restart_delay: Any = distribution(500, doc="a crashed consumer's restart")
    max_time: float | None = positive(None, optional=True, high=MAX_DRAIN_MS,
                                      doc="the run stops here; None: 3 s after the last payment is due")
    client: str = client_param()

    def check(self) -> None:
        if isinstance(self.poison, int) and not 0 <= self.poison <= self.messages:
            raise ConfigError("poison", self.poison, f"a count from 0 to messages={self.messages}")
        if isinstance(self.poison, tuple) and not all(0 <= i < self.messages for i in self.poison):
            raise ConfigError("poison", self.poison, f"message ids from 0 to {self.messages - 1}")
        span = self.run_for()
        if not (math.isfinite(span) and span <= MAX_DRAIN_MS):
            raise ConfigError("arrival_interval", self.arrival_interval,
                              f"a mean so that messages x mean + 3000 <= {MAX_DRAIN_MS:g} ms, or give max_time")
        check_steps("monitor_interval", self.monitor_interval, span)

    def run_for(self) -> float:
        """``max_time``, or 3 s after the last payment is due (``messages`` x the mean arrival interval)."""
        if self.max_time is not None:
            return self.max_time
        mean = getattr(self.arrival_interval, "mean", None)
        if not isinstance(mean, (int, float)):
            raise ConfigError("max_time", None, "a number of ms, since arrival_interval has no mean to reckon it by")
        return self.messages * mean + 3000


FIELDS = (
    "produced", "malformed", "processed", "dead_lettered", "lost", "stuck", "blocked_ms", "crashes", "retries",
    "handler_errors", "dlq_depth_max", "alerts", "lag_max", "lag_alerts", "lag_alert_at",
    *(f"latency_{s}" for s in PERCENTILES), "duration", "drained",
)
register("malformed", "messages", "messages sent with a payload the consumer cannot parse (poison messages)")
register("blocked_ms", "ms", "time, summed over partitions, that a failing record held its partition")
register("handler_errors", "errors", "handler failures handed to the consumer")
register("dlq_depth_max", "records", "the most records the dead-letter topic held")
register("lag_alerts", "alerts", "times the consumer lag crossed its alert threshold")
register("lag_alert_at", "ms", "when the consumer-lag alert first fired (-1 if it never did)")


@scenario("dead_letters", designs=DESIGNS, params=DeadLettersParams, fields=FIELDS, lesson="08",
          renamed={"retries": "handler_retries"}, legacy_positional=("design", "poison", "messages", "seed"))
def dead_letters(p: DeadLettersParams) -> RunResult:
    """Run ``messages`` payments, ``poison`` of them malformed, through a ledger group using ``design``.

    ``design`` is one of :data:`DESIGNS`. ``poison`` is a share of the messages (a float
    from 0 to 1), a count (an int), or the message ids themselves. ``arrival_interval``
    defaults to exponential with mean 10 ms; ``max_time`` (ms) to 3 s after the last
    payment is due (``messages`` times the mean arrival interval, plus 3000).
    ``handler_retries`` (the old keyword ``retries=`` still works, with a warning) and
    ``backoff`` are the ``"dlq"`` design's retries.

    Report fields (see :mod:`simkit.glossary`): ``produced``, ``malformed`` (poison
    messages sent), ``processed`` (messages booked on a balance), ``dead_lettered``
    (messages parked on the dead-letter topic), ``lost`` (committed past without being
    booked or parked), ``stuck`` (still waiting in the log behind a blocked position
    when the run ended), ``blocked_ms`` (ms, summed over partitions, that a failing
    record held its partition), ``crashes``, ``retries`` (failed attempts tried again),
    ``handler_errors`` (failures handed to the consumer), ``dlq_depth_max`` (records),
    ``alerts`` (times the dead-letter depth crossed ``dlq_alert_threshold``),
    ``lag_max`` (records: the highest consumer lag of any partition, sampled),
    ``lag_alerts`` (times the lag crossed ``lag_alert_threshold``), ``lag_alert_at``
    (ms: when the lag alert first fired, -1 if it never did), ``latency_*`` (ms from
    send to booked), ``duration`` (ms) and ``drained`` (1 if the group caught up, 0 if
    ``max_time`` stopped the run). ``series["dlq_depth"]`` and ``series["consumer_lag"]``
    are the monitors' samples; ``series["lag"]`` is the committed lag of each partition
    at the same moments, read from the trace (:func:`lag_series`, for
    :func:`simkit.plots.lag_over_time`). ``params["poison"]`` holds the malformed ids.
    """
    # build: the payments topic and its dead-letter topic, the ledger's database
    world = World(p.seed)
    env = world.env
    bad = _poison_ids(world, p)
    broker = Broker(world)
    broker.create_topic(TOPIC, p.partitions)
    broker.create_topic(DLQ, p.partitions)
    producer = Producer(world, broker, "payments", client=p.client)
    db = Database(world, "ledger-db", commit_latency=p.commit_latency)
    db.create_table(BALANCES)
    if p.db_outage is not None:
        db.outage(*p.db_outage)

    # wire the design: how the ledger group treats a record its handler cannot book
    handler: Any = Ledger(db)
    if p.design in PARKING_DESIGNS:
        dlq_producer = Producer(world, broker, "ledger-dlq", client=p.client)
        handler = with_retries(handler, retries=p.handler_retries, backoff=p.backoff, producer=dlq_producer,
                               dead_letter_topic=DLQ, park_keys=p.design == "dlq_park_key")
    group = ConsumerGroup(world, broker, GROUP, session_timeout=p.session_timeout)
    members = [
        Consumer(world, broker, f"ledger-{i}", TOPIC, handler, client=p.client, group=group, commit="after_processing",
                 max_poll_records=20, processing_time=p.processing_time, auto_offset_reset="earliest",
                 on_error="skip" if p.design == "skip" else "crash", restart_delay=p.restart_delay)
        for i in range(p.consumers)
    ]
    monitor = watch_depth(world, broker, DLQ, threshold=p.dlq_alert_threshold, interval=p.monitor_interval)
    lag_monitor = Monitor(world, "consumer_lag", functools.partial(worst_lag, broker, group),
                          interval=p.monitor_interval, threshold=p.lag_alert_threshold)

    # run: until the group has drained the topic, or max_time (a crash loop never drains)
    sent = env.event()
    env.process(payments(world, producer, bad, sent, p))
    drained = until_drained(world, broker, group, members, sent)
    world.run(until=drained | env.timeout(p.run_for()))
    end = float(env.now)
    if drained.triggered:  # the monitors look once more, so their last sample sees the drained state
        world.run(until=end + p.monitor_interval)

    # check: everything below reads the trace
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
        malformed=len(bad),
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
    result_checks = {"lost": lost, "stuck": stuck, "dead_lettered": dead_check,
                     "overtook_parked": overtook_parked(trace, TOPIC)}
    series = {"dlq_depth": monitor.to_frame(), "consumer_lag": lag_samples,
              "lag": lag_series(trace, TOPIC, lag_samples["time"], group=GROUP)}
    params = {**p.to_dict(), "poison": tuple(sorted(bad)), "max_time": p.run_for(), "dead_letter_topic": DLQ}
    return RunResult("dead_letters", p.seed, params, Report(**fields), result_checks, series, world.trace)


def overtook_parked(trace: pd.DataFrame, topic: str = TOPIC) -> checks.Check:
    """Records booked although an earlier record of their key (lower offset, same partition) was parked on
    the dead-letter topic: the key's order is broken, e.g. a refund booked before its payment."""
    ev = trace["event"]
    parked = trace[(ev == "dead_lettered") & (trace["topic"] == topic)]
    first = parked.groupby(["partition", "key"])["offset"].min()
    booked = trace[(ev == "side_effect") & (trace["topic"] == topic)].drop_duplicates("msg_id")
    joined = booked.join(first.rename("parked_offset"), on=["partition", "key"], how="inner")
    ahead = joined[joined["offset"] > joined["parked_offset"]]["msg_id"]
    return checks.Check("overtook_parked", int(ahead.size), tuple(ahead.head(checks.EXAMPLES)),
                        "booked before an earlier record of their key, parked on the dead-letter topic")


def _poison_ids(world: World, p: DeadLettersParams) -> set[int]:
    """The ids of the malformed messages: a share or a count drawn from ``payload/poison``, or the ids given."""
    if isinstance(p.poison, tuple):
        return set(p.poison)
    n = round(p.poison * p.messages) if isinstance(p.poison, float) else p.poison
    return set(world.rng("payload/poison").sample(range(p.messages), n))


def payments(world: World, producer: Producer, bad: set[int], sent: simpy.Event,
             p: DeadLettersParams) -> Generator[simpy.Event, Any, None]:
    """The payment service: ``messages`` ``PaymentReceived`` events keyed by user, those in ``bad`` malformed."""
    env = world.env
    rng, who, how_much = world.rng("arrivals"), world.rng("payload/users"), world.rng("payload/amounts")
    for i in range(p.messages):
        yield env.timeout(p.arrival_interval.sample(rng))
        user = f"user-{who.randrange(p.users)}"
        cents = how_much.randint(100, 20_000)
        text = f"{cents // 100},{cents % 100:02d}" if i in bad else f"{cents // 100}.{cents % 100:02d}"
        producer.send(TOPIC, value={"user": user, "amount": text}, key=user, msg_id=i)
    sent.succeed()


class Ledger:
    """The ledger's handler: parse the amount and add it to the user's balance, in one transaction.

    A malformed amount fails in :func:`parse_cents`, every time the record is tried.
    """

    def __init__(self, db: Database):
        self.db = db

    def __call__(self, record: Record, ctx: Context) -> Generator[simpy.Event, Any, None]:
        cents = parse_cents(record.value["amount"])  # a malformed amount fails here, every time
        user = record.value["user"]
        tx = self.db.transaction("ledger", msg_id=record.msg_id)
        balance = tx.get(BALANCES, user, 0) + cents
        tx.put(BALANCES, user, balance)
        yield from tx.commit()
        ctx.record("side_effect", record, detail=f"{user} balance {balance}")


def worst_lag(broker: Broker, group: ConsumerGroup) -> float:
    """What a lag exporter scrapes: log end offset minus committed offset, on the worst partition (records)."""
    ends = broker.end_offsets(TOPIC)
    return float(max(end - (group.committed_offset(TOPIC, part) or 0) for part, end in enumerate(ends)))


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
