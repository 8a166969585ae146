"""When does a consumer say "done"? Commit policies under consumer crashes.

A producer writes ``messages`` sign-up events; a consumer group handles each one with
a handler whose side effect (say, sending the welcome email) is one ``side_effect``
row in the trace. The consumers crash now and then, restart, rejoin the group and
carry on from the group's *committed* offset. Whatever was committed but never
handled is lost; whatever was handled but not committed is handled again. Which of
the two a design risks follows only from *when* it commits:

======================  ================================================================
``"auto"``              librdkafka's auto commit: offsets are stored as records are handed
                        over and a timer commits them every ``auto_commit_interval`` ms,
                        done or not. A crash after the timer and before the work: lost.
``"auto_on_poll"``      the Java client's auto commit, inside ``poll()``: it commits what
                        earlier polls returned. Processing each batch before polling again
                        makes that safe: a crash repeats, never loses.
``"auto_on_poll_pool"`` the same, but the poll loop hands records to a pool of ``workers``
                        and polls on at once, so the commit covers records still waiting
                        in the pool. A crash loses them.
``"before_processing"`` commit the batch, then handle it: at most once.
``"after_processing"``  handle a record, then commit it: at least once (the fix for loss;
                        a crash in between repeats the record).
======================  ================================================================

Why the defaults are what they are. Records arrive about every 5 ms and each takes
10 ms to handle, so a backlog forms and every poll returns a full batch of
``max_poll_records=20`` records (200 ms of work). The auto-commit timer fires every
100 ms, twice inside each batch, so at any moment about half a batch is committed
and not yet handled: that is the window in which a crash loses records, and with a
few crashes among a few hundred messages (``crash_rate`` 0.01 to 0.05, about one
crash per 20 to 100 records handled) it shows as tens of lost records. Kafka's own
defaults (500 records a poll, 5 s interval) have the same windows, only too long to
watch. A crashed consumer's membership lingers until ``session_timeout=300`` ms pass
(``session.timeout.ms``, 45 s in Kafka, shortened so a run takes seconds of simulated
time); it comes back after ``restart_delay=500`` ms, once the group has let the old
membership go, so a restart never rebalances a member in the middle of a batch and
every anomaly traces back to one crash and one commit policy.

The run ends when every record is sent, the group has committed up to the end of
every partition (Kafka's consumer lag is zero) and every consumer waits idle for
more, or at ``max_time`` ms, whichever comes first (``drained`` says which).
"""

from __future__ import annotations

from typing import Any, Iterable


from .. import checks
from ..broker import Broker, Record
from ..consumer import Consumer, Context
from ..distributions import DistributionLike, as_distribution, exponential
from ..errors import ConfigError
from ..faults import check_rate
from ..groups import ConsumerGroup
from ..producer import Producer
from ..results import Report, RunResult
from ..world import World, check_seed
from ._common import check_choice, check_count, check_positive, latency_fields, until_drained

__all__ = ["DESIGNS", "consume"]

DESIGNS: tuple[str, ...] = ("auto", "auto_on_poll", "auto_on_poll_pool", "before_processing", "after_processing")

TOPIC = "signups"
GROUP = "welcome"


