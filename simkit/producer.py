"""The producer: batching, acks, retries, in-flight requests and idempotence, as Kafka's Java client.

How a record travels (``KafkaProducer`` with its ``RecordAccumulator`` and ``Sender``):

1. ``send`` picks a partition (the partitioner) and appends the record to that
   partition's open batch (``batch_size`` records at most).
2. The sender takes the *first* batch of each partition that is ready and sends it,
   while fewer than ``max_in_flight`` requests wait for an answer
   (``max.in.flight.requests.per.connection``). Requests and answers travel over
   in-order links (one TCP connection), so they cannot overtake each other.
3. An error or a timeout sends the batch back to the front of its partition's queue,
   to be retried after ``retry_backoff`` ms, while ``retries`` and
   ``delivery_timeout`` allow (``retries``, ``retry.backoff.ms``,
   ``delivery.timeout.ms``). As in Kafka, the delivery timeout counts from the
   moment the record's batch was created, not first sent: a batch that waited
   behind others past it is failed without being sent. A timeout is indefinite: the broker may have written
   the batch and only the answer was lost, so a retry can write it twice.
4. Without idempotence, a retried batch lands *behind* a later batch that was
   already in flight and succeeded: records of one partition are reordered. With
   ``idempotent=True`` (``enable.idempotence``) every batch carries a sequence
   number; the broker drops batches it already has and refuses batches that skip
   ahead, so retries neither duplicate nor reorder. A refusal of the batch right after
   the last acknowledged one means the broker lost acknowledged records (a failover,
   see :mod:`simkit.replication`): as Kafka's ``TransactionManager`` does, that batch
   fails at once and the epoch is bumped (KIP-360) instead of being retried.
5. ``acks=0``: the producer counts a record as sent once the request leaves; nobody
   answers, nothing is retried, and a record sent to a down broker is gone without
   a word.

Defaults (``client=None`` or ``"java"``; ``client="librdkafka"`` has its own, see
:mod:`simkit.clients`) are Kafka 3.x's: ``acks="all"``, idempotence on, ``retries`` = 2**31-1,
``max_in_flight=5``, ``request_timeout=30000``, ``delivery_timeout=120000``,
``retry_backoff=100``. As in Kafka 3.2 and later, idempotence left unset is turned
off quietly when another setting conflicts with it (``acks`` not ``"all"``,
``retries=0`` or ``max_in_flight > 5``); asking for it explicitly with such a
setting is an error.
"""

from __future__ import annotations

import math
from bisect import insort
from typing import Any, Callable

import simpy

from .broker import Broker
from .clients import producer_settings
from .distributions import DistributionLike
from .errors import ClientError, ConfigError, OutOfOrderSequence, ProducerFenced, RequestTimeout
from .network import Link
from .partitioners import StickyPartitioner, resolve_partitioner
from .world import World

__all__ = ["Delivery", "Producer"]

MAX_INT = 2**31 - 1
ACKS = (0, 1, "all")


#: what a record's sender is told when its fate is known: ``(error or None, offset)``
OnDelivery = Callable[[Any, int], None]


class Delivery(simpy.Event):
    """The event :meth:`Producer.send` returns: it succeeds with the record's offset, or fails.

    Like SimPy's own events (``Timeout``, ``Process``) it is a noun of its own: when the
    producer learns the record's fate before anybody waits on it (the common
    fire-and-forget send), it is settled as already processed instead of taking a
    scheduler step, and a process that yields it later continues at once with its value.
    """

    def settle(self, error: ClientError | None, offset: int) -> None:
        """Succeed with ``offset``, or fail with ``error`` (defused: a sender need not wait)."""
        if error is not None:
            self.defused = True
            self.fail(error)
        elif self.callbacks:
            self.succeed(offset)
        else:
            self._ok = True
            self._value = offset
            self.callbacks = None  # type: ignore[assignment]


