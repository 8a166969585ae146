"""What a consumer owns and where it reads: its partitions and its position in each.

Like the Java client's ``org.apache.kafka.clients.consumer.internals.SubscriptionState``:
the group coordinator hands the consumer an assignment; for each partition the
consumer starts at the group's committed offset, or, if the group never committed
there, where ``auto_offset_reset`` says (``auto.offset.reset``: ``"earliest"`` is the log
start offset, 0 until retention deletes records; ``"latest"`` is the log end, so only
records written from now on are read; ``"none"`` raises
:class:`~simkit.errors.OffsetOutOfRange`). The *position* is the offset of the next
record to fetch; it moves as soon as a fetch returns, before any record is processed.

The same rule handles a position the partition no longer has (or never had): a
committed offset, a position or a seek target below the log start (retention deleted
it) or past the log end. The broker answers the fetch with ``OFFSET_OUT_OF_RANGE`` and
the consumer resets, as both clients do. Each reset is an ``offset_reset`` row in the
trace: the partition, the offset asked for (-1: none), and in ``detail`` why and the new one.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .broker import Broker, Record
from .errors import OffsetOutOfRange

if TYPE_CHECKING:
    from .groups import ConsumerGroup

__all__ = ["OFFSET_RESETS", "OFFSET_RESET_ALIASES", "Subscription"]

#: the values of ``auto_offset_reset`` (Kafka's ``auto.offset.reset``)
OFFSET_RESETS = ("earliest", "latest", "none")
#: librdkafka's other names for them (its ``auto.offset.reset`` takes these too)
OFFSET_RESET_ALIASES = {"smallest": "earliest", "beginning": "earliest", "largest": "latest", "end": "latest",
                        "error": "none"}
TP = tuple[str, int]


class Subscription:
    """A consumer's assigned partitions, its positions, and the assignment waiting to be taken up."""

    __slots__ = ("_plain", "assigned", "auto_offset_reset", "broker", "name", "pending", "positions",
                 "read_committed", "rotate")

    def __init__(self, broker: Broker, auto_offset_reset: str, name: str = ""):
        self.broker = broker
        #: the consumer it belongs to, named in the trace's ``offset_reset`` rows
        self.name = name
        self.auto_offset_reset = auto_offset_reset
        #: ``isolation.level=read_committed``: fetch up to the last stable offset, without aborted records
        self.read_committed = False
        #: the partitions owned now, in the order the assignor gave them
        self.assigned: list[TP] = []
        #: partition -> offset of the next record to fetch
        self.positions: dict[TP, int] = {}
        #: ``(generation, partitions)`` handed over by the coordinator, taken up at the next poll
        self.pending: tuple[int, list[TP]] | None = None
        #: which owned partition the next fetch starts with, so no partition starves the others
        self.rotate = 0
        # a plain Broker's fetch reads up to the log end: a position there has nothing to fetch, and
        # the fetch is skipped (a replicated Cluster reads up to its high watermark, and is always asked)
        self._plain = type(broker).fetch_visible is Broker.fetch_visible

    def clear(self) -> None:
        """Own nothing (partitions revoked, or the consumer crashed)."""
        self.assigned = []
        self.positions = {}

    def adopt(self, group: "ConsumerGroup", *, incremental: bool = False) -> int:
        """Take up the pending assignment; return its generation.

        Eager protocol: every owned partition restarts from the group's committed offset.
        ``incremental`` (the cooperative protocol): a partition owned before and still
        owned keeps its position, as the Java client's ``SubscriptionState.assignFromSubscribed``
        keeps the state of partitions it already had; only new ones start from the commit.
        """
        generation, parts = self.pending  # type: ignore[misc]
        self.pending = None
        before = self.positions if incremental else {}
        self.assigned = parts
        self.positions = {}
        for tp in parts:
            if tp in before:
                self.positions[tp] = before[tp]
                continue
            committed = group.committed_offset(*tp)
            if committed is not None:
                self.positions[tp] = committed  # out of range by now? the first fetch finds out, and resets
            else:
                self.reset(tp, None, "no committed offset")
        return generation

    def reset(self, tp: TP, asked: int | None, why: str) -> int:
        """Move the position in ``tp`` where ``auto_offset_reset`` says, and trace it; return the new position.

        ``asked`` is the offset that was out of range (None: the group had none).
        With ``"none"`` it raises :class:`~simkit.errors.OffsetOutOfRange` instead.
        """
        log = self.broker.log_of(*tp)
        if self.auto_offset_reset == "none":
            raise OffsetOutOfRange(tp[0], tp[1], -1 if asked is None else asked, log.start_offset, log.end_offset,
                                   f"{why}, and auto_offset_reset='none'")
        new = log.start_offset if self.auto_offset_reset == "earliest" else log.end_offset
        self.positions[tp] = new
        if asked is not None or log.start_offset > 0:
            # a group's first start at offset 0 (or at the end) is routine: traced only once retention has a say
            self.broker.world.record(self.name, "offset_reset", topic=tp[0], partition=tp[1],
                                     offset=-1 if asked is None else asked,
                                     detail=f"{why}: reset to {new} (auto_offset_reset={self.auto_offset_reset})")
        return new

    def fetch(self, max_records: int) -> list[Record] | None:
        """Up to ``max_records`` from the owned partitions, starting at a rotating one; None if the broker is down."""
        if not self.assigned:
            return []
        if self.broker.down:
            return None
        out: list[Record] = []
        n = len(self.assigned)
        room = max_records
        rotate = self.rotate
        topics = self.broker.topics if self._plain else None
        for i in range(n):
            tp = self.assigned[(rotate + i) % n]
            if topics is not None:
                log = topics[tp[0]][tp[1]]
                if self.positions[tp] == len(log._stamps) >= log.start_offset:
                    continue  # at the log end: fetch_visible would return nothing and the same position
            try:
                got, after = self.broker.fetch_visible(tp[0], tp[1], self.positions[tp], room, self.read_committed)
            except OffsetOutOfRange as err:
                where = "deleted by retention" if err.offset < err.start else "past the log end"
                self.reset(tp, err.offset, f"offset out of range ({where})")
                got, after = self.broker.fetch_visible(tp[0], tp[1], self.positions[tp], room, self.read_committed)
            if not got and after > self.positions[tp]:
                self.positions[tp] = after  # only control or aborted records: step over them
            if got:
                out.extend(got)
                room -= len(got)
                if room == 0:
                    break
        self.rotate = (rotate + 1) % n
        return out
