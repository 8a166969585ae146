"""Commit policies on a real librdkafka consumer, killed for real: the live twin of lesson 04.

The run writes ``messages`` sign-up records to a topic, then one consumer process
(``consumer-0``, confluent-kafka on librdkafka) polls batches of up to
``max_poll_records`` and handles each record in ``processing_time`` ms; the handler's
side effect is one ``side_effect`` row in the trace. The designs, each a real
client configuration:

``"auto"``               ``enable.auto.commit=true`` with ``enable.auto.offset.store=true``
                         (librdkafka's defaults): offsets are stored when ``consume()``
                         returns the batch and committed every ``auto.commit.interval.ms``,
                         handled or not.
``"before_processing"``  auto commit off; ``commit(offsets, asynchronous=False)`` for the
                         whole batch, then the work: at most once.
``"after_processing"``   auto commit off; ``commit(message, asynchronous=False)`` after each
                         record's work: at least once.
``"store_offsets"``      librdkafka's at-least-once idiom: ``enable.auto.offset.store=false``
                         and ``store_offsets(message)`` after the work; the timer commits what
                         was stored.

Crashes are real. ``crash_rate`` is the simulator's: each record handled kills the
process with that probability at one of :data:`POINTS` (``before_process``: handed
the record, work not started; ``after_process``: work done, offset not yet committed or
stored), by ``os._exit``, with no ``close()``. ``kill_rate`` adds SIGKILLs at random
instants (kills per second of the consumer's busy time, while it handles records),
which strike each step in proportion to how long it takes. The seed chooses where and when; it cannot choose
what the client was doing at that instant, so **a live run is one history, not a
seed's**: run it several times and look at the spread. After a crash a new process
starts at once and rejoins the group; the group hands it the partition once the dead
member's ``session.timeout.ms`` has run out (the client's own rebalance).

The run ends when the group's committed offsets reach the end of every partition (zero
consumer lag) and the consumer is idle, or after ``max_time`` ms. Then every partition
is read back and the checkers read the trace, as for the simulator.
"""

from __future__ import annotations

from typing import Any

from ..faults import check_rate
from ..params import check_choice, check_count, check_positive
from ..results import Report, RunResult
from ..scenarios.consume import welcome_checks
from ..world import check_seed
from ._run import Child, LiveRun, check_bootstrap, crash_fields

__all__ = ["DESIGNS", "POINTS", "consume"]

DESIGNS: tuple[str, ...] = ("auto", "before_processing", "after_processing", "store_offsets")

#: the consumer's crash points, as in :class:`simkit.Consumer`
POINTS: tuple[str, ...] = ("before_process", "after_process")


def consume(
    design: str,
    *,
    seed: int = 0,
    messages: int = 300,
    crash_rate: float = 0.03,
    kill_rate: float = 0.0,
    partitions: int = 1,
    processing_time: float = 10,
    max_poll_records: int = 20,
    auto_commit_interval: float = 100,
    session_timeout: float = 1000,
    max_time: float = 120_000,
    bootstrap_servers: str | None = None,
) -> RunResult:
    """Run ``messages`` records through a real consumer that commits by ``design``, crashing for real.

    ``design`` is one of :data:`DESIGNS`; see the module docs. Times are in ms
    (``auto_commit_interval`` is ``auto.commit.interval.ms``, ``session_timeout`` is
    ``session.timeout.ms``: 45 s in Kafka, 1 s here so that a restart takes a second);
    ``kill_rate`` is SIGKILLs per second of busy time. ``bootstrap_servers`` points the run at a real
    cluster (it creates and deletes a topic there); ``None`` starts librdkafka's mock
    cluster on loopback.

    Report fields, as the simulator's :func:`simkit.scenarios.consume`: ``produced``,
    ``processed``, ``lost``, ``duplicates``, ``extra_copies``, ``crashes`` (and
    ``crashes_before_process``, ``crashes_after_process``, ``crashes_time``: where they
    struck), ``commits``, ``latency_*`` (ms from send to first side effect), ``duration``
    (ms) and ``drained`` (1 if the run ended with zero lag).
    """
    check_choice("design", design, DESIGNS)
    seed = check_seed(seed)
    messages = check_count("messages", messages, 1, 100_000)
    crash_rate = check_rate("crash_rate", crash_rate)
    kill_rate = check_positive("kill_rate", kill_rate, allow_zero=True)
    partitions = check_count("partitions", partitions, 1, 64)
    processing_time = check_positive("processing_time", processing_time, allow_zero=True)
    max_poll_records = check_count("max_poll_records", max_poll_records, 1, 10_000)
    auto_commit_interval = check_positive("auto_commit_interval", auto_commit_interval)
    session_timeout = check_positive("session_timeout", session_timeout)
    max_time = check_positive("max_time", max_time)
    bootstrap_servers = check_bootstrap(bootstrap_servers)
    params: dict[str, Any] = dict(
        design=design, messages=messages, crash_rate=crash_rate, kill_rate=kill_rate, partitions=partitions,
        processing_time=processing_time, max_poll_records=max_poll_records,
        auto_commit_interval=auto_commit_interval, session_timeout=session_timeout, max_time=max_time,
        bootstrap_servers=bootstrap_servers)

    with LiveRun("consume", seed, bootstrap_servers) as run:
        topic = run.topic("signups", partitions)
        group = f"{run.prefix}.welcome"
        produce(run, topic, messages)
        client = run.client(session_timeout_ms=int(session_timeout),
                            heartbeat_interval_ms=max(10, int(session_timeout // 10)),
                            auto_commit_interval_ms=int(auto_commit_interval))

        def start() -> Child:
            after, point = run.crash_plan("consumer-0/crashes", crash_rate, POINTS)
            return run.start("consumer", "consumer-0", design=design, topic=topic, group=group, client=client,
                             processing_time=processing_time, max_poll_records=max_poll_records,
                             effect="side_effect", crash_after=after, crash_point=point)

        drained = run.supervise(start, "consumer-0", kill_rate, max_time,
                                lambda: all(v == 0 for v in run.committed(group, topic, partitions).values()))
        run.read_back(topic, partitions)
        world_trace = run.collect()

    trace = world_trace.to_frame()
    found, fields = welcome_checks(trace)  # the simulator's own checks, on what really happened
    fields.update(**crash_fields(trace, "consumer", POINTS), duration=float(trace["time"].max()),
                  drained=int(drained))
    return RunResult("live.consume", seed, params, Report(**fields), found, {}, world_trace)


def produce(run: LiveRun, topic: str, messages: int) -> None:
    """Write ``messages`` sign-up records (key ``user-<i>``, msg_id ``i``) with a ``send`` row each."""
    from confluent_kafka import Producer

    producer = Producer(run.client(partitioner="murmur2_random", linger_ms=5))
    for i in range(messages):
        run.record("producer", "send", topic, key=f"user-{i}", msg_id=i)
        producer.produce(topic, value="UserSignedUp", key=f"user-{i}", headers={"msg_id": str(i)})
        producer.poll(0)
    left = producer.flush(30)
    if left:
        raise RuntimeError(f"the cluster at {run.bootstrap_servers} did not acknowledge {left} records in 30 s")
