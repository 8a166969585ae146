"""Two real Kafka clients' defaults, in one table: the Java client and librdkafka.

A Python learner who writes ``confluent_kafka.Consumer({...})`` gets librdkafka's
defaults; a Java or Spring service gets the Java client's. They differ where it
matters for the lessons: how auto commit works, which partitioner places keys, and
whether the producer is idempotent. ``Consumer(client="java")`` or
``Consumer(client="librdkafka")`` takes every setting you do not pass from that
client's column. Without ``client=``, the consumer keeps simkit's own mix:
the Java client's numbers with librdkafka's auto commit (``commit="auto"``), which
is what the lessons were written with.

Sources, for every value below:

* Java: Apache Kafka 3.x ``ConsumerConfig`` and ``ProducerConfig``
  (https://kafka.apache.org/documentation/#consumerconfigs and #producerconfigs).
* librdkafka: ``CONFIGURATION.md`` of librdkafka 2.x, which confluent-kafka bundles;
  checked in the test suite against ``rd_kafka_conf_dump()`` of the bundled library.

Times are in ms. ``Producer(client="java")`` or ``Producer(client="librdkafka")`` takes
the producer settings it has (:data:`PRODUCER_PARAMS`) from that client's column the
same way; without ``client=`` it uses the Java column (Kafka 3.x). ``linger``,
``batch_bytes`` and ``batch_records`` are data only: simkit's producer has no linger
and counts its ``batch_size`` in records.
"""

from __future__ import annotations

from types import MappingProxyType
from typing import Any, Mapping

from .errors import ConfigError
from .subscription import OFFSET_RESET_ALIASES, OFFSET_RESETS

__all__ = [
    "CLIENTS",
    "CONSUMER_DEFAULTS",
    "PRODUCER_DEFAULTS",
    "PRODUCER_PARAMS",
    "SIMKIT_CONSUMER_DEFAULTS",
    "consumer_defaults",
    "consumer_settings",
    "producer_settings",
]

CLIENTS: tuple[str, ...] = ("java", "librdkafka")

#: the values of ``isolation_level`` (``isolation.level``, KIP-98)
ISOLATION_LEVELS: tuple[str, ...] = ("read_uncommitted", "read_committed")

#: Consumer defaults by client; keys are :class:`~simkit.consumer.Consumer` parameters
CONSUMER_DEFAULTS: Mapping[str, Mapping[str, Any]] = MappingProxyType({
    "java": MappingProxyType({
        # enable.auto.commit=true: committed inside poll() (ConsumerCoordinator.maybeAutoCommitOffsetsAsync)
        "commit": "auto_on_poll",
        "auto_commit_interval": 5000,      # auto.commit.interval.ms
        "auto_offset_reset": "latest",     # auto.offset.reset
        "isolation_level": "read_uncommitted",  # isolation.level (ConsumerConfig, KIP-98)
        "session_timeout": 45000,          # session.timeout.ms (45 s since Kafka 3.0, KIP-735)
        "max_poll_interval": 300000,       # max.poll.interval.ms
        "max_poll_records": 500,           # max.poll.records
        "assignor": "range",               # partition.assignment.strategy: [RangeAssignor, CooperativeStickyAssignor]
        "retry_backoff": 100,              # retry.backoff.ms
    }),
    "librdkafka": MappingProxyType({
        # enable.auto.commit=true with enable.auto.offset.store=true: stored when handed over, timer commits
        "commit": "auto",
        "auto_commit_interval": 5000,      # auto.commit.interval.ms
        "auto_offset_reset": "latest",     # auto.offset.reset=largest (librdkafka's name for latest)
        "isolation_level": "read_committed",  # isolation.level (CONFIGURATION.md): librdkafka differs from Java
        "session_timeout": 45000,          # session.timeout.ms
        "max_poll_interval": 300000,       # max.poll.interval.ms
        # no max.poll.records: confluent-kafka's Consumer.poll() returns one message at a time
        "max_poll_records": 1,
        "assignor": "range",               # partition.assignment.strategy=range,roundrobin (range first)
        "retry_backoff": 100,              # retry.backoff.ms
    }),
})

#: What ``Consumer(...)`` uses without ``client=``: the Java numbers with librdkafka's auto commit,
#: and no ``max_poll_interval`` (the lessons' handlers are never that slow, and leaving it off keeps
#: a finished run from idling on until a poll deadline)
SIMKIT_CONSUMER_DEFAULTS: Mapping[str, Any] = MappingProxyType(
    {**CONSUMER_DEFAULTS["java"], "commit": "auto", "max_poll_interval": None})

