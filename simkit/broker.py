"""The broker: topics made of partitions, each an append-only log with offsets.

What follows Kafka:

* A partition is an ordered, append-only log; each record gets the next offset.
  Order holds inside a partition and nowhere else.
* A fetch reads from an offset; a consumer that finds nothing waits until a record
  arrives (``fetch.min.bytes=1``: a fetch returns as soon as one record is there).
* Idempotent producers: the broker keeps, per producer and partition, the sequence
  number of the last batch it wrote. A batch whose sequence it already has is a
  retry of something written: it is acknowledged and not written again. A batch
  that skips ahead is refused with ``OUT_OF_ORDER_SEQUENCE_NUMBER`` (Kafka's
  ``ProducerStateManager``), so a retry can never reorder.
* While the broker is down (an outage window), produce, fetch and commit requests
  fail with :class:`~simkit.errors.BrokerUnavailable`, a definite error.
* Segments (the topic config ``segment.ms``, Kafka's default 604800000 ms, 7 days): a
  partition's log is a run of segments, and the last one, the *active* segment, takes
  the appends. A batch whose newest timestamp is more than ``segment_ms`` after the
  active segment's first batch rolls a new segment first (Kafka's ``LogSegment.shouldRoll``,
  with ``segment.jitter.ms`` 0; simkit has no record sizes, so no ``segment.bytes``).
* Retention (the topic config ``retention.ms``, Kafka's default 604800000 ms, 7 days):
  a cleaner runs every ``retention_check_interval`` ms (``log.retention.check.interval.ms``,
  default 300000) and deletes *whole segments*, oldest first, whose newest record's
  timestamp is more than ``retention_ms`` old, stopping at the first one that is not
  (``UnifiedLog.deleteRetentionMsBreachedSegments``). A record lives until its segment's
  newest record is old enough: with the default ``segment.ms`` and records arriving all
  the time, a short ``retention.ms`` deletes nothing, because the active segment keeps
  getting younger. The active segment goes too once every record in it is old enough
  (Kafka rolls a new, empty one first). See the topic configs ``retention.ms`` and
  ``segment.ms`` (https://kafka.apache.org/documentation/#topicconfigs). Deletion moves
  the partition's *log start offset* to a segment's first offset; offsets are never
  reused. A fetch below the log start or above the log end fails with
  :class:`~simkit.errors.OffsetOutOfRange`, and the consumer resets as its
  ``auto_offset_reset`` says. The default 7 days is longer than any simkit run, so
  without ``retention_ms=`` nothing is ever scheduled.

One broker holds every partition (no replication): with it, ``acks=1`` and
``acks="all"`` behave the same, and an outage stops the whole cluster, which is the
single point of failure the lessons talk about. :mod:`simkit.replication` has brokers
with replicas, where they differ.
"""

from __future__ import annotations

import math
from array import array
from typing import Any, Iterable, Iterator, NamedTuple, Sequence

import simpy

from .errors import BrokerUnavailable, ConfigError, OffsetOutOfRange, OutOfOrderSequence, ProducerFenced
from .faults import window
from .params import MAX_MS, check_ms
from .trace import NO_ID, IdColumn, spans
from .world import World

__all__ = ["DEFAULT_RETENTION_MS", "DEFAULT_SEGMENT_MS", "RETENTION_CHECK_INTERVAL", "Broker", "PartitionLog",
           "Record"]

#: Kafka's ``retention.ms`` default: 7 days
DEFAULT_RETENTION_MS = 604_800_000.0
#: Kafka's ``segment.ms`` default (``log.roll.hours=168``): 7 days
DEFAULT_SEGMENT_MS = 604_800_000.0
#: Kafka's ``log.retention.check.interval.ms`` default: 5 minutes
RETENTION_CHECK_INTERVAL = 300_000.0