class _Batch:
    __slots__ = ("tp", "records", "notify", "waiting", "seq", "epoch", "attempts", "ready_at", "open", "created")

    def __init__(self, tp: tuple[str, int], created: float, record: tuple[Any, Any, Any, float],
                 notify: OnDelivery | None):
        self.tp = tp
        self.created = created
        self.records = [record]  # (key, value, msg_id, timestamp)
        self.notify = [notify]  # one per record: who to tell, if anybody
        self.waiting = notify is not None  # somebody waits on at least one record
        self.seq: int | None = None
        self.epoch = 0
        self.attempts = 0
        self.ready_at = 0.0
        self.open = True

    def __lt__(self, other: "_Batch") -> bool:
        # retried idempotent batches go back in sequence order (Kafka's insertInSequenceOrder)
        a = self.seq if self.seq is not None else MAX_INT
        b = other.seq if other.seq is not None else MAX_INT
        return a < b


def _int_param(name: str, value: Any, low: int, high: int | None = None) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < low or (high is not None and value > high):
        allowed = f"an int >= {low}" if high is None else f"an int from {low} to {high}"
        raise ConfigError(name, value, allowed)
    return value


def _ms_param(name: str, value: Any, low: float = 0) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < low:
        raise ConfigError(name, value, f"a finite number of ms >= {low}")
    return float(value)