def consume(
    commit: str,
    crash_rate: float = 0.03,
    messages: int = 300,
    seed: int = 0,
    *,
    partitions: int = 1,
    consumers: int = 1,
    workers: int = 4,
    arrival_interval: DistributionLike | None = None,
    processing_time: DistributionLike = 10,
    max_poll_records: int = 20,
    auto_commit_interval: float = 100,
    session_timeout: float = 300,
    restart_delay: DistributionLike = 500,
    crash_schedule: Iterable[tuple[int, str]] = (),
    max_time: float = 600_000,
) -> RunResult:
    """Run ``messages`` records through a crashing consumer group that commits by ``commit``.

    ``commit`` is one of :data:`DESIGNS`. ``crash_rate`` is the chance that a consumer
    crashes while handling a record, at one of its crash points (``before_process``:
    handed the record, not started; ``after_process``: done, not yet committed).
    ``crash_schedule`` (pairs ``(n, point)``) crashes ``consumer-0`` exactly while it
    handles its ``n``-th record. ``workers`` is used by ``"auto_on_poll_pool"`` only.
    ``arrival_interval`` (ms between sends) defaults to exponential with mean 5 ms.

    Report fields: ``produced``, ``processed`` (records whose side effect happened at
    least once), ``lost`` (records never handled), ``duplicates`` (records handled more
    than once), ``extra_executions`` (side effects beyond the first), ``crashes``,
    ``commits``, ``latency_mean`` / ``_p50`` / ``_p95`` / ``_p99`` / ``_max`` (ms from
    send to the first side effect), ``duration`` (ms) and ``drained`` (1 if the run
    ended with zero lag, 0 if ``max_time`` stopped it).
    """
    check_choice("commit", commit, DESIGNS)
    crash_rate = check_rate("crash_rate", crash_rate)
    messages = check_count("messages", messages)
    seed = check_seed(seed)
    partitions = check_count("partitions", partitions, 1, 64)
    consumers = check_count("consumers", consumers, 1, 64)
    workers = check_count("workers", workers, 1, 64)
    max_poll_records = check_count("max_poll_records", max_poll_records)
    auto_commit_interval = check_positive("auto_commit_interval", auto_commit_interval)
    session_timeout = check_positive("session_timeout", session_timeout)
    max_time = check_positive("max_time", max_time)
    if arrival_interval is None:
        arrival_interval = exponential(5)
    arrivals = as_distribution("arrival_interval", arrival_interval)
    processing = as_distribution("processing_time", processing_time)
    restart = as_distribution("restart_delay", restart_delay)
    schedule = _check_schedule(crash_schedule)
    params: dict[str, Any] = dict(
        commit=commit, crash_rate=crash_rate, messages=messages, partitions=partitions, consumers=consumers,
        workers=workers, arrival_interval=arrivals, processing_time=processing, max_poll_records=max_poll_records,
        auto_commit_interval=auto_commit_interval, session_timeout=session_timeout, restart_delay=restart,
        crash_schedule=schedule, max_time=max_time)

    world = World(seed)
    env = world.env
    broker = Broker(world)
    broker.create_topic(TOPIC, partitions)
    producer = Producer(world, broker, "producer", partitioner="key")
    group = ConsumerGroup(world, broker, GROUP, session_timeout=session_timeout)

    def send_welcome_email(record: Record, ctx: Context) -> None:
        ctx.record("side_effect", record, detail="welcome email")

    policy = "auto_on_poll" if commit == "auto_on_poll_pool" else commit
    members = [
        Consumer(world, broker, f"consumer-{i}", TOPIC, send_welcome_email, group=group, commit=policy,
                 workers=workers if commit == "auto_on_poll_pool" else None,
                 max_poll_records=max_poll_records, processing_time=processing,
                 auto_commit_interval=auto_commit_interval, auto_offset_reset="earliest",
                 crash_rate=crash_rate, crash_schedule=schedule if i == 0 else (), restart_delay=restart)
        for i in range(consumers)
    ]
    sent = env.event()

    def signups():  # type: ignore[no-untyped-def]
        rng = world.rng("arrivals")
        for i in range(messages):
            yield env.timeout(arrivals.sample(rng))
            producer.send(TOPIC, value="UserSignedUp", key=f"user-{i}", msg_id=i)
        sent.succeed()

    env.process(signups())
    drained = until_drained(world, broker, group, members, sent)
    world.run(until=drained | env.timeout(max_time))

    trace = world.trace.to_frame()
    lost = checks.lost(trace, delivered="side_effect")
    dup = checks.duplicates(trace, "side_effect")
    lat = checks.latencies(trace, "send", "side_effect")
    events = trace["event"]
    fields: dict[str, float] = dict(
        produced=int(trace.loc[events == "send", "msg_id"].nunique()),
        processed=int(lat.size),
        lost=lost.count,
        duplicates=dup.count,
        extra_executions=int((events == "side_effect").sum()) - int(lat.size),
        crashes=int((events == "crash").sum()),
        commits=int((events == "commit").sum()),
        **latency_fields(lat),
        duration=float(env.now),
        drained=int(drained.triggered),
    )
    return RunResult("consume", seed, params, Report(**fields), {"lost": lost, "duplicates": dup}, {},
                     world.trace)


def _check_schedule(schedule: Iterable[tuple[int, str]]) -> tuple[tuple[int, str], ...]:
    try:
        return tuple((n, p) for n, p in schedule)
    except (TypeError, ValueError):
        raise ConfigError("crash_schedule", schedule, "(n, point) pairs such as [(12, 'after_process')]") from None
