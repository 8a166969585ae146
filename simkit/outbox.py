"""The transactional outbox: an event table written with the state, and a relay that drains it.

The problem it solves: a service that commits a row to its database and *then*
publishes an event to the broker does two writes to two systems, and a crash between
them leaves one done and the other not (a "dual write"). With an outbox the service
puts the event into an ``outbox`` table inside the very transaction that changes the
state, so both exist or neither does. A separate process, the :class:`Relay`
(a "polling publisher"), reads the unpublished rows in order, publishes each, waits
for the broker's acknowledgement and only then marks the row published.

The relay publishes at least once, not exactly once: if it crashes after the broker
acknowledged a row and before the mark is committed, it reads the row again when it
comes back and publishes it a second time. Kafka's idempotent producer does not help
here: it drops retries of one batch inside one producer session (producer id plus
sequence numbers), while the relay's second publish is a new ``send`` of the same
event. That is why consumers of an outbox dedupe by the event id the row carries
(Debezium's outbox event router puts the row id in the record for the same reason).

What operators watch, and :meth:`Outbox.monitors` samples: the *lag* (how many
committed rows still have no ``published_at``) and
the *age* (how long the oldest of them has waited). A relay that died silently shows
up as both climbing while the service keeps answering.
"""

from __future__ import annotations

from typing import Any, Generator, Iterable, NamedTuple

import simpy

from .database import Database, Transaction
from .distributions import DistributionLike, as_distribution
from .errors import ClientError, ConfigError, Crash, DatabaseUnavailable
from .faults import CrashPlan
from .monitor import Monitor
from .producer import Producer
from .world import World

__all__ = ["Outbox", "OutboxRow", "Relay"]


class OutboxRow(NamedTuple):
    """One row of the outbox table, as committed."""

    #: position in the table, given when the row is added (like a ``bigserial`` primary key)
    seq: int
    #: the event's id; the relay publishes it as the record's ``msg_id``
    event_id: Any
    topic: str
    key: Any
    payload: Any
    #: when the service wrote the row (the transaction's time, as Postgres' ``now()``), ms
    created_at: float
    #: when the relay marked it published, ms, or None while it waits
    published_at: float | None = None


