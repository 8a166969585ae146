"""Which partition a record goes to, computed exactly as Apache Kafka's Java producer does.

* Keyed records with the default partitioner: ``toPositive(murmur2(keyBytes)) % numPartitions``
  (``org.apache.kafka.clients.producer.internals.BuiltInPartitioner.partitionForKey``,
  called from ``KafkaProducer.partition``). One key always lands on one partition, and it
  is the partition the Java client picks for the same bytes. ``str`` keys are UTF-8
  encoded first, as Kafka's ``org.apache.kafka.common.serialization.StringSerializer`` does.
* ``"round_robin"``: ``org.apache.kafka.clients.producer.RoundRobinPartitioner`` ignores the
  key and deals records to partitions 0, 1, 2, ... in turn, with one counter per topic.
* ``"sticky"`` and keyless records under the default: the sticky partitioner of KIP-480
  (``org.apache.kafka.clients.producer.internals.StickyPartitionCache``, used by
  ``UniformStickyPartitioner``) keeps sending to one randomly chosen partition until a
  batch is sent, then picks another one at random. KIP-794's ``BuiltInPartitioner`` (Kafka
  3.3+) keeps the idea but switches after ``batch.size`` bytes and may redraw the same
  partition; simkit follows KIP-480's "new batch, new partition". The random draws come from a
  ``random.Random`` you inject, so a seeded run always picks the same partitions.

librdkafka, the client inside confluent-kafka (what a Python learner gets), has its own
``partitioner`` setting (CONFIGURATION.md):

* ``"consistent_random"``, librdkafka's *default*: ``rd_crc32(key) % partitions``
  (``rd_kafka_msg_partitioner_consistent_random`` in ``src/rdkafka_msg.c``), so the same
  key lands on a *different* partition than the Java client puts it on. A key that is
  ``None`` or empty goes to a sticky partition (``rd_kafka_msg_partitioner``: with
  ``sticky.partitioning.linger.ms`` > 0, the default 10, NULL keys and empty keys under
  consistent_random use ``rd_kafka_msg_sticky_partition``).
* ``"murmur2_random"``: the Java client's placement, murmur2 of the key; only ``None``
  keys go to the sticky partition, an empty key is hashed. Choose it in confluent-kafka
  with ``{"partitioner": "murmur2_random"}`` to agree with Java producers.

librdkafka's sticky partition changes every ``sticky.partitioning.linger.ms`` rather
than at every new batch; simkit switches at every new batch for both clients.

Every partitioner here is called as ``p(key, partitions)`` (``topic=`` may be given as a
keyword, to keep Kafka's per-topic counters apart) and returns a partition number.
"""

from __future__ import annotations

import operator
import random
import struct
import zlib
from collections.abc import Callable
from typing import Any

from .errors import ConfigError

__all__ = [
    "ConsistentRandomPartitioner",
    "KeyPartitioner",
    "PARTITIONERS",
    "RoundRobinPartitioner",
    "StickyPartitioner",
    "consistent_partition",
    "murmur2",
    "partition_for",
    "resolve_partitioner",
    "to_positive",
]

_SEED = 0x9747B28C  # Utils.murmur2: int seed = 0x9747b28c
_M = 0x5BD1E995     # final int m = 0x5bd1e995
_R = 24             # final int r = 24
_MASK = 0xFFFFFFFF  # Java ints are 32 bits: every product wraps around


def murmur2(data: bytes | bytearray | memoryview) -> int:
    """Kafka's 32-bit murmur2 hash of ``data``, as the signed int Java returns.

    A line-by-line port of ``org.apache.kafka.common.utils.Utils.murmur2`` (file
    ``clients/src/main/java/org/apache/kafka/common/utils/Utils.java``). Java does the
    arithmetic in wrapping 32-bit ints; here every step is masked to 32 bits instead,
    and the result is turned back into a signed number at the end.
    """
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise ConfigError("data", data, "bytes, bytearray or memoryview (encode a str first)")
    data = bytes(data)
    length = len(data)
    h = (_SEED ^ length) & _MASK
    whole = length & ~3
    # Four bytes at a time, little-endian, as Java's (data[i4+0] & 0xff) + ... << 24.
    for (k,) in struct.iter_unpack("<I", data[:whole]):
        k = (k * _M) & _MASK
        k ^= k >> _R  # Java's >>> on a value already held as unsigned
        k = (k * _M) & _MASK
        h = (h * _M) & _MASK
        h ^= k
    # The last 1-3 bytes: Java's switch (length % 4) falls through 3 -> 2 -> 1.
    rest = length & 3
    if rest == 3:
        h ^= data[whole + 2] << 16
    if rest >= 2:
        h ^= data[whole + 1] << 8
    if rest >= 1:
        h ^= data[whole]
        h = (h * _M) & _MASK
    h ^= h >> 13
    h = (h * _M) & _MASK
    h ^= h >> 15
    return h - (1 << 32) if h & 0x80000000 else h


