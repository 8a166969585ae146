"""Consumer groups: membership, partition assignment, rebalances and committed offsets.

Follows Kafka's group coordinator with the eager rebalance protocol (or the cooperative
one, and static members, described at the end):

* Every join or departure starts a rebalance. Each live member rejoins from its next
  ``poll()`` (giving up its partitions first, and committing them if it auto-commits);
  when all have rejoined, the coordinator starts a new *generation*: it runs the
  assignor (``range`` or ``round_robin``, as ``partition.assignment.strategy``) over
  the members, sorted by member id, and hands each its partitions. Until then the
  group stands still, which is why a member busy with a long batch slows everyone's
  rebalance.
* A member that crashes sends no more heartbeats; the coordinator removes it
  ``session_timeout`` ms later (``session.timeout.ms``, 45000 by default since
  Kafka 3.0) and its partitions move. Until then they are stuck with a dead member.
  Heartbeats are not simulated one by one; the effect is the same.
* Committed offsets are stored per partition (the offset of the *next* record to
  read). A new owner starts from there, so whatever was processed but not committed
  is delivered again.
* A commit from an older generation, or from a member no longer in the group, is
  refused (``CommitFailedException``).
* A member whose application does not poll within ``max_poll_interval`` ms
  (``max.poll.interval.ms``) leaves the group: its client's heartbeat thread sends
  LeaveGroup. Its partitions move at once while it may still be busy with a record
  (a zombie), and it rejoins as a new member at its next poll
  (see :mod:`simkit.poll_loop`).

With ``assignor="cooperative_sticky"`` the group follows KIP-429's incremental
cooperative protocol (the Java ``ConsumerCoordinator`` with
``RebalanceProtocol.COOPERATIVE``): members rejoin *without* giving anything up and go
on consuming; the assignor keeps each member's partitions where balance allows and
leaves out the ones that move; each member then revokes only what it lost (committing
it first) and asks for a second round, in which those partitions reach their new owner.
Only the partitions that move stand still.

A member with a ``group_instance_id`` is a *static member* (KIP-345,
``group.instance.id``): when it comes back under the same id before
``session_timeout`` has passed, the coordinator swaps the new member id in for the old
one and hands it the same partitions, with no rebalance; a static member sends no
LeaveGroup when it closes, so its partitions wait for it for ``session_timeout`` ms.
"""

from __future__ import annotations

from dataclasses import dataclass
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Callable

import simpy

from .assignors import COOPERATIVE, resolve_assignor
from .errors import CommitFailed, ConfigError
from .trace import EVENTS
from .world import World

if TYPE_CHECKING:
    from .broker import Broker
    from .consumer import Consumer

__all__ = ["DRAIN_EVERY", "ConsumerGroup", "ConsumerGroupMetadata", "until_drained"]

#: How often (ms) :func:`until_drained` looks whether a group has nothing left to do.
DRAIN_EVERY = 20.0

TP = tuple[str, int]

# the trace's vocabulary gains the rebalance row this module's protocols write (to move into trace.EVENTS)
EVENTS.setdefault("revoke", "a consumer gave up partitions in a rebalance (detail: the list)")


@dataclass(frozen=True)
class ConsumerGroupMetadata:
    """Who a consumer is in its group right now: what a transactional producer sends with its offsets.

    Kafka's ``ConsumerGroupMetadata`` (``KafkaConsumer.groupMetadata()``, confluent-kafka's
    ``consumer_group_metadata()``), from :meth:`simkit.consumer.Consumer.group_metadata`.
    With it, ``send_offsets_to_transaction`` is refused when the member's generation is
    stale, so a zombie cannot commit offsets of partitions that moved on (KIP-447).
    """

    group_id: str
    generation_id: int
    member_id: str
    group_instance_id: str | None = None


