"""Replication: a cluster of brokers, each partition copied on several of them, as Kafka does it.

What follows Kafka (the documentation's "Replication" section, ``ReplicaManager`` and
``Partition`` in the broker):

* Each partition has ``replication_factor`` replicas on different brokers. One is the
  *leader*: producers write to it and consumers read from it. The others are
  *followers*: each fetches from the leader what it does not have yet, one fetch after
  another, each taking ``replication_delay`` ms.
* The *in-sync replica set* (ISR) holds the leader and the followers that keep up. A
  follower that has not caught up with the leader's log end for more than
  ``replica_lag_time_max`` ms (``replica.lag.time.max.ms``, 30 s) is dropped from it; it
  is taken back once it has caught up to the high watermark. A broker that crashes
  leaves every ISR at once (the controller fences it), except as the last member.
* The *high watermark* is the end of what every ISR member has. Consumers read only
  below it, so they never see a record a failover could take back.
* ``acks=1``: the leader answers once it has appended the batch. ``acks="all"``: it
  answers once the high watermark passes the batch, that is once every ISR member has
  it. With fewer ISR members than ``min_insync_replicas`` (``min.insync.replicas``) an
  ``acks="all"`` batch is refused before it is written (``NOT_ENOUGH_REPLICAS``), or,
  if the ISR shrank while it waited, answered with ``NOT_ENOUGH_REPLICAS_AFTER_APPEND``.
* When a leader's broker crashes, the controller makes the first live ISR member (in
  replica order) the leader, with a new *leader epoch*. With no live ISR member the
  partition has no leader, unless ``unclean_leader_election``
  (``unclean.leader.election.enable``) lets any live replica lead, with whatever it has.
* A replica that follows a new leader first truncates its log to where its history
  and the leader's part (KIP-101: it asks the end offset of its last leader epoch,
  ``OffsetsForLeaderEpoch``), then fetches from there. What it had beyond is gone.

So acknowledged records are lost only by this mechanism: a leader that acknowledged
what no follower had (``acks=1``), or an unclean election of a replica that lacked it.

A :class:`~simkit.Consumer` reads from a cluster as from a broker: each fetch goes to
the partition's current leader and returns records below the high watermark only. While
a partition has no leader its fetches return nothing (a real client gets
``NOT_LEADER_OR_FOLLOWER`` or ``LEADER_NOT_AVAILABLE``, refreshes its metadata and fetches
from the new leader); a consumer waiting for records wakes when the high watermark
moves or a new leader is elected. A position beyond the new leader's log end (after an
unclean election cut the log) is out of range and resets as ``auto_offset_reset`` says.
The group coordinator is taken to live while any broker is up (Kafka keeps it on the
leader of a ``__consumer_offsets`` partition, itself replicated).
"""

from __future__ import annotations

from typing import Any, Generator, NamedTuple, Sequence

import simpy

from .broker import Record
from .distributions import DistributionLike, as_distribution
from .errors import (
    BrokerUnavailable,
    ConfigError,
    NotEnoughReplicas,
    NotEnoughReplicasAfterAppend,
    NotLeaderOrFollower,
    OffsetOutOfRange,
    OutOfOrderSequence,
)
from .faults import window
from .params import check_count, check_flag, check_ms
from .world import World

__all__ = ["Cluster", "LogEntry", "Replica"]


class LogEntry(NamedTuple):
    """One record in a replica's log, with the leader epoch it was written in and its producer's sequence."""

    key: Any
    value: Any
    msg_id: Any
    timestamp: float
    appended_at: float
    epoch: int
    producer_id: str | None
    seq: int