def to_positive(n: int) -> int:
    """Kafka's ``Utils.toPositive``: ``n & 0x7fffffff``, i.e. clear the sign bit.

    Not ``abs(n)``: in Java ``Math.abs(Integer.MIN_VALUE)`` is still negative, which is
    why Kafka masks instead. ``to_positive(-1)`` is ``2**31 - 1``, ``to_positive(-2**31)`` is 0.
    """
    return n & 0x7FFFFFFF


def _key_bytes(key: Any) -> bytes:
    """The bytes Kafka hashes for ``key``: UTF-8 for ``str`` (StringSerializer), bytes as they are."""
    if isinstance(key, str):
        return key.encode("utf-8")
    if isinstance(key, (bytes, bytearray, memoryview)):
        return bytes(key)
    if isinstance(key, int):
        raise ConfigError("key", key, "a str or bytes key: Kafka hashes the serialized bytes and an int has "
                          "more than one byte form, so pass str(key) (StringSerializer) or bytes")
    raise ConfigError("key", key, "a str (UTF-8 encoded, as Kafka's StringSerializer does) or bytes")


def _check_partitions(partitions: Any) -> int:
    if isinstance(partitions, bool) or not isinstance(partitions, int) or partitions < 1:
        raise ConfigError("partitions", partitions, "an int >= 1 (the topic's partition count)")
    return partitions


def partition_for(key: str | bytes, partitions: int) -> int:
    """The partition Kafka's default partitioner gives a record with this key.

    ``toPositive(murmur2(keyBytes)) % partitions``, as
    ``org.apache.kafka.clients.producer.internals.BuiltInPartitioner.partitionForKey``.
    ``str`` keys are UTF-8 encoded first; an ``int`` key raises :class:`ConfigError`.
    """
    n = _check_partitions(partitions)
    return to_positive(murmur2(_key_bytes(key))) % n


def consistent_partition(key: str | bytes, partitions: int) -> int:
    """The partition librdkafka's ``consistent`` partitioner gives this key: ``crc32(key) % partitions``.

    ``rd_kafka_msg_partitioner_consistent`` computes ``rd_crc32(key, keylen) % partition_cnt``
    with the standard reflected CRC-32 (the one ``zlib.crc32`` computes), as an unsigned
    number. ``str`` keys are UTF-8 encoded first, as confluent-kafka does.
    """
    n = _check_partitions(partitions)
    return zlib.crc32(_key_bytes(key)) % n


class RoundRobinPartitioner:
    """Kafka's ``org.apache.kafka.clients.producer.RoundRobinPartitioner``.

    Ignores the key. Each topic has its own counter starting at 0, and the record goes
    to ``toPositive(counter++) % partitions``: 0, 1, 2, 0, 1, 2, ... with 3 partitions.
    """

    name = "round_robin"

    def __init__(self) -> None:
        self._counters: dict[str | None, int] = {}

    def __call__(self, key: Any, partitions: int, topic: str | None = None) -> int:
        n = partitions if type(partitions) is int and partitions > 0 else _check_partitions(partitions)
        count = self._counters.get(topic, 0)
        self._counters[topic] = (count + 1) & _MASK  # Java's AtomicInteger wraps at 2**32
        return to_positive(count) % n


class StickyPartitioner:
    """Kafka's sticky partitioner (KIP-480): every record sticks to one partition until a batch is sent.

    Follows ``org.apache.kafka.clients.producer.internals.StickyPartitionCache`` (as used by
    ``UniformStickyPartitioner``, which ignores keys): the first record of a topic picks a
    random partition; :meth:`new_batch` then picks a *different* random partition
    (when there is more than one). ``rng`` must be a ``random.Random`` you own, so the
    same seed gives the same partitions.
    """

    name = "sticky"

    def __init__(self, rng: random.Random):
        if not isinstance(rng, random.Random):
            raise ConfigError("rng", rng, "a random.Random instance, e.g. world.rng('producer/partitioner')")
        self._rng = rng
        self._current: dict[str | None, int] = {}
        self._counts: dict[str | None, int] = {}

    def _sticky(self, partitions: int, topic: str | None) -> int:
        n = _check_partitions(partitions)
        self._counts[topic] = n
        current = self._current.get(topic)
        if current is None or current >= n:  # StickyPartitionCache.partition: none cached yet
            current = self._current[topic] = self._rng.randrange(n)
        return current

    def new_batch(self, topic: str | None = None) -> None:
        """A batch was sent: switch the sticky partition (of ``topic``, or of every topic if None).

        As ``StickyPartitionCache.nextPartition``: with one partition it stays; otherwise
        it draws again until the draw differs from the partition it is leaving.
        """
        for t in (list(self._current) if topic is None else [topic] if topic in self._current else []):
            old, n = self._current[t], self._counts[t]
            if n < 2:
                continue
            new = old
            while new == old:
                new = self._rng.randrange(n)
            self._current[t] = new

    def __call__(self, key: Any, partitions: int, topic: str | None = None) -> int:
        return self._sticky(partitions, topic)

    def stuck_to(self) -> dict[str | None, int]:
        """The partition each topic is sticking to now (topics that have had a record)."""
        return dict(self._current)