class Producer:
    """A Kafka producer client (Java ``KafkaProducer`` semantics) talking to one broker.

    Settings left out come from ``client`` (see :mod:`simkit.clients`): None or ``"java"``
    (Kafka 3.x: idempotent, ``acks="all"``, murmur2 of the key), or ``"librdkafka"``
    (what confluent-kafka gets: idempotence off, ``partitioner="consistent_random"``,
    ``max_in_flight=1000000``, ``delivery_timeout=300000``). A setting passed wins.
    """

    def __init__(
        self,
        world: World,
        broker: Broker,
        name: str = "producer",
        *,
        client: str | None = None,
        acks: int | str | None = None,
        idempotent: bool | None = None,
        retries: int | None = None,
        retry_backoff: float | None = None,
        request_timeout: float | None = None,
        delivery_timeout: float | None = None,
        max_in_flight: int | None = None,
        partitioner: str | Callable[[Any, int], int] | None = None,
        latency: DistributionLike = 0,
        batch_size: int = 16,
        transactional_id: str | None = None,
    ):
        settings = producer_settings(
            client, transactional=transactional_id is not None, acks=acks, idempotent=idempotent, retries=retries, retry_backoff=retry_backoff,
            request_timeout=request_timeout, delivery_timeout=delivery_timeout, max_in_flight=max_in_flight,
            partitioner=partitioner)
        acks, idempotent, retries = settings["acks"], settings["idempotent"], settings["retries"]
        retry_backoff, request_timeout = settings["retry_backoff"], settings["request_timeout"]
        delivery_timeout, max_in_flight = settings["delivery_timeout"], settings["max_in_flight"]
        partitioner = settings["partitioner"]
        if acks == -1:
            acks = "all"
        if acks not in ACKS or isinstance(acks, bool):
            raise ConfigError("acks", acks, ACKS)
        self.retries = _int_param("retries", retries, 0)
        self.max_in_flight = _int_param("max_in_flight", max_in_flight, 1)
        self.batch_size = _int_param("batch_size", batch_size, 1)
        self.retry_backoff = _ms_param("retry_backoff", retry_backoff)
        self.request_timeout = _ms_param("request_timeout", request_timeout, 1)
        self.delivery_timeout = _ms_param("delivery_timeout", delivery_timeout, 1)
        conflict = None
        if acks != "all":
            conflict = ("acks", acks, 'acks="all" when idempotent=True')
        elif self.retries == 0:
            conflict = ("retries", retries, "retries >= 1 when idempotent=True")
        elif self.max_in_flight > 5:
            conflict = ("max_in_flight", max_in_flight, "at most 5 when idempotent=True (as in Kafka)")
        if idempotent is None:
            idempotent = conflict is None
        elif not isinstance(idempotent, bool):
            raise ConfigError("idempotent", idempotent, "True, False or None (Kafka's default)")
        elif idempotent and conflict is not None:
            raise ConfigError(*conflict)
        self.world = world
        self.broker = broker
        self.name = world.claim_name(name)
        self.acks = acks
        self.idempotent = idempotent
        self.partitioner = resolve_partitioner(partitioner, world.rng(f"{name}/partitioner"))
        self.link_out = Link(world, f"{name}->{broker.name}", latency)
        self.link_in = Link(world, f"{broker.name}->{name}", latency)
        # asked once: an instant link with no cut skips drawing a delay for every request
        self._instant_out, self._instant_in = self.link_out.latency.is_zero, self.link_in.latency.is_zero
        # every partition's queue of batches, and the queues that hold any, so that the sender
        # finds work without looking at every partition; it visits them in first-use order
        self._queues: dict[tuple[str, int], list[_Batch]] = {}
        self._rank: dict[tuple[str, int], int] = {}
        self._waiting: dict[tuple[str, int], list[_Batch]] = {}
        self._in_flight = 0
        self._epoch = 0
        self._next_seq: dict[tuple[str, int], int] = {}
        self._acked_seq: dict[tuple[int, str, int], int] = {}
        self._wakeup_at: float | None = None
        self._draining = False
        self._count = 0
        self._nparts: dict[str, int] = {}
        self._sticky = isinstance(self.partitioner, StickyPartitioner)
        self._pid = self.producer_id
        # a request that needs no event: instant links both ways, an answer, a plain broker's
        # (a replicated cluster answers acks="all" with an event) and no transaction
        self._direct = (self._instant_out and self._instant_in and acks != 0 and transactional_id is None
                        and type(broker).produce is Broker.produce)
        if transactional_id is not None and (not isinstance(transactional_id, str) or not transactional_id):
            raise ConfigError("transactional_id", transactional_id, "None or a non-empty string")
        #: ``transactional.id`` (KIP-98): None for a plain producer
        self.transactional_id = transactional_id
        self._txn_epoch: int | None = None
        self._txn_sends: list[Delivery] | None = None  # the open transaction's sends, None outside one
        self._txn_fatal: ProducerFenced | None = None  # once fenced, every transactional call fails with it

    @property
    def producer_id(self) -> str:
        """The id the broker keys idempotence state by; a new epoch starts sequences over."""
        return f"{self.name}#{self._epoch}"

    # -- the application's side -----------------------------------------------------------
    def send(
        self,
        topic: str,
        value: Any = None,
        key: Any = None,
        msg_id: Any = None,
        partition: int | None = None,
    ) -> Delivery:
        """Hand a record to the producer; return an event that succeeds with its offset.

        The event fails with a :class:`~simkit.errors.ClientError` if the producer
        gives up. With ``acks=0`` it succeeds (offset -1) as soon as the request
        leaves, whatever happens to it. ``msg_id`` defaults to ``"<producer>-<n>"``.
        When nothing will wait for the outcome, :meth:`produce` does the same work cheaper.
        """
        future = Delivery(self.world.env)
        if self.transactional_id is not None:
            if self._txn_sends is None:
                raise ConfigError("transactional_id", self.transactional_id, "begin_transaction() before send")
            self._txn_sends.append(future)
        self._accumulate(topic, value, key, msg_id, partition, future.settle)
        return future

    # -- transactions (KIP-98; Java's KafkaProducer.initTransactions and the rest) ----------
    def init_transactions(self) -> Any:
        """Generator: register ``transactional_id`` with the coordinator, fencing older producers with it
        and aborting their open transaction (``KafkaProducer.initTransactions``)."""
        if self.transactional_id is None:
            raise ConfigError("transactional_id", None, "a transactional_id given to Producer(...)")
        yield self.world.env.timeout(0)
        self._txn_epoch = self.broker.init_transactions(self.transactional_id)

    def begin_transaction(self) -> None:
        """Open a transaction: the sends that follow belong to it (``KafkaProducer.beginTransaction``).

        A producer that was fenced cannot: :class:`~simkit.errors.ProducerFenced` is fatal in
        Kafka (the producer must be closed and a new one made)."""
        if self._txn_fatal is not None:
            raise self._txn_fatal
        if self._txn_epoch is None:
            raise ConfigError("init_transactions", None, "init_transactions() before begin_transaction()")
        self._txn_sends = []

    def send_offsets_to_transaction(self, offsets: dict[tuple[str, int], int], group: Any) -> Any:
        """Generator: add consumer ``offsets`` to the transaction; the group gets them only if it commits
        (``KafkaProducer.sendOffsetsToTransaction``, KIP-98/KIP-447).

        ``group`` is the consumer's :meth:`~simkit.consumer.Consumer.group_metadata` (KIP-447's
        form): if the consumer's generation is stale (a rebalance moved its partitions on) the
        offsets are refused with :class:`~simkit.errors.CommitFailed`, and the application must
        abort. A plain group id (the form KIP-447 deprecates) is not checked.
        """
        from .groups import ConsumerGroupMetadata

        if isinstance(group, ConsumerGroupMetadata):
            group_id, member = group.group_id, (group.member_id, group.generation_id)
        elif isinstance(group, str) and group:
            group_id, member = group, None
        else:
            raise ConfigError("group", group, "a consumer's group_metadata() or a group id")
        yield self.world.env.timeout(0)
        try:
            self.broker.add_offsets(self.transactional_id, self._txn_epoch, group_id,  # type: ignore[arg-type]
                                    dict(offsets), member=member)
        except ProducerFenced as err:
            self._txn_fatal = err
            raise

    def commit_transaction(self) -> Any:
        """Generator: wait for every send of the transaction, then commit it: markers are written and
        its offsets committed. A failed send fails the commit (``KafkaProducer.commitTransaction``).

        A fenced producer gets :class:`~simkit.errors.ProducerFenced` and its transaction ends
        aborted: the newer producer's ``init_transactions`` already aborted it, so its records
        stay invisible to ``read_committed`` readers and its offsets never reach the group
        (KIP-98). The error is fatal: every later transactional call raises it again."""
        sends, self._txn_sends = self._txn_sends or [], None
        try:
            for d in sends:  # noqa: UP028 (SimPy sends values in: a list iterator cannot take them)
                yield d  # a failed send raises here: the application must abort
            self.broker.finish_transaction(self.transactional_id, self._txn_epoch, True)  # type: ignore[arg-type]
        except ProducerFenced as err:
            self._txn_fatal = err
            raise

    def abort_transaction(self) -> Any:
        """Generator: wait for the transaction's sends to settle, then abort it (``KafkaProducer.abortTransaction``)."""
        sends, self._txn_sends = self._txn_sends or [], None
        for d in sends:
            try:
                yield d
            except ClientError:
                pass
        self.broker.finish_transaction(self.transactional_id, self._txn_epoch, False)  # type: ignore[arg-type]

    def produce(
        self,
        topic: str,
        value: Any = None,
        key: Any = None,
        msg_id: Any = None,
        partition: int | None = None,
        on_delivery: OnDelivery | None = None,
    ) -> None:
        """Hand a record to the producer and make no event for it (confluent-kafka's ``Producer.produce``).

        The record travels exactly as with :meth:`send`. ``on_delivery(error, offset)``, if
        given, is called once its fate is known: ``error`` is None and ``offset`` its offset
        (-1 with ``acks=0`` or for a duplicate the broker dropped), or ``error`` is the
        :class:`~simkit.errors.ClientError` the producer gave up with (offset -1).
        """
        if on_delivery is not None and not callable(on_delivery):
            raise ConfigError("on_delivery", on_delivery, "None or a callable on_delivery(error, offset)")
        self._accumulate(topic, value, key, msg_id, partition, on_delivery)

    def _accumulate(self, topic: str, value: Any, key: Any, msg_id: Any, partition: int | None,
                    notify: OnDelivery | None) -> None:
        """Append a record to its partition's open batch (Kafka's ``RecordAccumulator.append``) and wake the sender."""
        world = self.world
        nparts = self._nparts.get(topic)
        if nparts is None:
            nparts = self._nparts[topic] = self.broker.partitions(topic)
        if partition is None:
            partition = self.partitioner(key, nparts, topic=topic)  # per-topic counters, as Kafka keeps
        elif isinstance(partition, bool) or not isinstance(partition, int) or not 0 <= partition < nparts:
            raise ConfigError("partition", partition, f"0..{nparts - 1} for topic {topic!r}")
        if msg_id is None:
            msg_id = f"{self.name}-{self._count}"
        self._count += 1
        now = world.env._now  # the attribute behind SimPy's now property: a send is hot
        world.trace.record(now, self.name, "send", topic, partition, -1, key, msg_id)
        tp = (topic, partition)
        queue = self._queues.get(tp)
        if queue is None:
            queue = self._queues[tp] = []
            self._rank[tp] = len(self._rank)
        if not self._waiting and self._in_flight < self.max_in_flight and not self._draining:
            # nothing queued and room in flight: the sender takes the new batch at once, as
            # Kafka's Sender does with linger.ms=0, without it visiting the queues
            if self._direct and not self.link_out._cuts and not self.link_in._cuts:
                self._send_direct(tp, (key, value, msg_id, now), notify)
                return
            batch = _Batch(tp, now, (key, value, msg_id, now), notify)
            batch.open = False
            self._draining = True
            try:
                self._send_batch(batch)
                if self._waiting:  # an instant answer sent it back for a retry
                    self._run_sender()
            finally:
                self._draining = False
            if self._sticky:
                self.partitioner.new_batch()  # type: ignore[union-attr]
            return
        if queue and queue[-1].open and len(queue[-1].records) < self.batch_size:
            batch = queue[-1]
            batch.records.append((key, value, msg_id, now))
            batch.notify.append(notify)
            if notify is not None:
                batch.waiting = True
        else:
            if not queue:
                self._waiting[tp] = queue
            queue.append(_Batch(tp, now, (key, value, msg_id, now), notify))
        if not self._draining:
            self._drain()

    def _send_direct(self, tp: tuple[str, int], record: tuple[Any, Any, Any, float],
                     notify: OnDelivery | None) -> None:
        """What :meth:`_send_batch` does with a one-record batch over instant links to a plain
        :class:`~simkit.broker.Broker`, whose answer comes back at once: the same sequence
        numbers, broker call and bookkeeping, without the batch object and the hops between
        ``_send_batch``, ``_arrive``, ``_write`` and ``_on_answer``. An error answer takes the
        ordinary path (:meth:`_on_answer`) with the batch built as ``_send_batch`` would have."""
        topic, partition = tp
        records = [record]
        seq = None
        if self.idempotent:
            state = (self._epoch, topic, partition)
            seq = self._next_seq.get(state, 0)
            self._next_seq[state] = seq + 1
        self._draining = True
        try:
            try:
                base = self.broker.produce(self._pid, topic, partition, records, seq, self.acks)
            except ClientError as err:
                batch = _Batch(tp, record[3], record, notify)
                batch.open = False
                batch.seq, batch.epoch, batch.attempts = seq, self._epoch, 1
                self._in_flight += 1
                self._on_answer(batch, err)
            else:
                if seq is not None:
                    self._acked_seq[state] = seq
                if notify is not None:
                    notify(None, base if base >= 0 else -1)
            if self._waiting:  # sent back for a retry, or a send from inside ``notify``
                self._run_sender()
        finally:
            self._draining = False
        if self._sticky:
            self.partitioner.new_batch()  # type: ignore[union-attr]

    # -- the sender -----------------------------------------------------------------------
    def _drain(self) -> None:
        self._draining = True
        try:
            self._run_sender()
        finally:
            self._draining = False
        if self._sticky:
            self._unstick_sent()

    def _unstick_sent(self) -> None:
        """Move a sticky topic on once the batch it was filling has left or is full (KIP-480: the
        partitioner's ``onNewBatch`` runs when the next record would open a new batch), never
        while that batch is still open and waits for room in flight."""
        for topic, partition in self.partitioner.stuck_to().items():  # type: ignore[union-attr]
            queue = self._queues.get((topic, partition))
            if not queue or not queue[-1].open or len(queue[-1].records) >= self.batch_size:
                self.partitioner.new_batch(topic)  # type: ignore[union-attr]

    def _run_sender(self) -> None:
        """Send the ready head batch of each waiting partition while requests may be in flight."""
        now = self.world.env.now
        earliest: float | None = None
        waiting = self._waiting
        progress = True
        while progress and waiting and self._in_flight < self.max_in_flight:
            progress = False
            for tp in sorted(waiting, key=self._rank.__getitem__) if len(waiting) > 1 else list(waiting):
                queue = waiting.get(tp)
                if not queue:
                    continue
                head = queue[0]
                if head.ready_at > now:
                    earliest = head.ready_at if earliest is None else min(earliest, head.ready_at)
                    continue
                queue.pop(0)
                if not queue:
                    del waiting[tp]
                head.open = False
                if now - head.created >= self.delivery_timeout:
                    # expired while it waited behind others (Kafka's RecordAccumulator.expiredBatches)
                    self._give_up(head, RequestTimeout(
                        f"expired after delivery_timeout={self.delivery_timeout:g} ms waiting to be sent"))
                    progress = True
                    continue
                self._send_batch(head)
                progress = True
                if self._in_flight >= self.max_in_flight:
                    break
        if earliest is not None and (self._wakeup_at is None or earliest < self._wakeup_at):
            self._wakeup_at = earliest
            self._later(earliest - now, self._wake)

    def _wake(self) -> None:
        self._wakeup_at = None
        self._drain()

    def _later(self, delay: float, fn: Callable[..., None], *args: Any) -> None:
        ev = self.world.env.timeout(delay)
        ev.callbacks.append(lambda _ev: fn(*args))

    def _send_batch(self, batch: _Batch) -> None:
        if self.idempotent and (batch.seq is None or batch.epoch != self._epoch):
            state = (self._epoch, *batch.tp)
            batch.seq = seq = self._next_seq.get(state, 0)
            batch.epoch = self._epoch
            self._next_seq[state] = seq + len(batch.records)
        batch.attempts += 1
        link = self.link_out
        d = 0.0 if self._instant_out and not link._cuts else link.delay()
        if self.acks == 0:
            self._notify(batch, None, -1)
            if d is not None:
                self._at(d, self._arrive, batch, self.world.env.now)
            return
        self._in_flight += 1
        if d is None:
            self._later(self.request_timeout, self._on_answer, batch, self._timeout())
        elif d > self.request_timeout:
            # the client gives up before the request even arrives (Kafka's NetworkClient times
            # out requests in flight); the broker still writes what reaches it, unanswered
            self._later(self.request_timeout, self._on_answer, batch, self._timeout())
            self._later(d, self._write, batch)
        elif d:
            self._later(d, self._arrive, batch, self.world.env.now)
        else:
            self._arrive(batch, self.world.env.now)

    def _at(self, delay: float, fn: Callable[..., None], *args: Any) -> None:
        if delay == 0:
            fn(*args)
        else:
            self._later(delay, fn, *args)

    def _timeout(self) -> RequestTimeout:
        return RequestTimeout(f"no answer within request_timeout={self.request_timeout:g} ms")

    def _write(self, batch: _Batch) -> Any:
        """The broker's handling of the request: the base offset, or the ClientError it answered with."""
        topic, partition = batch.tp
        pid = self._pid if batch.epoch == self._epoch else f"{self.name}#{batch.epoch}"
        try:
            if self.transactional_id is None:
                return self.broker.produce(pid, topic, partition, batch.records,
                                           batch.seq if self.idempotent else None, self.acks)
            return self.broker.produce(pid, topic, partition, batch.records, batch.seq if self.idempotent else None,
                                       acks=self.acks, transaction=(self.transactional_id, self._txn_epoch))
        except ClientError as err:
            return err

    def _arrive(self, batch: _Batch, sent: float) -> None:
        outcome = self._write(batch)
        if self.acks == 0:
            return
        if isinstance(outcome, simpy.Event):
            # a replicated leader answers acks="all" once its in-sync replicas have the batch
            outcome.callbacks.append(lambda ev: self._reply(batch, sent, ev.value))
            return
        if self._instant_in and not self.link_in._cuts:
            self._on_answer(batch, outcome)  # no delay: within request_timeout, as _send_batch checked
            return
        self._reply(batch, sent, outcome)

    def _reply(self, batch: _Batch, sent: float, outcome: Any) -> None:
        """Send the broker's answer back over the link, or time the request out if it comes too late."""
        now = self.world.env.now
        link = self.link_in
        back = 0.0 if self._instant_in and not link._cuts else link.delay()
        if back is None or now + back - sent > self.request_timeout:
            # never negative: the request arrived before its timeout (see _send_batch)
            self._later(max(0.0, sent + self.request_timeout - now), self._on_answer, batch, self._timeout())
        elif back:
            self._later(back, self._on_answer, batch, outcome)
        else:
            self._on_answer(batch, outcome)

    @staticmethod
    def _notify(batch: _Batch, error: ClientError | None, base: int) -> None:
        """Tell whoever waits on the batch's records: offsets from ``base`` (-1: none), or ``error``."""
        if not batch.waiting:
            return
        for i, notify in enumerate(batch.notify):
            if notify is not None:
                notify(error, base + i if base >= 0 else -1)

    def _on_answer(self, batch: _Batch, outcome: Any) -> None:
        self._in_flight -= 1
        if isinstance(outcome, ClientError):
            self._on_error(batch, outcome)
        else:
            # the broker's append (or duplicate_dropped) row already tells the story; the
            # application learns the offset through the event
            if self.idempotent:
                self._acked_seq[(batch.epoch, *batch.tp)] = batch.seq + len(batch.records) - 1  # type: ignore[operator]
            if batch.waiting:
                self._notify(batch, None, outcome)
        if not self._draining:
            self._drain()

    def _on_error(self, batch: _Batch, err: ClientError) -> None:
        world = self.world
        now = world.env.now
        topic, partition = batch.tp
        if isinstance(err, ProducerFenced):  # fatal: a newer producer owns the transactional id
            self._give_up(batch, err)
            return
        if isinstance(err, OutOfOrderSequence) and batch.seq == self._acked_seq.get((batch.epoch, *batch.tp), -1) + 1:
            # the broker lacks records it acknowledged (a failover lost them): Kafka's
            # TransactionManager.canRetry does not retry the batch right after the last
            # acknowledged one; it fails and the epoch is bumped (KIP-360)
            self._give_up(batch, err)
            return
        if batch.attempts <= self.retries and now + self.retry_backoff - batch.created < self.delivery_timeout:
            world.trace.record(now, self.name, "retry", topic, partition, detail=type(err).__name__)
            batch.ready_at = now + self.retry_backoff
            queue = self._queues[batch.tp]
            if not queue:
                self._waiting[batch.tp] = queue
            if self.idempotent:
                insort(queue, batch)
            else:
                queue.insert(0, batch)
            return
        self._give_up(batch, err)

    def _give_up(self, batch: _Batch, err: ClientError) -> None:
        """Fail every record of ``batch`` for good and tell the application."""
        world = self.world
        now = world.env.now
        topic, partition = batch.tp
        for key, _v, msg_id, _ts in batch.records:
            world.trace.record(now, self.name, "send_failed", topic, partition, -1, key, msg_id,
                               detail=type(err).__name__)
        self._notify(batch, err, -1)
        if self.idempotent:
            # Kafka bumps the producer epoch after a batch fails for good, so the batches
            # behind it are numbered afresh instead of being refused forever.
            self._epoch += 1
            self._pid = self.producer_id