#: Producer defaults by client, as data (keys follow :class:`~simkit.producer.Producer` where it has them)
PRODUCER_DEFAULTS: Mapping[str, Mapping[str, Any]] = MappingProxyType({
    "java": MappingProxyType({
        "acks": "all",                     # acks=all since Kafka 3.0 (KIP-679)
        "idempotent": True,                # enable.idempotence=true since Kafka 3.0 (KIP-679)
        "retries": 2147483647,             # retries=Integer.MAX_VALUE
        "retry_backoff": 100,              # retry.backoff.ms
        "request_timeout": 30000,          # request.timeout.ms
        "delivery_timeout": 120000,        # delivery.timeout.ms
        "max_in_flight": 5,                # max.in.flight.requests.per.connection
        "linger": 0,                       # linger.ms (0 up to Kafka 3.9; 5 from Kafka 4.0, KIP-1030)
        "batch_bytes": 16384,              # batch.size (bytes; simkit's batch_size counts records)
        "partitioner": "key",              # murmur2 of the key; sticky for keyless records (KIP-480/794)
    }),
    "librdkafka": MappingProxyType({
        "acks": "all",                     # acks / request.required.acks=-1
        "idempotent": False,               # enable.idempotence=false
        "retries": 2147483647,             # retries / message.send.max.retries=INT32_MAX
        "retry_backoff": 100,              # retry.backoff.ms
        "request_timeout": 30000,          # request.timeout.ms
        "delivery_timeout": 300000,        # message.timeout.ms (delivery.timeout.ms is its alias)
        "max_in_flight": 1000000,          # max.in.flight.requests.per.connection
        "linger": 5,                       # linger.ms / queue.buffering.max.ms
        "batch_bytes": 1000000,            # batch.size (bytes; simkit's batch_size counts records)
        "batch_records": 10000,            # batch.num.messages
        "partitioner": "consistent_random",  # partitioner: CRC32 of the key, random for empty or NULL keys
    }),
})


#: The producer settings :class:`~simkit.producer.Producer` takes from a client's column
PRODUCER_PARAMS: tuple[str, ...] = (
    "acks", "idempotent", "retries", "retry_backoff", "request_timeout", "delivery_timeout", "max_in_flight",
    "partitioner",
)


def producer_settings(client: str | None, *, transactional: bool = False, **given: Any) -> dict[str, Any]:
    """The producer's settings: each one given (not None), else ``client``'s default (None: the Java column).

    ``idempotent`` stays None when the client's default is on, so that the producer turns it
    off quietly if another setting conflicts, as Kafka 3.2+ does with an unset ``enable.idempotence``.
    ``transactional`` (a ``transactional_id`` was given) turns idempotence on, as both clients do.
    The producer checks the values.
    """
    if client is not None and not (isinstance(client, str) and client in PRODUCER_DEFAULTS):
        raise ConfigError("client", client, "None (Kafka 3.x's Java defaults), 'java' or 'librdkafka'")
    defaults = PRODUCER_DEFAULTS["java" if client is None else client]
    if transactional:
        # a transactional producer is idempotent: Java's ProducerConfig refuses transactional.id with
        # enable.idempotence=false; librdkafka's CONFIGURATION.md: transactional.id implies enable.idempotence
        if given.get("idempotent") is False:
            raise ConfigError("idempotent", False, "True or None when transactional_id is set "
                              "(transactions need the idempotent producer, KIP-98)")
        given = {**given, "idempotent": True}
    out = {name: defaults[name] if value is None else value for name, value in given.items()}
    if given.get("idempotent") is None and defaults["idempotent"]:
        out["idempotent"] = None
    if out.get("idempotent") is True and given.get("max_in_flight") is None:
        # librdkafka (CONFIGURATION.md, enable.idempotence): "max.in.flight.requests.per.connection=5" is
        # adjusted automatically when idempotence is on and the user left it unset; Java's default is 5 already
        out["max_in_flight"] = min(out["max_in_flight"], 5)
    return out


def consumer_defaults(client: str | None) -> Mapping[str, Any]:
    """The consumer defaults of ``client`` (``"java"`` or ``"librdkafka"``), or simkit's own for None."""
    if client is None:
        return SIMKIT_CONSUMER_DEFAULTS
    if isinstance(client, str) and client in CONSUMER_DEFAULTS:
        return CONSUMER_DEFAULTS[client]
    raise ConfigError("client", client, "None (simkit's defaults), 'java' or 'librdkafka'")


def _ms(param: str, value: Any, *, positive: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value < float("inf") or (
            positive and value == 0):
        raise ConfigError(param, value, f"a finite number of ms {'>' if positive else '>='} 0")
    return float(value)


def consumer_settings(client: str | None, **given: Any) -> dict[str, Any]:
    """The consumer's settings: each one given (not None), else ``client``'s default, checked.

    ``commit``, ``assignor`` and ``session_timeout`` are checked where they are used
    (the commit policy registry and the group); the others here.
    """
    defaults = consumer_defaults(client)
    out = {name: defaults[name] if value is None else value for name, value in given.items()}
    reset = out["auto_offset_reset"]
    if isinstance(reset, str):
        reset = out["auto_offset_reset"] = OFFSET_RESET_ALIASES.get(reset, reset)
    if reset not in OFFSET_RESETS:
        raise ConfigError("auto_offset_reset", reset, OFFSET_RESETS + tuple(OFFSET_RESET_ALIASES))
    if "isolation_level" in out and out["isolation_level"] not in ISOLATION_LEVELS:
        raise ConfigError("isolation_level", out["isolation_level"], ISOLATION_LEVELS)
    n = out["max_poll_records"]
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ConfigError("max_poll_records", n, "an int >= 1")
    out["auto_commit_interval"] = _ms("auto_commit_interval", out["auto_commit_interval"], positive=True)
    out["retry_backoff"] = _ms("retry_backoff", out["retry_backoff"])
    if out["max_poll_interval"] is not None:
        out["max_poll_interval"] = _ms("max_poll_interval", out["max_poll_interval"], positive=True)
    return out
