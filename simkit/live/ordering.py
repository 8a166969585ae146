"""Partitioning by key, and retries with and without idempotence, on a real producer and consumer group.

The live twin of :func:`simkit.scenarios.ordering`. ``users`` users each change their
email ``updates`` times in quick succession (the send times drawn from the seed as in
the simulator); a real producer in this process writes each change, keyed by the
user, to a topic of ``partitions`` partitions, and ``consumers`` consumer processes in
one group apply them (an ``email_set`` row each; last write wins), committing after
each record.

``"round_robin"``  each record goes to the next partition in turn (what Kafka's
                   ``RoundRobinPartitioner`` does; librdkafka has none, so the run
                   picks the partition itself): one user's changes spread over the
                   partitions and reach the consumers in whatever order they get to them.
``"key"``          librdkafka's ``murmur2_random`` partitioner (the Java client's
                   ``murmur2(key) % partitions``; confluent-kafka's default,
                   ``consistent_random``, hashes with CRC32 instead): one user, one
                   partition, one consumer, in order.

Retries: ``produce_errors`` Produce requests, at instants drawn from the seed, are
answered by the mock cluster with ``NOT_LEADER_FOR_PARTITION`` (the error a leader
election gives), and the producer retries them. Without idempotence
(``enable.idempotence=false``, confluent-kafka's default) and with several requests in
flight, a retried batch can land behind a later one; with ``idempotent=True`` the
producer numbers its batches and keeps them in order. Error injection needs the mock
cluster; against a real cluster ``produce_errors`` must be 0.

A live run is one history, not a seed's: the seed fixes the sends and when the errors
strike, not how the requests and the consumers interleave.
"""

from __future__ import annotations

import json
import time
from typing import Any

from ..errors import ConfigError
from ..params import check_choice, check_count, check_positive
from ..results import Report, RunResult
from ..scenarios.ordering import email_checks
from ..world import check_seed
from ._child import msg_id_of
from ._run import LiveRun, check_bootstrap

__all__ = ["DESIGNS", "ordering"]

DESIGNS: tuple[str, ...] = ("round_robin", "key")


def ordering(
    design: str,
    *,
    seed: int = 0,
    users: int = 60,
    updates: int = 4,
    partitions: int = 2,
    consumers: int = 2,
    idempotent: bool = False,
    max_in_flight: int = 5,
    produce_errors: int = 6,
    burst_rate: float = 0.15,
    update_gap: float = 3,
    processing_time: float = 2,
    max_time: float = 60_000,
    bootstrap_servers: str | None = None,
) -> RunResult:
    """Run ``users`` users changing their email ``updates`` times each; see the module docs.

    ``idempotent`` and ``max_in_flight`` are the producer's ``enable.idempotence`` and
    ``max.in.flight.requests.per.connection``; users start their bursts at
    ``burst_rate`` a ms, their changes ``update_gap`` ms apart on average; each change
    takes ``processing_time`` ms to apply.

    Report fields, as the simulator's: ``produced``, ``applied``, ``out_of_order``,
    ``stale_writes``, ``wrong_final``, ``lost``, ``duplicates``, ``retries`` (records the
    producer sent again, from librdkafka's statistics: ``txmsgs`` minus ``msgs``), ``produce_errors``
    (errors injected), ``latency_*`` (ms from send to applied), ``duration`` (ms) and
    ``drained``.
    """
    check_choice("design", design, DESIGNS)
    seed = check_seed(seed)
    users = check_count("users", users, 1, 10_000)
    updates = check_count("updates", updates, 1, 100)
    partitions = check_count("partitions", partitions, 1, 64)
    consumers = check_count("consumers", consumers, 1, 16)
    if not isinstance(idempotent, bool):
        raise ConfigError("idempotent", idempotent, "True or False (enable.idempotence)")
    max_in_flight = check_count("max_in_flight", max_in_flight, 1, 5 if idempotent else 1_000_000)
    produce_errors = check_count("produce_errors", produce_errors, 0, 1000)
    burst_rate = check_positive("burst_rate", burst_rate)
    update_gap = check_positive("update_gap", update_gap, allow_zero=True)
    processing_time = check_positive("processing_time", processing_time, allow_zero=True)
    max_time = check_positive("max_time", max_time)
    bootstrap_servers = check_bootstrap(bootstrap_servers)
    if bootstrap_servers is not None and produce_errors:
        raise ConfigError("produce_errors", produce_errors, "0 with bootstrap_servers (only the mock cluster "
                                                            "can be told to fail requests)")
    params: dict[str, Any] = dict(
        design=design, users=users, updates=updates, partitions=partitions, consumers=consumers,
        idempotent=idempotent, max_in_flight=max_in_flight, produce_errors=produce_errors,
        burst_rate=burst_rate, update_gap=update_gap, processing_time=processing_time, max_time=max_time,
        bootstrap_servers=bootstrap_servers)

    # the mock's group waits a second for both consumers, so the first assignment is the final one
    with LiveRun("ordering", seed, bootstrap_servers, rebalance_delay=1000) as run:
        topic = run.topic("user-updates", partitions)
        group = f"{run.prefix}.profiles"
        client = run.client(session_timeout_ms=6000, heartbeat_interval_ms=300)
        members = [run.start("consumer", f"consumer-{i}", design="after_processing", topic=topic, group=group,
                             client=client, processing_time=processing_time, max_poll_records=20,
                             effect="email_set") for i in range(consumers)]
        _wait_for_assignment(run, consumers, partitions, max_time)
        retries = _produce(run, topic, design, partitions, _sends(run, users, updates, burst_rate, update_gap),
                           idempotent, max_in_flight, produce_errors)
        drained = False
        while run.now() < max_time and not drained:
            time.sleep(0.1)
            drained = (all(run.status(m.component) == "idle" for m in members)
                       and all(v == 0 for v in run.committed(group, topic, partitions).values()))
        for member in members:
            member.stop()
        run.read_back(topic, partitions)
        world_trace = run.collect()

    trace = world_trace.to_frame()
    found, fields = email_checks(trace)  # the simulator's own checks, on what really happened
    fields.update(retries=retries, produce_errors=produce_errors, duration=float(trace["time"].max()),
                  drained=int(drained))
    return RunResult("live.ordering", seed, params, Report(**fields), found, {}, world_trace)


