"""What a consumer owns and where it reads: its partitions and its position in each.

Like the Java client's ``org.apache.kafka.clients.consumer.internals.SubscriptionState``:
the group coordinator hands the consumer an assignment; for each partition the
consumer starts at the group's committed offset, or, if the group never committed
there, where ``auto_offset_reset`` says (``auto.offset.reset``: ``"earliest"`` is offset
0, ``"latest"`` is the log end, so only records written from now on are read). The
*position* is the offset of the next record to fetch; it moves as soon as a fetch
returns, before any record is processed.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .broker import Broker, Record

if TYPE_CHECKING:
    from .groups import ConsumerGroup

__all__ = ["OFFSET_RESETS", "Subscription"]

#: the values of ``auto_offset_reset`` (Kafka's ``auto.offset.reset``)
OFFSET_RESETS = ("earliest", "latest")
TP = tuple[str, int]


class Subscription:
    """A consumer's assigned partitions, its positions, and the assignment waiting to be taken up."""

    __slots__ = ("assigned", "auto_offset_reset", "broker", "pending", "positions", "read_committed", "rotate")

    def __init__(self, broker: Broker, auto_offset_reset: str):
        self.broker = broker
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
                self.positions[tp] = committed
            else:
                log = self.broker.log_of(*tp)
                self.positions[tp] = 0 if self.auto_offset_reset == "earliest" else log.end_offset
        return generation

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
        for i in range(n):
            tp = self.assigned[(rotate + i) % n]
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
