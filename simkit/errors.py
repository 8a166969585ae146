"""Errors simkit raises, and the failures a simulated client sees.

The tree::

    SimkitError                      base of everything simkit raises
    ├── ConfigError (+ ValueError)   a bad parameter, caught where it enters
    ├── ExerciseError                a learner's code raised, or never returned
    └── ClientError                  a failure a simulated client sees and handles
        ├── BrokerUnavailable        definite: the broker refused, nothing was written
        ├── RequestTimeout           indefinite: the request may or may not have happened
        ├── OutOfOrderSequence       definite: an idempotent batch arrived ahead of its turn
        ├── NotEnoughReplicas        definite: too few in-sync replicas for acks="all"; nothing written
        ├── NotEnoughReplicasAfterAppend  indefinite: written, but the in-sync set shrank meanwhile
        ├── NotLeaderOrFollower      indefinite: the leader lost leadership before it answered
        ├── CommitFailed             definite: a rebalance took the partition; the commit was refused
        ├── OffsetOutOfRange         a fetch position below the log start (deleted) or past the log end
        ├── DatabaseUnavailable      definite: the database refused, nothing was written
        └── TransactionConflict      definite: a serializable commit lost to a concurrent one, nothing written

``Crash`` is not an error a client handles: it is how a component stops at one of
its crash points, and the component's supervisor catches it.

A *definite* failure means the operation certainly did not take effect; an
*indefinite* one (a timeout) means it may have. The difference is the whole story
of duplicates: a retry after an indefinite failure can repeat what already happened.
"""

from __future__ import annotations

from typing import Any, Iterable

__all__ = [
    "BrokerUnavailable",
    "ClientError",
    "CommitFailed",
    "ConfigError",
    "Crash",
    "DatabaseUnavailable",
    "ExerciseError",
    "NotEnoughReplicas",
    "NotEnoughReplicasAfterAppend",
    "NotLeaderOrFollower",
    "OffsetOutOfRange",
    "OutOfOrderSequence",
    "RequestTimeout",
    "SimkitError",
    "TransactionConflict",
]


class SimkitError(Exception):
    """Base class of every error simkit raises."""


class ConfigError(SimkitError, ValueError):
    """A parameter is out of range or unknown.

    The message names the parameter, the value given and what is allowed, so a
    learner can fix the call without reading simkit's code. It survives being raised
    inside a SimPy process and being pickled: both rebuild it from its arguments.
    """

    def __init__(self, param: str, value: Any, allowed: str | Iterable[Any]):
        if not isinstance(allowed, str):
            allowed = "one of " + ", ".join(repr(a) for a in allowed)
        self.param = param
        self.value = value
        self.allowed = allowed
        # The args are the constructor's own arguments, so ``type(err)(*err.args)`` (how SimPy
        # copies an exception raised inside a process) and pickling (process pools) rebuild it.
        super().__init__(param, value, allowed)

    def __str__(self) -> str:
        return f"{self.param}={self.value!r} is not allowed: expected {self.allowed}"


class ExerciseError(SimkitError):
    """A learner's handler or exercise code raised, or ran past its time limit."""


class ClientError(SimkitError):
    """A failure a simulated client sees. ``definite`` says whether it surely did not happen."""

    definite: bool = True


class BrokerUnavailable(ClientError):
    """The broker is down: the request was refused and nothing was written (definite)."""

    definite = True


class RequestTimeout(ClientError):
    """No answer within the request timeout: the request may or may not have taken effect (indefinite)."""

    definite = False


class OutOfOrderSequence(ClientError):
    """An idempotent producer's batch arrived before an earlier one (Kafka's OUT_OF_ORDER_SEQUENCE_NUMBER).

    The broker refuses it without writing; the producer sends it again after the
    batches ahead of it, which is how idempotence keeps order across retries.
    """

    definite = True


class ProducerFenced(ClientError):
    """A newer producer with the same ``transactional_id`` called ``init_transactions``: this one is a
    zombie (Kafka's ``ProducerFencedException``, KIP-98). Its writes, offsets and commit are refused."""

    definite = True


class NotEnoughReplicas(ClientError):
    """Fewer in-sync replicas than ``min_insync_replicas``: an ``acks="all"`` write is refused (definite).

    Kafka's ``NOT_ENOUGH_REPLICAS`` (``NotEnoughReplicasException``, retriable): the
    leader checks the in-sync set before it appends, so nothing was written.
    """

    definite = True


class NotEnoughReplicasAfterAppend(ClientError):
    """The leader wrote the batch, then the in-sync set shrank below ``min_insync_replicas`` (indefinite).

    Kafka's ``NOT_ENOUGH_REPLICAS_AFTER_APPEND``: the record is in the log, so a retry
    can write it twice unless the producer is idempotent.
    """

    definite = False


class NotLeaderOrFollower(ClientError):
    """The broker stopped leading the partition before it answered (indefinite).

    Kafka's ``NOT_LEADER_OR_FOLLOWER`` (KIP-599): the batch may be on the new leader
    already, so a retry can write it twice unless the producer is idempotent.
    """

    definite = False


class CommitFailed(ClientError):
    """The group rebalanced since this member's poll: its commit is refused (Kafka's CommitFailedException).

    The partition now belongs to another member, which will read again from the last
    committed offset, so the records this member processed are processed twice.
    """

    definite = True


class OffsetOutOfRange(ClientError):
    """A fetch asked for an offset the partition does not have: below its log start, or past its end.

    Kafka's ``OFFSET_OUT_OF_RANGE`` error, and the Java client's ``OffsetOutOfRangeException``,
    which ``poll()`` throws when ``auto.offset.reset=none``. Retention deleting records a
    lagging consumer had not read yet is the usual cause.
    """

    def __init__(self, topic: str, partition: int, offset: int, start: int, end: int, reason: str = ""):
        self.topic, self.partition, self.offset, self.start, self.end = topic, partition, offset, start, end
        self.reason = reason or ("deleted by retention" if offset < start else "past the log end")
        super().__init__(topic, partition, offset, start, end, self.reason)  # SimPy rebuilds it from its args

    def __str__(self) -> str:
        asked = "no offset" if self.offset < 0 else f"offset {self.offset}"
        return (f"{asked} of {self.topic}[{self.partition}] to read from ({self.reason}): "
                f"log start {self.start}, log end {self.end}")


class DatabaseUnavailable(ClientError):
    """The database is down: the transaction was refused and nothing was written (definite)."""

    definite = True


class TransactionConflict(ClientError):
    """A ``serializable`` transaction's commit was refused: a key it read or wrote changed since (definite).

    The database's optimistic check (see :class:`simkit.database.Database`): a concurrent
    transaction committed first, so this one's reads may be stale; nothing of it was
    written. PostgreSQL's ``SERIALIZABLE`` answers the same pattern with SQLSTATE 40001,
    ``could not serialize access due to concurrent update``; the client retries the whole
    transaction, which then reads the winner's writes.
    """

    definite = True


class Crash(Exception):
    """Raised inside a component's process when it crashes at a named crash point.

    Deliberately not a :class:`SimkitError`: handlers must not catch it, and the
    component's supervisor turns it into a crash row in the trace and a restart.
    """

    def __init__(self, component: str, point: str):
        self.component = component
        self.point = point
        super().__init__(component, point)

    def __str__(self) -> str:
        return f"{self.component} crashed at {self.point!r}"
