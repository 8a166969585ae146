"""The life of a consumer process: join, poll, hand over, commit; crash, restart; close.

:func:`life` is the SimPy process behind every :class:`~simkit.consumer.Consumer`. Each
*incarnation* (the process between two crashes) joins the group as a new member and
loops: take up a new assignment if a rebalance gave one, let the commit policy commit
if it is due, fetch, and hand the batch to the handler (or the worker pool). A crash
throws the incarnation away with everything it held in memory; the process comes back
``restart_delay`` ms later and joins again, reading from the group's committed offsets.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Generator

import simpy

from .commit_policies import CommitPolicy
from .errors import CommitFailed, Crash
from .processing import process

if TYPE_CHECKING:
    from .consumer import Consumer

__all__ = ["CLOSE_TIMEOUT", "life"]

#: how long close() keeps retrying its commit while the broker is down (the Java client's
#: KafkaConsumer.DEFAULT_CLOSE_TIMEOUT_MS)
CLOSE_TIMEOUT = 30_000


def life(consumer: Consumer, start: float) -> Generator[simpy.Event, Any, None]:
    """The process of ``consumer``, from ``start`` ms: incarnation after incarnation until it stops."""
    env = consumer.world.env
    if start:
        try:
            yield env.timeout(start)
        except simpy.Interrupt:  # stopped or closed before it started
            return
    while True:
        try:
            yield from _run(consumer)
            return
        except (Crash, simpy.Interrupt) as exc:
            cause = exc.cause if isinstance(exc, simpy.Interrupt) else exc
            _kill_helpers(consumer)
            if cause == "stop":
                consumer.group.leave(consumer.member_id, "closed")
                consumer.member_id = ""
                return
            point = cause.point if isinstance(cause, Crash) else str(cause)
            consumer.world.record(consumer.name, "crash", detail=point)
            consumer.group.member_crashed(consumer.member_id)
            _forget(consumer)
            consumer.step = "restart"
            try:
                yield env.timeout(consumer.restart_delay.sample(consumer.rng))
            except simpy.Interrupt:
                return
            if consumer.stopped or consumer.closing:
                consumer.stopped = True
                return
            consumer.world.record(consumer.name, "restart")


def _forget(consumer: Consumer) -> None:
    consumer.member_id = ""
    consumer.generation = -1
    consumer.subscription.clear()
    consumer.subscription.pending = None
    consumer.policy.reset()
    consumer.poll_wait = None
    if consumer.pool is not None:
        consumer.pool.reset()
    consumer.crash_plan.disarm()


def _kill_helpers(consumer: Consumer) -> None:
    active = consumer.world.env.active_process
    for child in consumer.helpers:
        if child.is_alive and child is not active:
            child.interrupt("stop")
    consumer.helpers = []


def _run(consumer: Consumer) -> Generator[simpy.Event, Any, None]:
    env = consumer.world.env
    consumer.incarnation += 1
    consumer.crashing = False
    consumer.member_id = f"{consumer.name}.{consumer.incarnation}"
    consumer.group.join(consumer.member_id, consumer, consumer.group_instance_id)
    policy = consumer.policy
    policy.start()
    if consumer.pool is not None:
        consumer.pool.start()
    subscription = consumer.subscription
    subscription.rotate = 0
    deadline: simpy.Process | None = None
    record = consumer.world.trace.record
    name = consumer.name
    # below, ``env._now`` is the attribute behind SimPy's ``now`` property: read for every record, a call saved
    # the policy's hooks that do something (the others are skipped: a call each per record adds up)
    processed_hook = type(policy).processed is not CommitPolicy.processed
    polled_hook = type(policy).polled is not CommitPolicy.polled
    before_poll_hook = type(policy).before_poll is not CommitPolicy.before_poll
    wake_at_hook = type(policy).wake_at is not CommitPolicy.wake_at
    group = consumer.group
    # the logs an empty poll waits on, made again only when the assignment (a new list each time) changes
    waits_for: list[Any] = []
    waits_on: list[Any] = []
    while True:
        consumer.step = "poll"
        consumer.last_poll = env._now
        if consumer.closing:
            yield from _close(consumer)
            return
        if consumer.member_id not in consumer.group.members:
            _rejoin_evicted(consumer)
        if group.rebalancing and group.must_rejoin(consumer.member_id):
            if not consumer.group.cooperative:
                _revoke(consumer)
            consumer.group.rejoin(consumer.member_id)
        if subscription.pending is not None:
            if consumer.group.cooperative:
                _adopt_incremental(consumer)
            else:
                consumer.generation = subscription.adopt(consumer.group)
            policy.keep(subscription.positions)
        if before_poll_hook:
            yield from policy.before_poll()
        batch = subscription.fetch(consumer.max_poll_records)
        if batch is None:  # broker down
            yield env.timeout(consumer.retry_backoff)
            continue
        if not batch:
            consumer.poll_wait = env.event()
            if waits_for is not subscription.assigned:
                waits_for = subscription.assigned
                topics = consumer.broker.topics
                waits_on = [topics[t][p] for t, p in waits_for]
            consumer.broker.wait_for_data(waits_on, consumer.poll_wait)
            wake_at = policy.wake_at() if wake_at_hook else None
            if wake_at is None:
                yield consumer.poll_wait
            else:
                yield env.any_of([consumer.poll_wait, env.timeout(max(0.0, wake_at - env.now))])
            consumer.poll_wait = None
            continue
        if not consumer.fetch_latency.is_zero:
            yield env.timeout(consumer.fetch_latency.sample(consumer.rng))
        record(env._now, name, "fetch", None, -1, -1, None, None, len(batch))
        if consumer.max_poll_interval is not None and (deadline is None or not deadline.is_alive):
            deadline = consumer.spawn(_poll_deadline(consumer, consumer.member_id, consumer.max_poll_interval))
        if polled_hook:
            policy.polled(batch)
        positions = subscription.positions
        for rec in batch:
            positions[(rec.topic, rec.partition)] = rec.offset + 1
        yield from policy.handed_over(batch)
        if consumer.pool is not None:
            consumer.pool.hand(batch)
            continue
        for rec in batch:
            consumer.step = "handler"
            yield from process(consumer, rec, processed_hook)


def _poll_deadline(consumer: Consumer, member_id: str, interval: float) -> Generator[simpy.Event, Any, None]:
    """Leave the group if the poll loop does not poll again within ``interval`` ms.

    Kafka's ``max.poll.interval.ms``: the client's heartbeat thread sends LeaveGroup
    when the application has not called ``poll()`` in time (``AbstractCoordinator``'s
    ``maybeLeaveGroup`` in Java, "Application maximum poll interval exceeded" in
    librdkafka). Its partitions move; the member goes on with the record in hand as a
    zombie, and its commits are refused. A poll waiting for records counts as polling.
    """
    env = consumer.world.env
    while consumer.member_id == member_id and consumer.poll_wait is None:
        due = consumer.last_poll + interval
        if env.now < due:
            yield env.timeout(due - env.now)
            continue
        consumer.group.leave(member_id, f"max_poll_interval: no poll for {interval:g} ms")
        return


def _rejoin_evicted(consumer: Consumer) -> None:
    """Rejoin as a new member after an eviction; the old generation's partitions are lost, not committed.

    As the Java client's next ``poll()`` after leaving on ``max.poll.interval.ms``: its
    member id and generation were reset, and ``onPartitionsLost`` commits nothing.
    """
    consumer.subscription.clear()
    consumer.subscription.pending = None
    consumer.policy.reset()
    consumer.generation = -1
    consumer.incarnation += 1
    consumer.member_id = f"{consumer.name}.{consumer.incarnation}"
    consumer.group.join(consumer.member_id, consumer, consumer.group_instance_id)


def _adopt_incremental(consumer: Consumer) -> None:
    """Take up a cooperative assignment: revoke only the partitions that moved away, then ask for round two.

    KIP-429, as the Java ``ConsumerCoordinator.onJoinComplete`` does with the COOPERATIVE
    protocol: the partitions owned and no longer assigned are revoked (auto-commit
    policies commit them first, under the new generation), the others keep their
    position, and if anything was revoked the member requests a rejoin so that the
    partitions it gave up can be assigned to their new owner.
    """
    subscription = consumer.subscription
    generation, parts = subscription.pending  # type: ignore[misc]
    lost = [tp for tp in subscription.assigned if tp not in parts]
    had_generation = consumer.generation >= 0
    consumer.generation = generation
    if lost and had_generation and not consumer.broker.down:
        revoked = {tp: off for tp, off in consumer.uncommitted(consumer.policy.on_revoke()).items() if tp in lost}
        if revoked:
            try:
                consumer.group.commit(consumer.member_id, generation, revoked)
            except CommitFailed:
                pass
    subscription.adopt(consumer.group, incremental=True)
    if lost:
        consumer.world.record(consumer.name, "revoke", detail=f"{lost}")
        consumer.group.rebalance()


def _close(consumer: Consumer) -> Generator[simpy.Event, Any, None]:
    """Commit what the policy's auto commit covers, stop the helpers and leave the group."""
    if consumer.generation >= 0:
        offsets = consumer.uncommitted(consumer.policy.on_close())
        yield from consumer.commit(offsets, wait=True, timeout=CLOSE_TIMEOUT)
    consumer.stopped = True
    _kill_helpers(consumer)
    if consumer.group_instance_id is None:
        consumer.group.leave(consumer.member_id, "closed")
    else:  # a static member sends no LeaveGroup (KIP-345): its session times out instead
        consumer.group.member_crashed(consumer.member_id)
    consumer.member_id = ""


def _revoke(consumer: Consumer) -> None:
    """Give up every partition before rejoining; auto-commit policies commit first.

    Both clients commit on revocation when auto commit is on (the Java client's
    ``onJoinPrepare``, librdkafka's commit of stored offsets on revoke); what each
    policy commits is its :meth:`~simkit.commit_policies.CommitPolicy.on_revoke`.
    """
    if consumer.generation >= 0 and not consumer.broker.down:
        offsets = consumer.uncommitted(consumer.policy.on_revoke())
        if offsets:
            try:
                consumer.group.commit(consumer.member_id, consumer.generation, offsets)
            except CommitFailed:
                pass
    if consumer.subscription.assigned:
        consumer.world.record(consumer.name, "revoke", detail=f"{consumer.subscription.assigned}")
    consumer.subscription.clear()
    consumer.policy.reset()
