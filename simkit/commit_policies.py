"""When a consumer says "done": its commit policy, one small class per policy.

A consumer's poll loop calls the same few hooks of its policy at the same moments
whatever the policy is (as SimPy's ``Store`` variants override one method each):

=================  ==================================================================
``start()``        a new incarnation of the consumer joined its group
``before_poll()``  the loop is about to fetch (a generator: it may commit)
``wake_at()``      while waiting for records: when to wake up to commit, or None
``polled(batch)``  a fetch returned ``batch``; positions have not moved yet
``handed_over()``  positions moved past ``batch`` (a generator: it may commit)
``processed(r)``   the handler finished record ``r`` (a generator: it may commit)
``on_revoke()``    the offsets to commit before giving up partitions in a rebalance
``on_close()``     the offsets to commit when the application closes the consumer
=================  ==================================================================

Every hook does nothing unless a policy overrides it, so each policy lives in one
class below, and a new policy is a new class added to :data:`POLICIES`. The policies,
each as a real client behaves:

``"auto"`` (librdkafka / confluent-kafka, ``enable.auto.commit=true`` with
    ``enable.auto.offset.store=true``): an offset is *stored* the moment its record is
    handed to the application, and a background timer commits the stored offsets every
    ``auto.commit.interval.ms`` whether or not the work is done. A crash after the timer
    fired and before the work was done loses those records.
``"auto_on_poll"`` (the Java ``KafkaConsumer``): auto commit happens inside ``poll()``
    once ``auto.commit.interval.ms`` has passed, and commits the position, that is the
    records returned by the *previous* polls. Safe while the application handles each
    batch before polling again; with a worker pool polling runs ahead of the work.
``"before_processing"``: commit the batch's offsets, then handle it (at most once).
``"after_processing"``: handle a record, then commit it synchronously (at least once).
``"store_offsets"`` (librdkafka's at-least-once idiom: ``enable.auto.commit=true`` with
    ``enable.auto.offset.store=false``): the application calls ``store_offsets()`` after
    the work is done, and the auto-commit timer commits what was stored. Nothing is
    lost; what was done but not yet committed by the timer comes again after a crash.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar, Generator, Iterable

import simpy

from .broker import Record
from .errors import ConfigError

if TYPE_CHECKING:
    from .consumer import Consumer

__all__ = [
    "AutoCommit",
    "AutoCommitOnPoll",
    "COMMIT_POLICIES",
    "CommitAfterProcessing",
    "CommitBeforeProcessing",
    "CommitPolicy",
    "POLICIES",
    "StoreOffsets",
    "resolve_policy",
]

TP = tuple[str, int]
#: what a hook returns for ``yield from``: a generator of SimPy steps, or an empty tuple for none
Steps = Generator[simpy.Event, Any, None] | tuple[()]


def _nothing() -> Steps:
    """A hook's steps when it has nothing to do: none (no SimPy event, no time passes).

    An empty tuple rather than an empty generator: ``yield from`` takes it as well, and the
    poll loop asks for these steps on every poll and every record.
    """
    return ()


def _next_offsets(records: Iterable[Record]) -> dict[TP, int]:
    """The offsets to commit after ``records``: Kafka commits the offset of the *next* record."""
    return {(r.topic, r.partition): r.offset + 1 for r in records}


class CommitPolicy:
    """When a consumer commits its offsets. Subclasses override the hooks they need.

    ``consumer`` is the :class:`~simkit.consumer.Consumer` the policy belongs to. A
    policy that keeps offsets of its own clears them in :meth:`reset` (a crash or a
    rebalance wipes a client's memory) and trims them in :meth:`keep`.
    """

    #: the name a learner passes as ``Consumer(commit=...)``
    name: ClassVar[str] = ""

    def __init__(self, consumer: "Consumer"):
        self.consumer = consumer

    def start(self) -> None:
        """A new incarnation joined its group."""

    def reset(self) -> None:
        """Forget every offset this policy remembers (a crash, or partitions revoked)."""

    def keep(self, owned: dict[TP, int]) -> None:
        """A rebalance assigned ``owned`` (partition -> starting position): drop the others."""

    def before_poll(self) -> Steps:
        """The poll loop is about to fetch."""
        return _nothing()

    def wake_at(self) -> float | None:
        """While the poll waits for records: the time (ms) to wake up and commit, or None."""
        return None

    def polled(self, batch: list[Record]) -> None:
        """A fetch returned ``batch``; the consumer's positions have not moved past it yet."""

    def handed_over(self, batch: list[Record]) -> Steps:
        """The consumer's positions moved past ``batch``; the handler has not run yet."""
        return _nothing()

    def processed(self, record: Record) -> Steps:
        """The handler finished ``record`` (successfully, or skipped by ``on_error``)."""
        return _nothing()

    def on_revoke(self) -> dict[TP, int]:
        """The offsets to commit before the partitions are given up in a rebalance."""
        return {}

    def on_close(self) -> dict[TP, int]:
        """The offsets to commit when the application closes the consumer cleanly."""
        return {}

    def store(self, offsets: dict[TP, int]) -> None:
        """The application stores offsets itself: only :class:`StoreOffsets` allows it."""
        raise ConfigError("commit", self.name, "'store_offsets' to call store_offsets() (librdkafka refuses "
                          "rd_kafka_offsets_store() while enable.auto.offset.store=true)")


class _TimerCommits(CommitPolicy):
    """A background timer commits the stored offsets every ``auto_commit_interval`` ms.

    librdkafka's ``rd_kafka_cgrp_offset_commit_tmr_cb`` commits the stored offsets on
    every ``auto.commit.interval.ms`` tick; the same stored offsets are committed when
    partitions are revoked and when the consumer closes (``rd_kafka_consumer_close``).
    """

    def __init__(self, consumer: "Consumer"):
        super().__init__(consumer)
        self.stored: dict[TP, int] = {}

    def start(self) -> None:
        self.consumer.spawn(self._timer())

    def reset(self) -> None:
        self.stored = {}

    def keep(self, owned: dict[TP, int]) -> None:
        self.stored = {tp: off for tp, off in self.stored.items() if tp in owned}

    def on_revoke(self) -> dict[TP, int]:
        return self.stored

    def on_close(self) -> dict[TP, int]:
        return self.stored

    def _timer(self) -> Steps:
        consumer = self.consumer
        env = consumer.world.env
        while True:
            yield env.timeout(consumer.auto_commit_interval)
            yield from consumer.commit(consumer.uncommitted(self.stored), wait=False)


class AutoCommit(_TimerCommits):
    """``"auto"``: librdkafka's default (``enable.auto.offset.store=true``): stored when handed over."""

    name = "auto"

    def handed_over(self, batch: list[Record]) -> Steps:
        self.stored.update(_next_offsets(batch))
        return _nothing()


class StoreOffsets(_TimerCommits):
    """``"store_offsets"``: the application stores each offset after its work; the timer commits.

    librdkafka with ``enable.auto.offset.store=false``: the application calls
    ``rd_kafka_offsets_store()`` (confluent-kafka's ``Consumer.store_offsets``) once the
    work is done, so only finished records are ever committed. A handler calls
    ``ctx.store_offsets(record)``. Offsets of partitions the consumer no longer owns are
    refused, as librdkafka 2.x does (``RD_KAFKA_RESP_ERR__STATE``).
    """

    name = "store_offsets"

    def store(self, offsets: dict[TP, int]) -> None:
        consumer = self.consumer
        for (topic, partition), off in offsets.items():
            if (topic, partition) not in consumer.positions:
                continue
            self.stored[(topic, partition)] = off
            consumer.world.record(consumer.name, "store_offset", topic=topic, partition=partition, offset=off)


class AutoCommitOnPoll(CommitPolicy):
    """``"auto_on_poll"``: the Java client's auto commit, done inside ``poll()``.

    ``ConsumerCoordinator.maybeAutoCommitOffsetsAsync`` runs at the start of ``poll()``
    once ``auto.commit.interval.ms`` has passed and commits ``subscriptions.allConsumed()``:
    the position, i.e. every record earlier polls returned. On ``close()`` the Java client
    commits the whole position too (``maybeAutoCommitOffsetsSync``), and so does this policy.

    On revocation this policy commits the position as it was *before* the latest poll's
    batch. The Java client's ``onJoinPrepare`` commits ``allConsumed()``, which also covers
    that batch; so after a rebalance simkit delivers up to one batch more again than Java
    does. It never loses more; the lessons' numbers were made with this behaviour.
    """

    name = "auto_on_poll"

    def __init__(self, consumer: "Consumer"):
        super().__init__(consumer)
        self.next_commit = 0.0
        self.polled_positions: dict[TP, int] = {}

    def start(self) -> None:
        consumer = self.consumer
        self.next_commit = consumer.world.env.now + consumer.auto_commit_interval

    def reset(self) -> None:
        self.polled_positions = {}

    def keep(self, owned: dict[TP, int]) -> None:
        self.polled_positions = dict(owned)

    def before_poll(self) -> Steps:
        consumer = self.consumer
        now = consumer.world.env.now
        if now < self.next_commit:
            return _nothing()
        self.next_commit = now + consumer.auto_commit_interval
        return consumer.commit(consumer.uncommitted(consumer.positions), wait=False)

    def wake_at(self) -> float | None:
        consumer = self.consumer
        return self.next_commit if consumer.uncommitted(consumer.positions) else None

    def polled(self, batch: list[Record]) -> None:
        self.polled_positions = dict(self.consumer.positions)

    def on_revoke(self) -> dict[TP, int]:
        return self.polled_positions

    def on_close(self) -> dict[TP, int]:
        return self.consumer.positions


class CommitBeforeProcessing(CommitPolicy):
    """``"before_processing"``: ``commitSync`` the whole batch right after ``poll()``, then work (at most once)."""

    name = "before_processing"

    def handed_over(self, batch: list[Record]) -> Steps:
        return self.consumer.commit(_next_offsets(batch), wait=True)


class CommitAfterProcessing(CommitPolicy):
    """``"after_processing"``: ``commitSync`` each record once its handler finished (at least once)."""

    name = "after_processing"

    def processed(self, record: Record) -> Steps:
        return self.consumer.commit(_next_offsets((record,)), wait=True)


#: name -> policy class; a new policy is a new class listed here
POLICIES: dict[str, type[CommitPolicy]] = {
    cls.name: cls for cls in (AutoCommit, AutoCommitOnPoll, CommitBeforeProcessing, CommitAfterProcessing,
                              StoreOffsets)
}
COMMIT_POLICIES: tuple[str, ...] = tuple(POLICIES)


def resolve_policy(spec: Any) -> type[CommitPolicy]:
    """The policy class for ``spec``: a name in :data:`COMMIT_POLICIES`, or a :class:`CommitPolicy` subclass.

    Anything else raises a ConfigError that lists the names.
    """
    if isinstance(spec, str) and spec in POLICIES:
        return POLICIES[spec]
    if isinstance(spec, type) and issubclass(spec, CommitPolicy) and spec is not CommitPolicy:
        return spec
    raise ConfigError("commit", spec, "one of " + ", ".join(repr(n) for n in COMMIT_POLICIES)
                      + ", or a CommitPolicy subclass")