class Replica:
    """One broker's copy of one partition: its log, and the producer sequences that log holds."""

    def __init__(self, broker: int):
        self.broker = broker
        self.log: list[LogEntry] = []
        self.last_seq: dict[str, int] = {}

    @property
    def end_offset(self) -> int:
        """The log end offset (LEO): the offset the next record gets."""
        return len(self.log)

    @property
    def last_epoch(self) -> int:
        """The leader epoch of the last record (-1 for an empty log)."""
        return self.log[-1].epoch if self.log else -1

    def append(self, entries: Sequence[LogEntry]) -> None:
        """Add ``entries`` at the end and remember the producer sequences they carry."""
        self.log.extend(entries)
        for e in entries:
            if e.producer_id is not None:
                self.last_seq[e.producer_id] = e.seq

    def epoch_end(self, epoch: int) -> int:
        """Where leader epoch ``epoch`` ends in this log: the first offset of a later epoch, else the end.

        Kafka's answer to ``OffsetsForLeaderEpoch`` (KIP-101).
        """
        for offset, e in enumerate(self.log):
            if e.epoch > epoch:
                return offset
        return self.end_offset

    def truncate(self, offset: int) -> list[LogEntry]:
        """Cut the log back to ``offset``; return what was cut. The producer state is rebuilt from what stays."""
        cut, self.log = self.log[offset:], self.log[:offset]
        if cut:
            self.last_seq = {}
            for e in self.log:
                if e.producer_id is not None:
                    self.last_seq[e.producer_id] = e.seq
        return cut


class _Partition:
    """The cluster's state for one partition: replicas, leader, epoch, ISR, high watermark, waiting acks."""

    def __init__(self, topic: str, index: int, brokers: tuple[int, ...]):
        self.topic = topic
        self.index = index
        self.brokers = brokers
        self.replicas = {b: Replica(b) for b in brokers}
        self.leader: int | None = brokers[0]
        self.epoch = 0
        self.isr: list[int] = list(brokers)
        self.hw = 0
        self.caught_up: dict[int, float] = {b: 0.0 for b in brokers}
        self.fetch_offset: dict[int, int] = {b: 0 for b in brokers}
        self.last_fetch: dict[int, tuple[float, int]] = {b: (0.0, 0) for b in brokers}
        self.followed_epoch: dict[int, int] = {b: 0 for b in brokers}
        self.pending: list[tuple[int, int, simpy.Event]] = []
        #: consumers' polls waiting for this partition to have something to read
        self._waiters: list[simpy.Event] = []

    # what a consumer sees of the partition (the names of a broker's PartitionLog)
    @property
    def partition(self) -> int:
        """The partition's number."""
        return self.index

    @property
    def start_offset(self) -> int:
        """The log start offset: 0, a cluster has no retention."""
        return 0

    @property
    def end_offset(self) -> int:
        """What a consumer may read up to: the high watermark (``ListOffsets`` latest)."""
        return self.hw

    def offset_for_time(self, timestamp: float) -> int:
        """The first offset below the high watermark whose timestamp is >= ``timestamp``, else the high watermark."""
        log = self.replicas[self.leader].log if self.leader is not None else []
        for offset, e in enumerate(log[:self.hw]):
            if e.timestamp >= timestamp:
                return offset
        return self.hw

    def wake(self) -> None:
        """Wake the polls waiting for this partition."""
        waiters, self._waiters = self._waiters, []
        for ev in waiters:
            if not ev.triggered:
                ev.succeed()


