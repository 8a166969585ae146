"""How a consumer group shares out partitions: Kafka's range and round-robin assignors.

Both follow the Java classes in ``org.apache.kafka.clients.consumer``
(``RangeAssignor`` and ``RoundRobinAssignor``) for members that all subscribe to
all topics and have no rack or static ids: members are sorted by member id, exactly
as Kafka sorts them, so the same input gives Kafka's assignment.
"""

from __future__ import annotations

from typing import Callable

from .errors import ConfigError

__all__ = ["ASSIGNORS", "assign_range", "assign_round_robin", "resolve_assignor"]

Assignment = dict[str, list[tuple[str, int]]]


def _check(members: list[str], topics: dict[str, int]) -> list[str]:
    if not isinstance(members, (list, tuple)) or not all(isinstance(m, str) and m for m in members):
        raise ConfigError("members", members, "a list of non-empty member id strings")
    if len(set(members)) != len(members):
        raise ConfigError("members", members, "member ids without repeats")
    if not isinstance(topics, dict) or not all(
            isinstance(t, str) and isinstance(n, int) and not isinstance(n, bool) and n >= 1
            for t, n in topics.items()):
        raise ConfigError("topics", topics, "a dict of topic name -> partition count (an int >= 1)")
    return sorted(members)


def assign_range(members: list[str], topics: dict[str, int]) -> Assignment:
    """Kafka's ``RangeAssignor``: per topic, contiguous ranges; the first members get one extra.

    With 3 partitions and 2 members, the first member (by sorted id) gets partitions 0
    and 1 of *every* topic, which is why range assignment piles up on the first members
    when there are many topics.
    """
    ordered = _check(members, topics)
    out: Assignment = {m: [] for m in members}
    if not ordered:
        return out
    for topic in sorted(topics):
        n = topics[topic]
        per, extra = divmod(n, len(ordered))
        for i, member in enumerate(ordered):
            start = per * i + min(i, extra)
            length = per + (1 if i < extra else 0)
            out[member].extend((topic, p) for p in range(start, start + length))
    return {m: sorted(parts) for m, parts in out.items()}


def assign_round_robin(members: list[str], topics: dict[str, int]) -> Assignment:
    """Kafka's ``RoundRobinAssignor``: all partitions, sorted by topic then number, dealt out in turn."""
    ordered = _check(members, topics)
    out: Assignment = {m: [] for m in members}
    if not ordered:
        return out
    i = 0
    for topic in sorted(topics):
        for p in range(topics[topic]):
            out[ordered[i % len(ordered)]].append((topic, p))
            i += 1
    return {m: sorted(parts) for m, parts in out.items()}


ASSIGNORS: dict[str, Callable[[list[str], dict[str, int]], Assignment]] = {
    "range": assign_range,
    "round_robin": assign_round_robin,
}


def resolve_assignor(name: str) -> Callable[[list[str], dict[str, int]], Assignment]:
    """The assignor called ``name`` (``"range"``, Kafka's default, or ``"round_robin"``)."""
    try:
        return ASSIGNORS[name]
    except (KeyError, TypeError):
        raise ConfigError("assignor", name, tuple(ASSIGNORS)) from None
