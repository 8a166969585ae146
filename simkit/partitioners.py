"""Which partition a record goes to: Kafka's murmur2 for keys, round-robin and sticky without.

* Keyed records (Kafka's default ``BuiltInPartitioner.partitionForKey``):
  ``toPositive(murmur2(keyBytes)) % numPartitions``, so one key always lands on one
  partition and simkit picks the partition the Java client picks for the same bytes.
  ``str`` keys are UTF-8 encoded, as Kafka's ``StringSerializer`` does.
* ``RoundRobinPartitioner`` (``org.apache.kafka.clients.producer.RoundRobinPartitioner``)
  ignores the key and cycles 0, 1, 2, ...
* Keyless records with the default partitioner stick to one partition until a batch
  is sent, then switch (the sticky partitioner of KIP-480 / KIP-794); the switch is
  drawn from the producer's named random stream, so it stays deterministic.
"""

from __future__ import annotations

import random
from typing import Any, Callable

from .errors import ConfigError

__all__ = [
    "KeyPartitioner", "PARTITIONERS", "RoundRobinPartitioner", "StickyPartitioner",
    "murmur2", "partition_for", "resolve_partitioner", "to_positive",
]

_M = 0x5BD1E995
_SEED = 0x9747B28C
_MASK = 0xFFFFFFFF


def murmur2(data: bytes | bytearray | memoryview) -> int:
    """Kafka's ``org.apache.kafka.common.utils.Utils.murmur2``: a signed 32-bit hash of ``data``."""
    data = bytes(data)
    length = len(data)
    h = (_SEED ^ length) & _MASK
    whole = length - length % 4
    for i in range(0, whole, 4):
        k = data[i] | (data[i + 1] << 8) | (data[i + 2] << 16) | (data[i + 3] << 24)
        k = (k * _M) & _MASK
        k ^= k >> 24
        k = (k * _M) & _MASK
        h = (h * _M) & _MASK
        h ^= k
    rest = length % 4  # Java's switch falls through: 3 -> 2 -> 1
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
    """Kafka's ``Utils.toPositive``: clear the sign bit (not ``abs``: that would fail on -2**31)."""
    return n & 0x7FFFFFFF


def _key_bytes(key: Any) -> bytes:
    if isinstance(key, str):
        return key.encode("utf-8")
    if isinstance(key, (bytes, bytearray, memoryview)):
        return bytes(key)
    raise ConfigError("key", key, "a str (UTF-8 encoded as Kafka's StringSerializer does) or bytes")


def _check_partitions(partitions: Any) -> int:
    if isinstance(partitions, bool) or not isinstance(partitions, int) or partitions < 1:
        raise ConfigError("partitions", partitions, "an int >= 1")
    return partitions


def partition_for(key: str | bytes, partitions: int) -> int:
    """The partition Kafka's default partitioner gives a keyed record: ``toPositive(murmur2(key)) % partitions``."""
    return to_positive(murmur2(_key_bytes(key))) % _check_partitions(partitions)


class RoundRobinPartitioner:
    """Ignores the key; sends records to partitions 0, 1, 2, ... in turn."""

    name = "round_robin"

    def __init__(self) -> None:
        self._next = 0

    def __call__(self, key: Any, partitions: int) -> int:
        p = self._next % partitions
        self._next += 1
        return p


class StickyPartitioner:
    """Keyless records stick to one partition until ``new_batch()``, then move to another one."""

    name = "sticky"

    def __init__(self, rng: random.Random):
        self._rng = rng
        self._current: int | None = None
        self._partitions = 0

    def new_batch(self) -> None:
        """A batch was sent: the next keyless record picks a new partition."""
        if self._current is not None and self._partitions > 1:
            choice = self._rng.randrange(self._partitions - 1)
            self._current = choice if choice < self._current else choice + 1

    def __call__(self, key: Any, partitions: int) -> int:
        if self._current is None or self._partitions != partitions:
            self._partitions = partitions
            self._current = self._rng.randrange(partitions)
        return self._current


class KeyPartitioner(StickyPartitioner):
    """Kafka's default: murmur2 for keyed records, sticky for records without a key."""

    name = "key"

    def __call__(self, key: Any, partitions: int) -> int:
        if key is None:
            return super().__call__(key, partitions)
        return to_positive(murmur2(_key_bytes(key))) % partitions


PARTITIONERS = ("key", "default", "round_robin", "sticky")
_ALLOWED = "one of 'key', 'default', 'round_robin', 'sticky', or a callable (key, partitions) -> int"


class _Checked:
    """A learner's partitioner, with its answers checked."""

    def __init__(self, fn: Callable[[Any, int], int]):
        self.fn = fn
        self.name = getattr(fn, "__name__", repr(fn))

    def __call__(self, key: Any, partitions: int) -> int:
        p = self.fn(key, partitions)
        if isinstance(p, bool) or not isinstance(p, int) or not 0 <= p < partitions:
            raise ConfigError(f"partitioner {self.name}", p, f"an int partition from 0 to {partitions - 1}")
        return p


def resolve_partitioner(spec: str | Callable[[Any, int], int], rng: random.Random) -> Callable[[Any, int], int]:
    """A partitioner from its name (``"key"``/``"default"``, ``"round_robin"``, ``"sticky"``) or any callable."""
    if isinstance(spec, str):
        if spec in ("key", "default"):
            return KeyPartitioner(rng)
        if spec == "round_robin":
            return RoundRobinPartitioner()
        if spec == "sticky":
            return StickyPartitioner(rng)
        raise ConfigError("partitioner", spec, _ALLOWED)
    if callable(spec):
        return _Checked(spec)
    raise ConfigError("partitioner", spec, _ALLOWED)
