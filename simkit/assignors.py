"""How a consumer group shares out partitions: Kafka's range, round-robin and cooperative sticky assignors.

Both follow the Java classes in ``clients/src/main/java/org/apache/kafka/clients/consumer/``:
``org.apache.kafka.clients.consumer.RangeAssignor`` (``partition.assignment.strategy``
name ``"range"``) and ``org.apache.kafka.clients.consumer.RoundRobinAssignor`` (Kafka's
name ``"roundrobin"``; here ``"round_robin"``), for the case simkit models: every member
subscribes to every topic, and no member has a rack or a static ``group.instance.id``.

Members are put in the order Kafka puts them
(``AbstractPartitionAssignor.MemberInfo.compareTo``: Java ``String.compareTo`` on the
member id), so the same members and topics give exactly the assignment the Java
assignor gives. Each result maps every member (even an idle one) to its sorted list of
``(topic, partition)`` pairs.

``"cooperative_sticky"`` is ``org.apache.kafka.clients.consumer.CooperativeStickyAssignor``
(KIP-429): it also takes what each member owns now, keeps as much of it as a balanced
assignment allows, and leaves out of this round every partition that moves from one
member to another; the group hands those out in a second round, once their old owners
have given them up (see :mod:`simkit.groups`).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from typing import Any

from .errors import ConfigError

__all__ = [
    "ASSIGNORS",
    "COOPERATIVE",
    "Assignment",
    "assign_cooperative_sticky",
    "assign_range",
    "assign_round_robin",
    "resolve_assignor",
]

Assignment = dict[str, list[tuple[str, int]]]
Assignor = Callable[[list[str], dict[str, int]], Assignment]


def _java_order(s: str) -> bytes:
    """A sort key that orders strings as Java's ``String.compareTo`` does.

    Java compares UTF-16 code units; comparing UTF-16-BE bytes gives the same order.
    It matches Python's own order for all but rare characters beyond U+FFFF.
    """
    return s.encode("utf-16-be", "surrogatepass")


def _check(members: Any, topics: Any) -> list[str]:
    """Validate the inputs and return the members in Kafka's order."""
    if not isinstance(members, (list, tuple)):
        raise ConfigError("members", members, "a list of member id strings")
    for m in members:
        if not isinstance(m, str) or not m:
            raise ConfigError("members", members, f"non-empty member id strings (not {m!r})")
    if len(set(members)) != len(members):
        dup = next(m for m in members if members.count(m) > 1)
        raise ConfigError("members", members, f"member ids without repeats ({dup!r} is there twice)")
    if not isinstance(topics, dict):
        raise ConfigError("topics", topics, "a dict of topic name -> partition count")
    for t, n in topics.items():
        if not isinstance(t, str) or not t:
            raise ConfigError("topics", topics, f"non-empty topic name strings as keys (not {t!r})")
        if isinstance(n, bool) or not isinstance(n, int) or n < 1:
            raise ConfigError(f"topics[{t!r}]", n, "a partition count: an int >= 1")
    return sorted(members, key=_java_order)


def _finish(ordered: list[str], out: Assignment) -> Assignment:
    return {m: sorted(out[m], key=lambda tp: (_java_order(tp[0]), tp[1])) for m in ordered}


def assign_range(members: list[str], topics: dict[str, int]) -> Assignment:
    """Kafka's ``RangeAssignor``: each topic is cut into contiguous ranges, one per member.

    Per topic, with ``n`` partitions and ``c`` members (sorted by id), every member gets
    ``n // c`` partitions and the first ``n % c`` members get one more, taken in partition
    order. So with 3 partitions and 2 members, the first member gets partitions 0 and 1 of
    *every* topic: range assignment piles up on the first members when there are many
    topics. Members beyond the partition count get nothing from that topic.

    Mirrors ``RangeAssignor.assignRanges`` with ``TopicAssignmentState.maxAssignable``.
    """
    ordered = _check(members, topics)
    out: Assignment = {m: [] for m in ordered}
    if not ordered:
        return out
    for topic in sorted(topics, key=_java_order):
        n = topics[topic]
        per_member = n // len(ordered)                   # numPartitionsPerConsumer
        with_extra = n % len(ordered)                    # remainingConsumersWithExtraPartition
        next_partition = 0                               # unassignedPartitions, in order
        for member in ordered:
            if next_partition >= n:
                break
            take = per_member + (1 if with_extra > 0 else 0)   # maxAssignable(consumer)
            out[member].extend((topic, p) for p in range(next_partition, next_partition + take))
            next_partition += take
            if take > per_member:                        # onAssigned
                with_extra -= 1
    return _finish(ordered, out)