class Outbox:
    """An outbox table in ``db``: events written in the service's own transactions.

    ``add(tx, ...)`` puts the event in the transaction that changes the state;
    :meth:`unpublished` is what a relay reads (committed rows not yet published, in
    ``seq`` order); :meth:`lag` and :meth:`age` are the two numbers to alert on.
    """

    def __init__(self, db: Database, table: str = "outbox"):
        if not isinstance(db, Database):
            raise ConfigError("db", db, "a simkit.Database")
        self.db = db
        self.world: World = db.world
        db.create_table(table)
        self.table = table
        self._next_seq = 0
        # rows added and not yet known to be published or abandoned (an index, like a partial
        # index on ``published_at is null``): the relay reads through it instead of the whole table
        self._open: dict[int, Transaction] = {}

    def add(self, tx: Transaction, event_id: Any, topic: str, key: Any = None, payload: Any = None) -> int:
        """Write an event row in ``tx``; it becomes visible to the relay when ``tx`` commits. Returns its seq."""
        if not isinstance(tx, Transaction) or tx.db is not self.db:
            raise ConfigError("tx", tx, f"a transaction of the outbox's database {self.db.name!r}")
        if not isinstance(topic, str) or not topic:
            raise ConfigError("topic", topic, "a non-empty topic name")
        seq = self._next_seq
        self._next_seq += 1
        tx.put(self.table, seq, OutboxRow(seq, event_id, topic, key, payload, self.world.now))
        self._open[seq] = tx
        return seq

    def mark_published(self, tx: Transaction, row: OutboxRow) -> None:
        """Write, in ``tx``, that ``row`` was published; the relay commits it after the broker's ack."""
        tx.put(self.table, row.seq, row._replace(published_at=self.world.now))

    def unpublished(self, limit: int | None = None) -> list[OutboxRow]:
        """Committed rows not yet marked published, oldest ``seq`` first (at most ``limit``).

        A row whose transaction has not committed yet is skipped, as a reader in another
        transaction would; if it commits later it is read then (behind higher seqs).
        """
        rows = self.db.tables[self.table]
        out: list[OutboxRow] = []
        gone: list[int] = []
        for seq, tx in self._open.items():
            row = rows.get(seq)
            if row is None:
                if tx.done:  # aborted or refused: the row never existed
                    gone.append(seq)
                continue
            if row.published_at is not None:
                gone.append(seq)
                continue
            out.append(row)
            if limit is not None and len(out) >= limit:
                break
        for seq in gone:
            del self._open[seq]
        return out

    def lag(self) -> int:
        """Outbox lag: how many committed rows wait to be published."""
        return len(self.unpublished())

    def age(self) -> float:
        """Outbox age: ms the oldest unpublished committed row has waited (0 when none waits)."""
        rows = self.unpublished()
        if not rows:
            return 0.0
        return self.world.now - min(r.created_at for r in rows)

    def monitors(
        self,
        interval: float = 1000,
        alert_lag: float | None = None,
        alert_age: float | None = None,
        until: float | None = None,
    ) -> dict[str, Monitor]:
        """Sample ``outbox_lag`` (rows) and ``outbox_age`` (ms) every ``interval`` ms.

        Each monitor writes an ``alert`` row to the trace when its sample goes above its
        threshold (``alert_lag`` rows, ``alert_age`` ms; None for no alert) and a
        ``resolved`` row when it falls back.
        """
        return {
            "outbox_lag": Monitor(self.world, "outbox_lag", self.lag, interval=interval,
                                  threshold=alert_lag, until=until),
            "outbox_age": Monitor(self.world, "outbox_age", self.age, interval=interval,
                                  threshold=alert_age, until=until),
        }