class Record(NamedTuple):
    """A record as stored in a partition log and handed to a consumer."""

    topic: str
    partition: int
    offset: int
    key: Any
    value: Any
    msg_id: Any
    #: when the application handed the record to its producer (Kafka's CreateTime), ms
    timestamp: float
    #: when the broker wrote it, ms
    appended_at: float


class PartitionLog:
    """One partition: an append-only log. The offset of a record is its position in it.

    The log is kept column by column (a million records cost tens of megabytes, not
    hundreds); :attr:`records` and :meth:`read` hand out :class:`Record` tuples.
    """

    __slots__ = ("topic", "partition", "retention_ms", "segment_ms", "start_offset", "_keys", "_values", "_ids",
                 "_stamps", "_appended", "_waiters", "control", "aborted", "open_txns", "_seg_base", "_seg_newest",
                 "_seg_first", "_roll_ts")

    def __init__(self, topic: str, partition: int, retention_ms: float = DEFAULT_RETENTION_MS,
                 segment_ms: float = DEFAULT_SEGMENT_MS):
        self.topic = topic
        self.partition = partition
        #: the topic's ``retention.ms``
        self.retention_ms = retention_ms
        #: the topic's ``segment.ms``: how long a segment takes appends before the log rolls a new one
        self.segment_ms = segment_ms
        # the segments, kept only where retention can delete within a run (elsewhere nothing reads them):
        # each one's first offset and newest timestamp, the first not deleted, and the active one's
        # rolling timestamp (its first batch's newest)
        self._seg_base: array | None = array("q") if retention_ms <= MAX_MS else None
        self._seg_newest = array("d")
        self._seg_first = 0
        self._roll_ts = 0.0
        #: the first offset still in the log (Kafka's log start offset); retention moves it
        self.start_offset = 0
        self._keys: list[Any] = []
        self._values: list[Any] = []
        self._ids = IdColumn()
        self._stamps = array("d")
        self._appended = array("d")
        self._waiters: list[simpy.Event] = []
        #: offset -> "commit" or "abort": the transaction markers (control records, KIP-98)
        self.control: dict[int, str] = {}
        #: offsets of records whose transaction aborted
        self.aborted: set[int] = set()
        #: transactional id -> (first offset, offsets) of each transaction still open here
        self.open_txns: dict[str, tuple[int, list[int]]] = {}

    @property
    def last_stable_offset(self) -> int:
        """The first offset of the earliest open transaction, else the end (Kafka's LSO, KIP-98).

        A ``read_committed`` consumer reads no further than this.
        """
        if not self.open_txns:
            return self.end_offset
        return min(first for first, _ in self.open_txns.values())

    def read_visible(self, offset: int, max_records: int, read_committed: bool) -> tuple[list[Record], int]:
        """What a consumer gets from ``offset``: records, and the offset to fetch from next.

        Control records never reach the application. ``read_committed`` stops at the
        last stable offset and skips records of aborted transactions (KIP-98).
        """
        if not self.control and not self.open_txns:  # no transaction ever wrote here: the plain read
            got = self.read(offset, max_records)
            return got, offset + len(got)
        end = self.last_stable_offset if read_committed else self.end_offset
        out: list[Record] = []
        pos = offset
        while pos < end and len(out) < max_records:
            chunk = self.read(pos, min(max_records - len(out), end - pos))
            for rec in chunk:
                o = rec.offset
                if o in self.control or (read_committed and o in self.aborted):
                    continue
                out.append(rec)
            pos += len(chunk)
        return out, pos

    @property
    def end_offset(self) -> int:
        """The offset the next record will get (Kafka's log end offset)."""
        return len(self._stamps)

    @property
    def records(self) -> Sequence[Record]:
        """Every record the partition was given, in offset order (a read-only view).

        It includes records retention has deleted (below :attr:`start_offset`): the view is
        the simulation's memory, not what a consumer can fetch."""
        return _Records(self)

    def append(self, records: Sequence[tuple[Any, Any, Any, float]], now: float) -> int:
        """Write ``(key, value, msg_id, timestamp)`` records at the end; return the first one's offset."""
        base = len(self._stamps)
        ids = self._ids
        for key, value, msg_id, ts in records:
            self._keys.append(key)
            self._values.append(value)
            if ids.ints and type(msg_id) is int and NO_ID < msg_id < 2**63:
                ids.append(msg_id)
            else:
                ids.add(msg_id)
            self._stamps.append(ts)
            self._appended.append(now)
        if self._seg_base is not None and records:
            self._add_to_segment(base, max(r[3] for r in records))
        return base

    def _add_to_segment(self, base: int, newest: float) -> None:
        """Put the batch at ``base`` in the active segment, rolling a new one first if ``segment_ms`` says so."""
        bases, stamps = self._seg_base, self._seg_newest
        assert bases is not None
        # no live segment (none yet, or retention deleted them all), or the active one is too old: roll
        if self._seg_first == len(bases) or newest - self._roll_ts > self.segment_ms:
            bases.append(base)
            stamps.append(newest)
            self._roll_ts = newest
        elif newest > stamps[-1]:
            stamps[-1] = newest

    @property
    def segments(self) -> list[tuple[int, int]]:
        """The segments still in the log, as ``(first offset, end offset)``; empty where nothing is retained."""
        bases = self._seg_base
        if bases is None:
            return []
        ends = list(bases[self._seg_first + 1:]) + [self.end_offset]
        return list(zip(bases[self._seg_first:], ends))

    def read(self, offset: int, max_records: int) -> list[Record]:
        """The records from ``offset`` on, at most ``max_records``."""
        end = min(offset + max_records, len(self._stamps))
        if offset >= end:
            return []
        topic, partition = self.topic, self.partition
        make = tuple.__new__  # what Record(...) calls, without its Python-level wrapper: a read is hot
        if end == offset + 1:  # one record (a consumer that keeps up): no column slices
            return [make(Record, (topic, partition, offset, self._keys[offset], self._values[offset],
                                  self._ids[offset], self._stamps[offset], self._appended[offset]))]
        return [make(Record, (topic, partition, o, k, v, m, ts, at)) for o, k, v, m, ts, at in zip(
            range(offset, end), self._keys[offset:end], self._values[offset:end], self._ids[offset:end],
            self._stamps[offset:end], self._appended[offset:end])]

    def offset_for_time(self, timestamp: float) -> int:
        """The first offset still in the log whose timestamp is >= ``timestamp`` (Kafka's ``offsetsForTimes``), else the end."""
        stamps = self._stamps
        for offset in range(self.start_offset, len(stamps)):
            if stamps[offset] >= timestamp:
                return offset
        return self.end_offset

    def expire(self, now: float) -> int:
        """Delete from the start the segments whose newest record is more than ``retention_ms`` old; the new log start.

        As Kafka's ``deleteRetentionMsBreachedSegments``: whole segments, oldest first, stopping
        at the first that is not old enough, so a young record holds back its whole segment
        and every segment after it.
        """
        bases, newest = self._seg_base, self._seg_newest
        if bases is None:
            return self.start_offset
        i, start, limit = self._seg_first, self.start_offset, self.retention_ms
        while i < len(bases) and now - newest[i] > limit:
            upper = bases[i + 1] if i + 1 < len(bases) else len(self._stamps)
            for offset in range(start, upper):
                self._values[offset] = None  # the value is gone; keys, ids and times stay for the trace's sake
            start, i = upper, i + 1
        self._seg_first, self.start_offset = i, start
        return start

    def expires_at(self) -> float | None:
        """When the oldest segment still in the log becomes old enough to delete, None if there is none.

        The active segment's newest record may still get younger: the cleaner looks again then.
        """
        if self._seg_base is None or self._seg_first >= len(self._seg_base):
            return None
        return self._seg_newest[self._seg_first] + self.retention_ms