class Cluster:
    """``brokers`` Kafka-like brokers holding replicated partitions; producers and consumers use it as a Broker.

    * ``replication_factor``: replicas per partition (at most ``brokers``), placed on
      consecutive brokers, partition ``p``'s first replica (its first leader) on broker ``p``.
    * ``min_insync_replicas``: the fewest ISR members an ``acks="all"`` write accepts.
    * ``replica_lag_time_max``: ms a follower may go without catching up before it leaves the ISR.
    * ``replication_delay``: ms one follower fetch takes (a number or a Distribution).
    * ``unclean_leader_election``: let an out-of-sync replica lead when no ISR member is alive.

    Brokers are named ``broker-0``, ``broker-1``, ...; :meth:`crash` takes one down for a while
    (``brokers_down[b]`` tells; :attr:`down` is True only while all of them are).
    """

    def __init__(self, world: World, brokers: int = 3, *, replication_factor: int = 3,
                 min_insync_replicas: int = 1, replica_lag_time_max: float = 30000,
                 replication_delay: DistributionLike = 5, unclean_leader_election: bool = False,
                 name: str = "cluster"):
        self.n_brokers = check_count("brokers", brokers, 1, 100)
        self.replication_factor = check_count("replication_factor", replication_factor, 1, self.n_brokers)
        self.min_insync_replicas = check_count("min_insync_replicas", min_insync_replicas, 1,
                                               self.replication_factor)
        self.replica_lag_time_max = check_ms("replica_lag_time_max", replica_lag_time_max, 1)
        self.replication_delay = as_distribution("replication_delay", replication_delay)
        if self.replication_delay.is_zero:  # followers would fetch forever without time passing
            raise ConfigError("replication_delay", replication_delay, "a delay in ms > 0, or a distribution of them")
        self.unclean_leader_election = check_flag("unclean_leader_election", unclean_leader_election)
        self.world = world
        self.name = world.claim_name(name)
        self.broker_names = tuple(world.claim_name(f"broker-{b}") for b in range(self.n_brokers))
        self.brokers_down = [False] * self.n_brokers
        self._down_windows = [0] * self.n_brokers  # overlapping crash windows: down from the first to the last
        self.topics: dict[str, list[_Partition]] = {}
        #: the consumer groups of this cluster (their coordinator: see the module docs)
        self.groups: dict[str, Any] = {}
        self._rng = world.rng(f"{name}/replication")
        self._expiry_started = False

    # -- topics ---------------------------------------------------------------------------
    def create_topic(self, topic: str, partitions: int = 1) -> None:
        """Create ``topic`` with ``partitions`` partitions, each with ``replication_factor`` replicas."""
        if not isinstance(topic, str) or not topic:
            raise ConfigError("topic", topic, "a non-empty string")
        if topic in self.topics:
            raise ConfigError("topic", topic, "a topic name not created yet")
        check_count("partitions", partitions, 1, 10_000)
        n, rf = self.n_brokers, self.replication_factor
        parts = [_Partition(topic, p, tuple((p + i) % n for i in range(rf))) for p in range(partitions)]
        self.topics[topic] = parts
        env = self.world.env
        for part in parts:
            for b in part.brokers:  # every replica may follow one day, the first leader too
                env.process(self._follow(part, b))
        if not self._expiry_started:
            self._expiry_started = True
            env.process(self._expire_isr())

    def partitions(self, topic: str) -> int:
        """How many partitions ``topic`` has."""
        return len(self._partitions(topic))

    def _partitions(self, topic: str) -> list[_Partition]:
        try:
            return self.topics[topic]
        except KeyError:
            raise ConfigError("topic", topic, sorted(self.topics) or "a topic created first") from None

    @property
    def down(self) -> bool:
        """True while every broker is down: no request of any client gets an answer.

        ``brokers_down[b]`` is broker ``b``'s own state.
        """
        return all(self.brokers_down)

    def check_up(self, what: str) -> None:
        """Raise :class:`~simkit.errors.BrokerUnavailable` naming ``what`` if every broker is down."""
        if self.down:
            raise BrokerUnavailable(f"every broker of {self.name} is down: {what} refused")

    def log_of(self, topic: str, partition: int | None = None) -> Any:
        """The partitions of ``topic`` (or one) as a consumer sees them: offsets from 0 to the high watermark."""
        parts = self._partitions(topic)
        if partition is None:
            return parts
        if not 0 <= partition < len(parts):
            raise ConfigError("partition", partition, f"0..{len(parts) - 1} for topic {topic!r}")
        return parts[partition]

    def partition_state(self, topic: str, partition: int) -> dict[str, Any]:
        """Leader, epoch, ISR, high watermark and each replica's log end offset (a snapshot to look at)."""
        part = self._partitions(topic)[partition]
        return {"leader": part.leader, "epoch": part.epoch, "isr": sorted(part.isr), "high_watermark": part.hw,
                "end_offsets": {b: r.end_offset for b, r in part.replicas.items()}}

    # -- produce ----------------------------------------------------------------------------
    def produce(self, producer_id: str, topic: str, partition: int,
                records: Sequence[tuple[Any, Any, Any, float]], base_seq: int | None = None,
                acks: int | str = 1) -> int | simpy.Event:
        """Write a batch on the partition's leader; the base offset, or with ``acks="all"`` an event.

        The event succeeds, once the ISR has the batch, with the base offset, or with the
        :class:`~simkit.errors.ClientError` the leader answers (the producer waits for it).
        Idempotence works as on :meth:`Broker.produce`, with the sequences the leader's log holds.
        """
        world = self.world
        parts = self._partitions(topic)
        if not 0 <= partition < len(parts):
            raise ConfigError("partition", partition, f"0..{len(parts) - 1} for topic {topic!r}")
        part = parts[partition]
        leader = part.leader
        if leader is None or self.brokers_down[leader]:
            world.record(self.name, "rejected", topic=topic, partition=partition, detail="no leader")
            raise BrokerUnavailable(f"{topic}-{partition} has no leader: produce refused")
        name = self.broker_names[leader]
        if acks == "all" and len(part.isr) < self.min_insync_replicas:
            world.record(name, "rejected", topic=topic, partition=partition,
                         detail=f"NOT_ENOUGH_REPLICAS: isr {len(part.isr)} < {self.min_insync_replicas}")
            raise NotEnoughReplicas(f"{len(part.isr)} in-sync replicas, min_insync_replicas="
                                    f"{self.min_insync_replicas}")
        replica = part.replicas[leader]
        if base_seq is not None:
            last = replica.last_seq.get(producer_id, -1)
            if base_seq <= last:
                for key, _value, msg_id, _ts in records:
                    world.record(name, "duplicate_dropped", topic=topic, partition=partition,
                                 key=key, msg_id=msg_id, detail=f"seq {base_seq} <= {last}")
                return -1
            if base_seq != last + 1:
                world.record(name, "rejected", topic=topic, partition=partition,
                             detail=f"out of order sequence {base_seq}, expected {last + 1}")
                raise OutOfOrderSequence(f"batch sequence {base_seq} arrived before {last + 1}")
        now = world.env.now
        base = replica.end_offset
        pid = producer_id if base_seq is not None else None
        replica.append([LogEntry(k, v, m, ts, now, part.epoch, pid, (base_seq or 0) + i)
                        for i, (k, v, m, ts) in enumerate(records)])
        for i, (key, _value, msg_id, _ts) in enumerate(records):
            world.trace.record(now, name, "append", topic, partition, base + i, key, msg_id)
        self._advance_hw(part)
        if acks != "all":
            return base
        done = world.env.event()
        part.pending.append((base + len(records), base, done))
        self._settle(part)
        return done

    # -- consume ----------------------------------------------------------------------------
    def high_watermark(self, topic: str, partition: int) -> int:
        """The offset below which every ISR member has the records: what consumers may read."""
        return self._partitions(topic)[partition].hw

    def fetch(self, topic: str, partition: int, offset: int, max_records: int) -> list[Record]:
        """Records of one partition from the leader, from ``offset``, below the high watermark only."""
        part = self._partitions(topic)[partition]
        if part.leader is None or self.brokers_down[part.leader]:
            raise BrokerUnavailable(f"{topic}-{partition} has no leader: fetch refused")
        log = part.replicas[part.leader].log
        end = min(offset + max_records, part.hw)
        return [Record(topic, partition, o, e.key, e.value, e.msg_id, e.timestamp, e.appended_at)
                for o, e in zip(range(offset, end), log[offset:end])]

    def fetch_visible(self, topic: str, partition: int, offset: int, max_records: int,
                      read_committed: bool = False) -> tuple[list[Record], int]:
        """A consumer's fetch from the partition's leader: records below the high watermark, and the next offset.

        With no live leader it returns nothing (the client retries against the next leader).
        An offset beyond the leader's log end is out of range (Kafka's ``OFFSET_OUT_OF_RANGE``);
        one between the high watermark and the log end returns nothing yet. There are no
        transactions here, so ``read_committed`` reads the same.
        """
        part = self._partitions(topic)[partition]
        leader = part.leader
        if leader is None or self.brokers_down[leader]:
            return [], offset
        if offset > part.replicas[leader].end_offset:
            raise OffsetOutOfRange(topic, partition, offset, 0, part.hw)
        got = self.fetch(topic, partition, offset, max_records)
        return got, offset + len(got)

    def wait_for_data(self, logs: Sequence[_Partition], event: simpy.Event) -> None:
        """Succeed ``event`` when the high watermark of any of ``logs`` moves or one gets a new leader."""
        for part in logs:
            part._waiters.append(event)

    # -- failures ---------------------------------------------------------------------------
    def crash(self, broker: int, start: float, duration: float) -> tuple[float, float]:
        """Take broker number ``broker`` down from ``start`` for ``duration`` ms; it comes back with its disk."""
        check_count("broker", broker, 0, self.n_brokers - 1)
        return window(self.world, start, duration, lambda: self._down(broker), lambda: self._up(broker))

    def _down(self, b: int) -> None:
        world = self.world
        self._down_windows[b] += 1
        if self._down_windows[b] > 1:
            return
        self.brokers_down[b] = True
        world.record(self.broker_names[b], "broker_down")
        for parts in self.topics.values():
            for part in parts:
                if b not in part.brokers:
                    continue
                if part.leader == b:
                    self._elect(part)
                elif b in part.isr and len(part.isr) > 1:
                    self._shrink(part, b, "broker down")

    def _up(self, b: int) -> None:
        self._down_windows[b] -= 1
        if self._down_windows[b]:
            return
        self.brokers_down[b] = False
        self.world.record(self.broker_names[b], "broker_up")
        for parts in self.topics.values():
            for part in parts:
                if b in part.brokers and part.leader is None:
                    self._elect(part)

    def _elect(self, part: _Partition) -> None:
        """Choose a new leader: the first live ISR member, else (unclean) the first live replica, else none."""
        old = part.leader
        live = [b for b in part.brokers if not self.brokers_down[b]]
        clean = [b for b in live if b in part.isr]
        unclean = not clean and self.unclean_leader_election and bool(live)
        new = clean[0] if clean else (live[0] if unclean else None)
        waiting, part.pending = part.pending, []
        for _needed, _base, ev in waiting:  # the old leader never answers them
            ev.succeed(NotLeaderOrFollower(f"{part.topic}-{part.index}: leader {old} lost leadership"))
        if new is None:
            part.leader = None
            if old is not None:
                self.world.record(self.name, "leader_elected", topic=part.topic, partition=part.index,
                                  detail="none: no live in-sync replica")
            return
        part.epoch += 1
        part.leader = new
        if unclean:
            part.isr = [new]
        else:
            part.isr = [b for b in part.isr if not self.brokers_down[b]]
        part.hw = min(part.hw, part.replicas[new].end_offset)
        for b in part.brokers:  # the new leader knows its followers' positions only from their next fetch
            if b != new:
                part.fetch_offset[b] = min(part.fetch_offset[b], part.hw)
        part.followed_epoch[new] = part.epoch
        self.world.record(self.name, "leader_elected", topic=part.topic, partition=part.index,
                          detail=f"{self.broker_names[new]} epoch {part.epoch}" + (" unclean" if unclean else ""))
        self._advance_hw(part)
        if part._waiters:  # consumers fetch from the new leader
            part.wake()

    # -- replication ------------------------------------------------------------------------
    def _follow(self, part: _Partition, b: int) -> Generator[simpy.Event, Any, None]:
        """Broker ``b``'s fetcher for ``part``: truncate on a new epoch (KIP-101), then fetch forever."""
        env = self.world.env
        replica = part.replicas[b]
        name = self.broker_names[b]
        while True:
            yield env.timeout(self.replication_delay.sample(self._rng))
            leader = part.leader
            if self.brokers_down[b] or leader is None or leader == b or self.brokers_down[leader]:
                continue
            if part.followed_epoch[b] != part.epoch:
                end = part.replicas[leader].epoch_end(replica.last_epoch)
                base = min(end, replica.end_offset)
                for i, e in enumerate(replica.truncate(base)):
                    self.world.trace.record(env.now, name, "truncate", part.topic, part.index, base + i,
                                            e.key, e.msg_id, f"epoch {part.epoch}")
                part.followed_epoch[b] = part.epoch
            # the fetch request tells the leader how far this follower is
            offset = replica.end_offset
            leader_log = part.replicas[leader].log
            part.fetch_offset[b] = offset
            # Kafka's Replica.updateFetchState: caught up as of the last fetch if this one asks from
            # where the leader's log ended then, and as of now if it asks from the end
            then, end_then = part.last_fetch[b]
            if offset >= len(leader_log):
                part.caught_up[b] = env.now
            elif offset >= end_then:
                part.caught_up[b] = max(part.caught_up[b], then)
            part.last_fetch[b] = (env.now, len(leader_log))
            if b not in part.isr and offset >= part.hw and not self.brokers_down[b]:
                part.isr.append(b)
                self.world.record(self.name, "isr_expand", topic=part.topic, partition=part.index,
                                  detail=f"{name} caught up at {offset}")
            self._advance_hw(part)
            got = leader_log[offset:]
            if got:
                replica.append(got)
                now = env.now
                for i, e in enumerate(got):
                    self.world.trace.record(now, name, "replicate", part.topic, part.index, offset + i,
                                            e.key, e.msg_id)

    def _expire_isr(self) -> Generator[simpy.Event, Any, None]:
        """Every ``replica_lag_time_max / 2`` ms, drop followers that lag too long (Kafka's isr-expiration task)."""
        env = self.world.env
        while True:
            yield env.timeout(self.replica_lag_time_max / 2)
            for parts in self.topics.values():
                for part in parts:
                    for b in list(part.isr):
                        if b != part.leader and env.now - part.caught_up[b] > self.replica_lag_time_max:
                            self._shrink(part, b, f"no catch-up for {env.now - part.caught_up[b]:g} ms")

    def _shrink(self, part: _Partition, b: int, why: str) -> None:
        part.isr.remove(b)
        self.world.record(self.name, "isr_shrink", topic=part.topic, partition=part.index,
                          detail=f"{self.broker_names[b]}: {why}")
        self._advance_hw(part)

    def _advance_hw(self, part: _Partition) -> None:
        leader = part.leader
        if leader is None:
            return
        ends = [part.replicas[leader].end_offset if b == leader else part.fetch_offset[b] for b in part.isr]
        hw = max(part.hw, min(ends))
        if hw > part.hw:
            part.hw = hw
            if part._waiters:
                part.wake()
        if part.pending:
            self._settle(part)

    def _settle(self, part: _Partition) -> None:
        """Answer the ``acks="all"`` writes the high watermark has passed (Kafka's delayed produce)."""
        still = []
        short = len(part.isr) < self.min_insync_replicas
        for needed, base, ev in part.pending:
            if part.hw >= needed:
                ev.succeed(NotEnoughReplicasAfterAppend(
                    f"isr shrank to {len(part.isr)} < min_insync_replicas={self.min_insync_replicas}")
                    if short else base)
            else:
                still.append((needed, base, ev))
        part.pending = still