def assign_round_robin(members: list[str], topics: dict[str, int]) -> Assignment:
    """Kafka's ``RoundRobinAssignor``: deal all partitions out to the members in turn, like cards.

    The partitions are listed topic by topic (topics sorted by name, as Kafka's
    ``TreeSet``), partition 0 first; the members are sorted by id and taken in a circle
    (Kafka's ``CircularIterator``). With every member subscribed to every topic, members'
    partition counts differ by at most one.
    """
    ordered = _check(members, topics)
    out: Assignment = {m: [] for m in ordered}
    if not ordered:
        return out
    circle = itertools.cycle(ordered)
    for topic in sorted(topics, key=_java_order):        # allPartitionsSorted
        for p in range(topics[topic]):
            out[next(circle)].append((topic, p))
    return _finish(ordered, out)


def assign_cooperative_sticky(members: list[str], topics: dict[str, int],
                              owned: dict[str, list[tuple[str, int]]] | None = None) -> Assignment:
    """Kafka's ``CooperativeStickyAssignor``: balanced, keeping what members own, moving in two rounds.

    ``owned`` maps a member to the partitions it owns now (a new member owns nothing).
    Every member ends with ``n // c`` or ``n // c + 1`` partitions (``minQuota``,
    ``maxQuota``), and keeps as many of its own as that allows, as
    ``AbstractStickyAssignor.constrainedAssign`` does for members that subscribe to the
    same topics: each member keeps up to its quota of what it owns (taking the bigger quota
    while members with ``maxQuota`` are still needed), then the rest is dealt out in
    partition order, first to members below ``minQuota``, then to those that may take one
    more. A partition two members both claim counts as owned by neither. Then, as
    ``CooperativeStickyAssignor.adjustAssignment``, every partition moving away from a live
    owner is left out: it is given in the next round, after its owner revoked it.
    """
    ordered = _check(members, topics)
    owned = {} if owned is None else owned
    out: Assignment = {m: [] for m in ordered}
    if not ordered:
        return out
    every = [(t, p) for t in sorted(topics, key=_java_order) for p in range(topics[t])]
    exists = set(every)
    claims: dict[tuple[str, int], int] = {}
    for m in ordered:
        for tp in set(owned.get(m, ())):
            claims[tp] = claims.get(tp, 0) + 1
    contested = {tp for tp, n in claims.items() if n > 1}     # partitionsWithMultiplePreviousOwners
    min_quota, extra = divmod(len(every), len(ordered))
    max_quota = min_quota + (1 if extra else 0)
    over = 0                                                 # currentNumMembersWithOverMinQuotaPartitions
    under: list[str] = []                                    # unfilledMembersWithUnderMinQuotaPartitions
    exact: list[str] = []                                    # unfilledMembersWithExactlyMinQuotaPartitions
    revoked: set[tuple[str, int]] = set()
    for m in ordered:
        mine = [tp for tp in sorted(owned.get(m, ()), key=lambda tp: (_java_order(tp[0]), tp[1]))
                if tp in exists and tp not in contested]
        if len(mine) < min_quota:
            out[m] = mine
            under.append(m)
        elif len(mine) >= max_quota and over < extra:
            over += 1
            if over == extra:
                exact.clear()
            out[m], gone = mine[:max_quota], mine[max_quota:]
            revoked.update(gone)
        else:
            out[m], gone = mine[:min_quota], mine[min_quota:]
            revoked.update(gone)
            if over < extra:
                exact.append(m)
    kept = {tp for parts in out.values() for tp in parts}
    moving: set[tuple[str, int]] = set()                     # partitionsTransferringOwnership
    current, i = under, 0
    for tp in (tp for tp in every if tp not in kept):
        if i >= len(current):
            if not under and not exact:
                break
            current, i = (under, 0) if under else (exact, 0)
        m = current[i]
        out[m].append(tp)
        if tp in revoked or tp in contested:
            moving.add(tp)
        if len(out[m]) == min_quota and current is under:
            current.pop(i)
            exact.append(m)
        elif len(out[m]) == max_quota:
            over += 1
            current.pop(i)
        else:
            i += 1
    out = {m: [tp for tp in parts if tp not in moving] for m, parts in out.items()}
    return _finish(ordered, out)


ASSIGNORS: dict[str, Assignor] = {
    "cooperative_sticky": assign_cooperative_sticky,
    "range": assign_range,
    "round_robin": assign_round_robin,
}

#: the assignors that rebalance incrementally (KIP-429's COOPERATIVE protocol); the others are eager
COOPERATIVE: frozenset[str] = frozenset({"cooperative_sticky"})


def resolve_assignor(name: str) -> Assignor:
    """The assignor called ``name``: ``"range"`` (Kafka's default), ``"round_robin"`` or ``"cooperative_sticky"``."""
    if isinstance(name, str) and name in ASSIGNORS:
        return ASSIGNORS[name]
    raise ConfigError("assignor", name, tuple(ASSIGNORS))