class _Records(Sequence[Record]):
    """A read-only view of a partition log as a sequence of :class:`Record`."""

    __slots__ = ("_log",)

    def __init__(self, log: PartitionLog):
        self._log = log

    def __len__(self) -> int:
        return self._log.end_offset

    def __getitem__(self, i: Any) -> Any:
        n = len(self)
        if isinstance(i, slice):
            start, stop, step = i.indices(n)
            if step == 1:
                return self._log.read(start, max(stop - start, 0))
            return [self[j] for j in range(start, stop, step)]
        if i < 0:
            i += n
        if not 0 <= i < n:
            raise IndexError("offset out of range")
        return self._log.read(i, 1)[0]

    def __iter__(self) -> Iterator[Record]:
        return iter(self._log.read(0, len(self)))


class Broker:
    """A single Kafka-like broker with topics, partition logs, consumer-group offsets and outages."""

    def __init__(self, world: World, name: str = "broker", *,
                 retention_check_interval: float = RETENTION_CHECK_INTERVAL):
        self.world = world
        #: ``log.retention.check.interval.ms``: how often the retention cleaner runs
        self.retention_check_interval = check_ms("retention_check_interval", retention_check_interval,
                                                 allow_low=False)
        #: the logs whose retention can delete something within a run, and the cleaner's next run (ms)
        self._retained: list[PartitionLog] = []
        self._clean_at: float | None = None
        self.name = world.claim_name(name)
        self.topics: dict[str, list[PartitionLog]] = {}
        self.down = False
        self._down_windows = 0
        self.outages: list[tuple[float, float]] = []
        self._seq: dict[tuple[str, str, int], int] = {}
        self.groups: dict[str, Any] = {}
        #: the transaction coordinator's state: transactional id -> current producer epoch
        self.txn_epochs: dict[str, int] = {}
        #: offsets sent in each open transaction: transactional id -> group -> offsets
        self.txn_offsets: dict[str, dict[str, dict[tuple[str, int], int]]] = {}

    # -- topics -------------------------------------------------------------------------
    def create_topic(self, topic: str, partitions: int = 1, *,
                     retention_ms: float | None = None, segment_ms: float | None = None) -> list[PartitionLog]:
        """Create ``topic`` with ``partitions`` partitions (>= 1).

        ``retention_ms`` is the topic's ``retention.ms`` (ms > 0; None is Kafka's default,
        :data:`DEFAULT_RETENTION_MS`, 7 days). A retention longer than the longest run
        (:data:`~simkit.params.MAX_MS`) never deletes anything, and costs nothing.
        ``segment_ms`` is its ``segment.ms`` (ms >= 1; None is Kafka's default,
        :data:`DEFAULT_SEGMENT_MS`, 7 days): retention deletes whole segments, so a short
        ``retention_ms`` needs a short ``segment_ms`` to delete while records keep coming.
        """
        if not isinstance(topic, str) or not topic:
            raise ConfigError("topic", topic, "a non-empty string")
        if isinstance(partitions, bool) or not isinstance(partitions, int) or partitions < 1:
            raise ConfigError("partitions", partitions, "an int >= 1")
        if topic in self.topics:
            raise ConfigError("topic", topic, "a topic name not created yet")
        retention = DEFAULT_RETENTION_MS if retention_ms is None else check_ms(
            "retention_ms", retention_ms, high=DEFAULT_RETENTION_MS * 52, allow_low=False)
        segment = DEFAULT_SEGMENT_MS if segment_ms is None else check_ms(
            "segment_ms", segment_ms, low=1, high=DEFAULT_SEGMENT_MS * 52)
        self.topics[topic] = [PartitionLog(topic, p, retention, segment) for p in range(partitions)]
        if retention <= MAX_MS:
            self._retained.extend(self.topics[topic])
        return self.topics[topic]

    def log_start_offsets(self, topic: str) -> list[int]:
        """The log start offset of every partition of ``topic`` (retention moves them)."""
        return [log.start_offset for log in self.log_of(topic)]

    # -- retention ------------------------------------------------------------------------
    def _schedule_cleaner(self, due: float) -> None:
        """Run the cleaner at the first check after ``due`` (a record there becomes deletable)."""
        interval = self.retention_check_interval
        at = (math.floor(due / interval) + 1) * interval  # strictly later: a record must be *more* than retention old
        if self._clean_at is not None and self._clean_at <= at:
            return
        self._clean_at = at
        env = self.world.env
        env.timeout(max(0.0, at - env.now)).callbacks.append(lambda _ev, at=at: self._clean(at))

    def _clean(self, at: float) -> None:
        """One run of the retention cleaner: a ``retention_deleted`` row per partition whose log start moved."""
        if self._clean_at != at:
            return  # superseded by an earlier run
        self._clean_at = None
        now = self.world.env.now
        due = None
        for log in self._retained:
            before = log.start_offset
            after = log.expire(now)
            if after != before:
                self.world.record(self.name, "retention_deleted", topic=log.topic, partition=log.partition,
                                  offset=after, detail=f"log start {before} -> {after} "
                                                       f"(retention.ms={log.retention_ms:g})")
            nxt = log.expires_at()
            if nxt is not None and (due is None or nxt < due):
                due = nxt
        if due is not None:
            self._schedule_cleaner(max(due, now))

    def partitions(self, topic: str) -> int:
        """How many partitions ``topic`` has."""
        return len(self.log_of(topic))

    def log_of(self, topic: str, partition: int | None = None) -> Any:
        try:
            logs = self.topics[topic]
        except KeyError:
            raise ConfigError("topic", topic, sorted(self.topics) or "a topic created first") from None
        if partition is None:
            return logs
        if not 0 <= partition < len(logs):
            raise ConfigError("partition", partition, f"0..{len(logs) - 1} for topic {topic!r}")
        return logs[partition]

    def end_offsets(self, topic: str) -> list[int]:
        """The log end offset of every partition of ``topic``."""
        return [log.end_offset for log in self.log_of(topic)]

    # -- availability -------------------------------------------------------------------
    def outage(self, start: float, duration: float) -> None:
        """Make the broker unavailable from ``start`` for ``duration`` ms (finite numbers)."""
        for param, value in (("start", start), ("duration", duration)):
            if isinstance(value, float) and not math.isfinite(value):
                raise ConfigError(param, value, "a finite number of ms")
        def down() -> None:
            self._down_windows += 1
            if self._down_windows == 1:  # overlapping windows: down from the first start to the last end
                self.down = True
                self.world.record(self.name, "broker_down")

        def up() -> None:
            self._down_windows -= 1
            if self._down_windows == 0:
                self.down = False
                self.world.record(self.name, "broker_up")
                self._wake_all()

        self.outages.append(window(self.world, start, duration, down, up))

    def check_up(self, what: str) -> None:
        """Raise :class:`~simkit.errors.BrokerUnavailable` naming ``what`` if the broker is down."""
        if self.down:
            raise BrokerUnavailable(f"{self.name} is down: {what} refused")

    # -- produce ------------------------------------------------------------------------
    def produce(
        self,
        producer_id: str,
        topic: str,
        partition: int,
        records: Sequence[tuple[Any, Any, Any, float]],
        base_seq: int | None = None,
        acks: int | str = 1,
        transaction: tuple[str, int] | None = None,
    ) -> int:
        """Append a batch of ``(key, value, msg_id, timestamp)``; return the base offset.

        ``acks`` changes nothing here: one broker has no followers to wait for, so ``1``
        and ``"all"`` are answered alike (:class:`~simkit.replication.Cluster` tells them apart).

        With ``base_seq`` (an idempotent producer) the broker checks the sequence:
        a batch already written is acknowledged and dropped (the returned offset is
        -1), a batch that skips ahead raises :class:`OutOfOrderSequence`.
        """
        world = self.world
        if self.down:
            world.record(self.name, "rejected", topic=topic, partition=partition, detail="broker down")
            raise BrokerUnavailable(f"{self.name} is down: produce refused")
        try:
            log = self.topics[topic][partition]
        except (KeyError, IndexError):
            log = self.log_of(topic, partition)  # raises the ConfigError that names the problem
        if transaction is not None:
            self.check_epoch(*transaction)
        if base_seq is not None:
            state = (producer_id, topic, partition)
            last = self._seq.get(state, -1)
            if base_seq <= last:
                for key, _value, msg_id, _ts in records:
                    world.record(self.name, "duplicate_dropped", topic=topic, partition=partition,
                                 key=key, msg_id=msg_id, detail=f"seq {base_seq} <= {last}")
                return -1
            if base_seq != last + 1:
                world.record(self.name, "rejected", topic=topic, partition=partition,
                             detail=f"out of order sequence {base_seq}, expected {last + 1}")
                raise OutOfOrderSequence(f"batch sequence {base_seq} arrived before {last + 1}")
            self._seq[state] = base_seq + len(records) - 1
        now = world.env._now  # the attribute behind SimPy's now property: a produce is hot
        base = log.append(records, now)
        if self._retained and log.retention_ms <= MAX_MS:
            due = records[0][3] + log.retention_ms
            if self._clean_at is None or self._clean_at > due:  # else the next run is early enough already
                self._schedule_cleaner(due)
        trace = world.trace.record
        name = self.name
        for i, (key, _value, msg_id, _ts) in enumerate(records):
            trace(now, name, "append", topic, partition, base + i, key, msg_id)
        if transaction is not None:
            self.append_transactional(transaction[0], log, base, len(records))
        if log._waiters:
            self._wake(log)
        return base

    # -- transactions (KIP-98) ------------------------------------------------------------
    def init_transactions(self, transactional_id: str) -> int:
        """Start a new epoch for ``transactional_id``: abort its open transaction and fence older
        producers with that id (``InitProducerId``, KIP-98); return the new epoch."""
        self.check_up("init transactions")
        self.end_transaction(transactional_id, commit=False)
        self.txn_offsets.pop(transactional_id, None)
        epoch = self.txn_epochs.get(transactional_id, -1) + 1
        self.txn_epochs[transactional_id] = epoch
        return epoch

    def check_epoch(self, transactional_id: str, epoch: int) -> None:
        """Raise :class:`~simkit.errors.ProducerFenced` if a newer producer took ``transactional_id``."""
        if self.txn_epochs.get(transactional_id) != epoch:
            self.world.record(self.name, "rejected", detail=f"{transactional_id} epoch {epoch} is fenced")
            raise ProducerFenced(f"{transactional_id} epoch {epoch} was fenced by a newer producer")

    def add_offsets(self, transactional_id: str, epoch: int, group: str, offsets: dict[tuple[str, int], int],
                    member: tuple[str, int] | None = None) -> None:
        """Hold consumer offsets in the open transaction; they reach the group only if it commits (KIP-98).

        ``member`` is ``(member_id, generation)`` from the consumer's group metadata: the group
        coordinator refuses the offsets with :class:`~simkit.errors.CommitFailed` if that
        generation is stale (``TxnOffsetCommit`` answering ILLEGAL_GENERATION, KIP-447).
        """
        self.check_up("send offsets to transaction")
        self.check_epoch(transactional_id, epoch)
        if member is not None and group in self.groups:
            self.groups[group].check_generation(member[0], member[1], offsets)
        self.txn_offsets.setdefault(transactional_id, {}).setdefault(group, {}).update(offsets)

    def finish_transaction(self, transactional_id: str, epoch: int, commit: bool) -> None:
        """``EndTxn``: check the epoch, write the markers and, on commit, commit the offsets held."""
        self.check_up("end transaction")
        self.check_epoch(transactional_id, epoch)
        self.end_transaction(transactional_id, commit)
        held = self.txn_offsets.pop(transactional_id, {})
        if not commit:
            return
        now = self.world.env.now
        for group_id, offsets in held.items():
            group = self.groups.get(group_id)
            if group is None:
                continue
            for (topic, partition), off in offsets.items():
                group.committed[(topic, partition)] = off
                self.world.trace.record(now, transactional_id, "commit", topic, partition, off, detail=group_id)

    def append_transactional(self, transactional_id: str, log: PartitionLog, base: int, n: int) -> None:
        """Mark ``n`` records written at ``base`` of ``log`` as part of ``transactional_id``'s open transaction."""
        log.open_txns.setdefault(transactional_id, (base, []))[1].extend(range(base, base + n))

    def end_transaction(self, transactional_id: str, commit: bool) -> None:
        """Write a commit or abort marker (a control record that takes an offset) to every partition
        ``transactional_id``'s open transaction wrote to, and close it there.

        The marker's trace row names the transaction's records there (detail
        ``"<transactional id>: <n> records at <offsets>"``, offsets as :func:`spans`), so a
        checker can tell from the trace alone which records an abort voided."""
        world = self.world
        kind = "commit" if commit else "abort"
        now = world.env.now
        for topic, logs in self.topics.items():
            for log in logs:
                txn = log.open_txns.pop(transactional_id, None)
                if txn is None:
                    continue
                if not commit:
                    log.aborted.update(txn[1])
                offset = log.append([(None, kind, None, now)], now)
                log.control[offset] = kind
                world.trace.record(now, self.name, "txn_" + kind, topic, log.partition, offset,
                                   detail=f"{transactional_id}: {len(txn[1])} records at {spans(txn[1])}")
                if log._waiters:
                    self._wake(log)

    # -- fetch --------------------------------------------------------------------------
    def fetch(self, topic: str, partition: int, offset: int, max_records: int) -> list[Record]:
        """Records of one partition from ``offset``, at most ``max_records``.

        An offset below the log start (deleted by retention) or above the log end raises
        :class:`~simkit.errors.OffsetOutOfRange` (Kafka's ``OFFSET_OUT_OF_RANGE`` error).
        """
        if self.down:
            raise BrokerUnavailable(f"{self.name} is down: fetch refused")
        log = self.topics[topic][partition]
        if offset < log.start_offset or offset > len(log._stamps):
            raise OffsetOutOfRange(topic, partition, offset, log.start_offset, log.end_offset)
        return log.read(offset, max_records)

    def fetch_visible(self, topic: str, partition: int, offset: int, max_records: int,
                      read_committed: bool) -> tuple[list[Record], int]:
        """As :meth:`fetch`, for a consumer: without control records, and with ``read_committed``
        only up to the last stable offset and without aborted records; also the next offset to fetch."""
        if self.down:
            raise BrokerUnavailable(f"{self.name} is down: fetch refused")
        log = self.topics[topic][partition]
        if offset < log.start_offset or offset > len(log._stamps):
            raise OffsetOutOfRange(topic, partition, offset, log.start_offset, log.end_offset)
        if not log.control and not log.open_txns:  # no transaction ever wrote here: the plain read
            got = log.read(offset, max_records)
            return got, offset + len(got)
        return log.read_visible(offset, max_records, read_committed)

    def wait_for_data(self, logs: Iterable[PartitionLog], event: simpy.Event) -> None:
        """Succeed ``event`` at the next append to any of ``logs`` (or when the broker comes back)."""
        for log in logs:
            log._waiters.append(event)

    def _wake(self, log: PartitionLog) -> None:
        waiters, log._waiters = log._waiters, []
        for ev in waiters:
            if not ev.triggered:
                ev.succeed()

    def _wake_all(self) -> None:
        for logs in self.topics.values():
            for log in logs:
                if log._waiters:
                    self._wake(log)