class ConsumerGroup:
    """A consumer group as its coordinator on the broker sees it."""

    def __init__(
        self,
        world: World,
        broker: "Broker",
        group_id: str,
        *,
        assignor: str = "range",
        session_timeout: float = 45000,
    ):
        if isinstance(session_timeout, bool) or not isinstance(session_timeout, (int, float)) or session_timeout <= 0:
            raise ConfigError("session_timeout", session_timeout, "a number of ms > 0")
        if group_id in broker.groups:
            raise ConfigError("group", group_id, "a group id not created yet")
        self.world = world
        self.broker = broker
        self.group_id = group_id
        self.assignor_name = assignor
        self.assignor: Callable[..., dict[str, list[TP]]] = resolve_assignor(assignor)
        #: True with KIP-429's incremental protocol: members keep their partitions while they rejoin
        self.cooperative = assignor in COOPERATIVE
        #: group.instance.id -> the member id that holds it now (static members, KIP-345)
        self.static: dict[str, str] = {}
        self.session_timeout = float(session_timeout)
        self.members: dict[str, Any] = {}
        self.generation = 0
        self.assignment: dict[str, list[TP]] = {}
        self.committed: dict[TP, int] = {}
        self.component = f"group:{group_id}"
        self.rebalancing = False
        self._rejoined: set[str] = set()
        broker.groups[group_id] = self

    # -- membership -------------------------------------------------------------------
    def join(self, member_id: str, member: Any, instance_id: str | None = None) -> None:
        """Add a member and rebalance. ``member`` has ``topics``, ``on_rebalance`` and ``on_assignment``.

        A static member (``instance_id`` given) whose previous member id is still in the
        group, because its session has not timed out, takes over that member's place and
        partitions without a rebalance (KIP-345).
        """
        if instance_id is not None:
            old = self.static.get(instance_id)
            self.static[instance_id] = member_id
            if old is not None and old in self.members and not self.rebalancing:
                del self.members[old]
                self.members[member_id] = member
                parts = self.assignment.pop(old, [])
                self.assignment[member_id] = parts
                self.world.record(self.component, "join",
                                  detail=f"{member_id} replaces {old} (static member {instance_id})")
                member.on_assignment(member_id, self.generation, list(parts))
                return
            if old is not None and old in self.members:
                self.members.pop(old)
                self._rejoined.discard(old)
        self.members[member_id] = member
        self.world.record(self.component, "join", detail=member_id)
        self.rebalance()
        self.rejoin(member_id)

    def leave(self, member_id: str, why: str = "left") -> None:
        """Remove a member (a clean close, or the session timeout after a crash) and rebalance."""
        if self.members.pop(member_id, None) is not None:
            self.world.record(self.component, "leave", detail=f"{member_id}: {why}")
            self._rejoined.discard(member_id)
            self.rebalance()

    def member_crashed(self, member_id: str) -> None:
        """Start the session timeout of a member that stopped heartbeating."""
        env = self.world.env

        def _expire():  # type: ignore[no-untyped-def]
            yield env.timeout(self.session_timeout)
            self.leave(member_id, f"session timeout after {self.session_timeout:g} ms")

        env.process(_expire())

    def rebalance(self) -> None:
        """Start a rebalance (or widen the one under way): every live member must rejoin."""
        if not self.rebalancing:
            self.rebalancing = True
            self._rejoined = set()
        for member_id, member in list(self.members.items()):
            if member_id not in self._rejoined:
                member.on_rebalance(member_id)
        self._maybe_complete()

    def must_rejoin(self, member_id: str) -> bool:
        """True while a rebalance waits for this member to rejoin."""
        return self.rebalancing and member_id in self.members and member_id not in self._rejoined

    def rejoin(self, member_id: str) -> None:
        """A member has given up its partitions and asks for new ones."""
        if member_id in self.members:
            self._rejoined.add(member_id)
            self._maybe_complete()

    def _maybe_complete(self) -> None:
        if not self.rebalancing or not set(self.members) <= self._rejoined:
            return
        self.rebalancing = False
        self.generation += 1
        topics: dict[str, int] = {}
        for member in self.members.values():
            for t in member.topics:
                topics[t] = self.broker.partitions(t)
        members = sorted(self.members)
        if self.cooperative:
            owned = {m: self.assignment.get(m, []) for m in members}
            self.assignment = self.assignor(members, topics, owned) if members else {}
        else:
            self.assignment = self.assignor(members, topics) if members else {}
        for member_id in members:
            parts = self.assignment.get(member_id, [])
            self.world.record(self.component, "assign",
                              detail=f"{member_id} gen {self.generation}: {parts}")
            self.members[member_id].on_assignment(member_id, self.generation, list(parts))

    # -- offsets ----------------------------------------------------------------------
    def commit(self, member_id: str, generation: int, offsets: dict[TP, int]) -> None:
        """Store committed offsets, or raise if the broker is down or the generation is stale."""
        world = self.world
        self.broker.check_up("offset commit")
        self.check_generation(member_id, generation, offsets)
        now = world.env.now
        for (topic, partition), off in offsets.items():
            if self.committed.get((topic, partition)) != off:
                self.committed[(topic, partition)] = off
                world.trace.record(now, member_id.rsplit(".", 1)[0], "commit", topic, partition, off,
                                   detail=self.group_id)

    def check_generation(self, member_id: str, generation: int, offsets: dict[TP, int]) -> None:
        """Raise :class:`~simkit.errors.CommitFailed` (and write ``commit_failed`` rows) unless ``member_id``
        is a member of the current generation: Kafka's ILLEGAL_GENERATION / UNKNOWN_MEMBER_ID, for a plain
        commit and for offsets sent in a transaction (KIP-447) alike."""
        if generation != self.generation or member_id not in self.members:
            for (topic, partition), off in offsets.items():
                self.world.record(member_id.rsplit(".", 1)[0], "commit_failed", topic=topic, partition=partition,
                                  offset=off, detail="rebalanced: generation is stale")
            raise CommitFailed(f"{member_id} is not in generation {self.generation} of {self.group_id}")

    def committed_offset(self, topic: str, partition: int) -> int | None:
        """The group's committed offset for a partition, or None if it never committed."""
        return self.committed.get((topic, partition))

    def reset_offsets(self, topic: str, to: str | int = "earliest", *, time: float | None = None) -> None:
        """Move the group's committed offsets, as ``kafka-consumer-groups --reset-offsets`` does.

        ``to`` is ``"earliest"`` (the log start), ``"latest"``, an offset (for every partition;
        one retention deleted, or past the end, is clamped to the log, as the tool does), or
        use ``time=`` (ms) for the first record at or after that time. Run it while no
        member is consuming, as Kafka requires; the members then start from there.
        """
        if self.members:
            raise ConfigError("group", self.group_id, "a group with no live members (stop its consumers first)")
        logs = self.broker.log_of(topic)
        for log in logs:
            if time is not None:
                off = log.offset_for_time(time)
            elif to == "earliest":
                off = log.start_offset
            elif to == "latest":
                off = log.end_offset
            elif isinstance(to, int) and not isinstance(to, bool) and to >= 0:
                off = max(log.start_offset, min(to, log.end_offset))  # clamped to the log, as the tool does
            else:
                raise ConfigError("to", to, '"earliest", "latest" or an offset >= 0')
            self.committed[(topic, log.partition)] = off
            self.world.record(self.component, "seek", topic=topic, partition=log.partition, offset=off,
                              detail="reset offsets")


def until_drained(world: World, broker: Broker, group: ConsumerGroup, members: Sequence[Consumer],
                  after: simpy.Event, every: float = DRAIN_EVERY) -> simpy.Event:
    """An event that fires once ``after`` has fired and the group has nothing left to do.

    "Nothing left" is Kafka's zero consumer lag (the committed offset of every
    partition equals its log end offset) plus every consumer in ``members`` waiting idle
    for new records, checked every ``every`` ms. Use it to end a run when the work is
    done: ``world.run(until=sk.until_drained(world, broker, group, [consumer], sent))``.
    """
    env = world.env
    done = env.event()

    def watch():  # type: ignore[no-untyped-def]
        yield after
        while True:
            if all(c.idle for c in members) and all(
                    (group.committed_offset(topic, log.partition) or 0) == log.end_offset
                    for topic in {t for c in members for t in c.topics}
                    for log in broker.log_of(topic)):
                done.succeed()
                return
            yield env.timeout(every)

    env.process(watch())
    return done