def _sends(run: LiveRun, users: int, updates: int, burst_rate: float, gap: float) -> list[tuple[float, int, int]]:
    """``(ms, user, n)`` for every change, in time order: bursts at a Poisson rate, changes ``gap`` ms apart."""
    arrivals, typing = run.world.rng("arrivals"), run.world.rng("typing")
    sends, t = [], 0.0
    for u in range(users):
        t += arrivals.expovariate(burst_rate)
        at = t
        for n in range(updates):
            if n:
                at += typing.expovariate(1 / gap) if gap > 0 else 0.0
            sends.append((at, u, n))
    return sorted(sends)


def _wait_for_assignment(run: LiveRun, consumers: int, partitions: int, max_time: float) -> None:
    """Wait until the group has settled: every partition assigned and every member given some (if it can be)."""
    while run.now() < max_time:
        latest: dict[str, str] = {}
        for row in run.rows():
            if row[2] == "assign":
                latest[row[1]] = row[8] or ""
        owned = [set(filter(None, d.split(","))) for d in latest.values()]
        busy = sum(1 for o in owned if o)
        if set().union(*owned) == {str(p) for p in range(partitions)} and busy == min(consumers, partitions):
            return
        time.sleep(0.05)
    raise RuntimeError("the consumer group never settled on an assignment")


def _produce(run: LiveRun, topic: str, design: str, partitions: int, sends: list[tuple[float, int, int]],
             idempotent: bool, max_in_flight: int, produce_errors: int) -> int:
    """Send the changes at their times, injecting Produce errors; returns the producer's retries."""
    from confluent_kafka import Producer

    stats: list[dict] = []
    conf = run.client(partitioner="murmur2_random", enable_idempotence=idempotent, linger_ms=2,
                      retry_backoff_ms=20, max_in_flight_requests_per_connection=max_in_flight,
                      statistics_interval_ms=100)
    conf["stats_cb"] = lambda s: stats.append(json.loads(s))
    producer = Producer(conf)
    horizon = sends[-1][0] if sends else 0.0
    rng = run.world.rng("broker/produce_errors")
    errors = sorted(rng.uniform(0, horizon) for _ in range(produce_errors))

    def delivered(err: Any, msg: Any) -> None:
        if err is not None:  # the producer gave up on the record and says so
            run.record("producer", "send_failed", topic, key=msg.key().decode(), msg_id=msg_id_of(msg),
                       detail=err.name())

    start = time.time()
    for k, (at, u, n) in enumerate(sends):
        wait = at / 1000.0 - (time.time() - start)
        if wait > 0:
            time.sleep(wait)
        while errors and errors[0] <= at:
            errors.pop(0)
            assert run.cluster is not None  # refused for real clusters in ordering()
            run.cluster.push_request_errors("Produce", "NOT_LEADER_FOR_PARTITION")
        extra = {"partition": k % partitions} if design == "round_robin" else {}
        run.record("producer", "send", topic, key=f"user-{u}", msg_id=f"user-{u}/v{n}")
        producer.produce(topic, value=f"user-{u}+v{n}@example.org", key=f"user-{u}",
                         headers={"msg_id": json.dumps(f"user-{u}/v{n}")}, on_delivery=delivered, **extra)
        producer.poll(0)
    if producer.flush(30):
        raise RuntimeError("the producer could not deliver every change in 30 s")
    stats.clear()
    deadline = time.time() + 5  # the next statistics callback (every 100 ms; later on a busy machine)
    while not stats and time.time() < deadline:
        producer.poll(0.05)
    # a record sent again is transmitted twice: librdkafka counts transmissions (txmsgs) and records (msgs)
    parts = stats[-1]["topics"][topic]["partitions"].values() if stats else ()
    return sum(max(0, int(p["txmsgs"]) - int(p["msgs"])) for p in parts if int(p["partition"]) >= 0)