class KeyPartitioner(StickyPartitioner):
    """Kafka's default partitioner: murmur2 of the key for keyed records, sticky for keyless ones.

    Like ``KafkaProducer.partition``: a record with a key goes to
    ``BuiltInPartitioner.partitionForKey`` (see :func:`partition_for`); a record whose key
    is ``None`` goes to the sticky partition. An empty key ``b""`` is still a key.
    """

    name = "key"

    def __call__(self, key: Any, partitions: int, topic: str | None = None) -> int:
        if key is None:
            return self._sticky(partitions, topic)
        return partition_for(key, partitions)


class ConsistentRandomPartitioner(StickyPartitioner):
    """librdkafka's default partitioner, ``consistent_random``: CRC32 of the key; sticky for empty keys.

    A key with at least one byte goes to :func:`consistent_partition`; a ``None`` or empty
    key goes to the sticky partition, as ``rd_kafka_msg_partitioner`` does with the default
    ``sticky.partitioning.linger.ms=10``.
    """

    name = "consistent_random"

    def __call__(self, key: Any, partitions: int, topic: str | None = None) -> int:
        if key is None or (isinstance(key, (str, bytes, bytearray, memoryview)) and len(key) == 0):
            return self._sticky(partitions, topic)
        return consistent_partition(key, partitions)


class _Checked:
    """A learner's partitioner function, with every answer checked before it is used."""

    def __init__(self, fn: Callable[[Any, int], int]):
        self.fn = fn
        self.name: str = getattr(fn, "__name__", None) or type(fn).__name__

    def __call__(self, key: Any, partitions: int, topic: str | None = None) -> int:
        n = _check_partitions(partitions)
        answer = self.fn(key, n)
        try:
            p = operator.index(answer) if not isinstance(answer, bool) else None
        except TypeError:
            p = None
        if p is None or not 0 <= p < n:
            raise ConfigError(f"partitioner {self.name}({key!r}, {n})", answer,
                              f"an int partition from 0 to {n - 1}")
        return p


PARTITIONERS = ("key", "default", "murmur2_random", "consistent_random", "round_robin", "sticky")
_ALLOWED = ("one of 'key' (or 'default', or librdkafka's name 'murmur2_random'), 'consistent_random', "
            "'round_robin', 'sticky', or a function (key, partitions) -> int")
Partitioner = Callable[..., int]


def resolve_partitioner(spec: str | Callable[[Any, int], int], rng: random.Random) -> Partitioner:
    """Turn a partitioner name or function into a partitioner.

    ``"key"``/``"default"``/``"murmur2_random"`` -> :class:`KeyPartitioner`,
    ``"consistent_random"`` -> :class:`ConsistentRandomPartitioner`, ``"round_robin"`` ->
    :class:`RoundRobinPartitioner`, ``"sticky"`` -> :class:`StickyPartitioner`. Any other
    callable ``(key, partitions) -> int`` is used as it is, but each answer is checked: if it
    is not an int from 0 to ``partitions - 1``, a :class:`ConfigError` names the function.
    """
    if isinstance(spec, str):
        if spec in ("key", "default", "murmur2_random"):
            return KeyPartitioner(rng)
        if spec == "consistent_random":
            return ConsistentRandomPartitioner(rng)
        if spec == "round_robin":
            return RoundRobinPartitioner()
        if spec == "sticky":
            return StickyPartitioner(rng)
        raise ConfigError("partitioner", spec, _ALLOWED)
    if isinstance(spec, (RoundRobinPartitioner, StickyPartitioner, _Checked)):
        return spec
    if callable(spec):
        return _Checked(spec)
    raise ConfigError("partitioner", spec, _ALLOWED)