class Relay:
    """The process that drains an outbox into the broker, at least once.

    Every ``poll_interval`` ms it reads up to ``batch_size`` unpublished rows (at once
    again when the batch was full) and, one row at a time, in order:

    1. ``outbox_read``: takes the row (crash point ``after_read``);
    2. publishes it with ``producer`` and waits for the acknowledgement,
       ``outbox_published`` (crash point ``after_publish``: the record is in the broker
       and the row still says unpublished, the window that makes duplicates);
    3. commits the mark in a database transaction, ``outbox_marked`` (crash point
       ``after_mark``).

    A failed publish (the producer gave up) or a refused mark stops the batch; the
    row is read again on the next poll, so order holds and nothing is skipped.
    ``crash_rate`` and ``crash_schedule`` follow :class:`~simkit.faults.CrashPlan`
    (counting rows handled, re-reads included); after a crash the relay comes back
    after ``restart_delay`` ms. ``dies_at`` (ms) kills it for good: the rows pile up
    while the service that writes them keeps answering.
    """

    POINTS = ("after_read", "after_publish", "after_mark")

    def __init__(
        self,
        world: World,
        outbox: Outbox,
        producer: Producer,
        name: str = "relay",
        *,
        poll_interval: float = 100,
        batch_size: int = 10,
        crash_rate: float = 0.0,
        crash_schedule: Iterable[tuple[int, str]] = (),
        restart_delay: DistributionLike = 1000,
        dies_at: float | None = None,
        start: float = 0,
    ):
        if not isinstance(outbox, Outbox):
            raise ConfigError("outbox", outbox, "a simkit.Outbox")
        if not isinstance(producer, Producer):
            raise ConfigError("producer", producer, "a simkit.Producer")
        if isinstance(poll_interval, bool) or not isinstance(poll_interval, (int, float)) or poll_interval <= 0:
            raise ConfigError("poll_interval", poll_interval, "a number of ms > 0")
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise ConfigError("batch_size", batch_size, "an int >= 1")
        if isinstance(start, bool) or not isinstance(start, (int, float)) or start < 0:
            raise ConfigError("start", start, "a time in ms >= 0")
        if dies_at is not None and (isinstance(dies_at, bool) or not isinstance(dies_at, (int, float))
                                    or dies_at < world.now):
            raise ConfigError("dies_at", dies_at, f"None, or a time in ms >= now ({world.now})")
        self.world = world
        self.outbox = outbox
        self.producer = producer
        self.name = world.claim_name(name)
        self.poll_interval = float(poll_interval)
        self.batch_size = batch_size
        self.restart_delay = as_distribution("restart_delay", restart_delay)
        self.crash_plan = CrashPlan(world, name, self.POINTS, crash_rate, crash_schedule)
        self._rng = world.rng(f"{name}/timing")
        self.dies_at = None if dies_at is None else float(dies_at)
        self.dead = False
        self._current: Any = None  # the event id of the row in hand, for the crash row
        self.process = world.env.process(self._life(float(start)))
        if dies_at is not None:
            world.env.process(self._death(float(dies_at)))

    def _death(self, at: float) -> Generator[simpy.Event, Any, None]:
        env = self.world.env
        yield env.timeout(at - env.now)
        self.dead = True
        if self.process.is_alive:
            self.process.interrupt("died")

    def _life(self, start: float) -> Generator[simpy.Event, Any, None]:
        env = self.world.env
        try:
            if start:
                yield env.timeout(start)
            while True:
                try:
                    yield from self._run()
                except Crash as crash:
                    self.crash_plan.disarm()
                    self.world.record(self.name, "crash", msg_id=self._current, detail=crash.point)
                    self._current = None
                    yield env.timeout(self.restart_delay.sample(self._rng))
                    self.world.record(self.name, "restart")
        except simpy.Interrupt:
            self.crash_plan.disarm()
            self.world.record(self.name, "crash", msg_id=self._current, detail="died: no restart")

    def _run(self) -> Generator[simpy.Event, Any, None]:
        env = self.world.env
        while True:
            if self.outbox.db.down:  # the read is refused; try again on the next poll
                yield env.timeout(self.poll_interval)
                continue
            rows = self.outbox.unpublished(self.batch_size)
            done = 0
            for row in rows:
                ok = yield from self._relay(row)
                if not ok:
                    break
                done += 1
            if not rows or done < len(rows) or len(rows) < self.batch_size:
                yield env.timeout(self.poll_interval)

    def _relay(self, row: OutboxRow) -> Generator[simpy.Event, Any, bool]:
        """Publish one row and mark it; False when the publish or the mark failed."""
        world = self.world
        plan = self.crash_plan
        plan.arm()
        self._current = row.event_id
        world.record(self.name, "outbox_read", topic=row.topic, key=row.key, msg_id=row.event_id,
                     detail=f"row {row.seq}")
        plan.hit("after_read")
        try:
            yield self.producer.send(row.topic, row.payload, key=row.key, msg_id=row.event_id)
        except ClientError:  # the producer wrote send_failed; the row waits for the next poll
            plan.disarm()
            self._current = None
            return False
        world.record(self.name, "outbox_published", topic=row.topic, key=row.key, msg_id=row.event_id,
                     detail=f"row {row.seq}")
        plan.hit("after_publish")
        tx = self.outbox.db.transaction(msg_id=row.event_id)
        self.outbox.mark_published(tx, row)
        try:
            yield from tx.commit()
        except DatabaseUnavailable:  # the database wrote db_rejected; the row will be published again
            plan.disarm()
            self._current = None
            return False
        world.record(self.name, "outbox_marked", topic=row.topic, key=row.key, msg_id=row.event_id,
                     detail=f"row {row.seq}")
        plan.hit("after_mark")
        plan.disarm()
        self._current = None
        return True
