"""librdkafka's embedded mock cluster: a Kafka-protocol broker on loopback, started from Python.

librdkafka (the C library inside confluent-kafka) carries a small Kafka broker of its
own, meant for testing clients: it speaks the real wire protocol, keeps real
partition logs, runs consumer groups and commits offsets. It lives inside the process
that starts it, listens on ``127.0.0.1`` and is reached like any cluster, by
``bootstrap.servers``, from this process or from any other on the machine.

Its C API (``rd_kafka_mock_*`` in librdkafka's ``rdkafka_mock.h``, marked
experimental there) is exported by the shared library bundled in confluent-kafka's
wheel; this module calls it through :mod:`ctypes`::

    with MockCluster() as cluster:
        cluster.create_topic("signups", partitions=2)
        producer = confluent_kafka.Producer({"bootstrap.servers": cluster.bootstrap_servers})
        cluster.push_request_errors("Produce", "NOT_LEADER_FOR_PARTITION")  # the next Produce fails

What it is not: one process's threads, with no replication between its brokers, no
transactions across restarts and no durability. It is gone when the cluster is closed.
"""

from __future__ import annotations

import ctypes
import glob
import os
from typing import Any

from ..errors import ConfigError

__all__ = ["API_KEYS", "MockCluster", "library_path"]

#: Kafka protocol request names and their API keys (the numbers in the Kafka protocol guide).
API_KEYS: dict[str, int] = {
    "Produce": 0, "Fetch": 1, "ListOffsets": 2, "Metadata": 3, "OffsetCommit": 8, "OffsetFetch": 9,
    "FindCoordinator": 10, "JoinGroup": 11, "Heartbeat": 12, "LeaveGroup": 13, "SyncGroup": 14,
    "InitProducerId": 22,
}

_lib: ctypes.CDLL | None = None


def library_path() -> str:
    """The path of the librdkafka shared library bundled with confluent-kafka (the one it runs on)."""
    import confluent_kafka

    here = os.path.dirname(os.path.abspath(confluent_kafka.__file__))
    for pattern in (os.path.join(here, os.pardir, "confluent_kafka.libs", "librdkafka*.so*"),
                    os.path.join(here, ".dylibs", "librdkafka*.dylib"),
                    os.path.join(here, "librdkafka*")):
        found = sorted(glob.glob(pattern))
        if found:
            return os.path.normpath(found[0])
    raise OSError(f"no librdkafka shared library found beside confluent_kafka in {here}")


def _library() -> ctypes.CDLL:
    """Load librdkafka once and declare the C signatures this module calls."""
    global _lib
    if _lib is None:
        lib = ctypes.CDLL(library_path())
        p, i, s, i16, i32 = ctypes.c_void_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_int16, ctypes.c_int32
        for name, restype, argtypes in (
            ("rd_kafka_conf_new", p, []),
            ("rd_kafka_conf_set", i, [p, s, s, s, ctypes.c_size_t]),
            ("rd_kafka_new", p, [i, p, s, ctypes.c_size_t]),
            ("rd_kafka_destroy", None, [p]),
            ("rd_kafka_mock_cluster_new", p, [p, i]),
            ("rd_kafka_mock_cluster_destroy", None, [p]),
            ("rd_kafka_mock_cluster_bootstraps", s, [p]),
            ("rd_kafka_mock_topic_create", i, [p, s, i, i]),
            ("rd_kafka_mock_topic_delete", i, [p, s]),
            ("rd_kafka_mock_push_request_errors_array", None, [p, i16, ctypes.c_size_t, ctypes.POINTER(i)]),
            ("rd_kafka_mock_clear_request_errors", None, [p, i16]),
            ("rd_kafka_mock_broker_set_down", i, [p, i32]),
            ("rd_kafka_mock_broker_set_up", i, [p, i32]),
            ("rd_kafka_mock_broker_set_rtt", i, [p, i32, i]),
            ("rd_kafka_mock_group_initial_rebalance_delay_ms", None, [p, i32]),
            ("rd_kafka_err2name", s, [i]),
        ):
            fn = getattr(lib, name)
            fn.restype, fn.argtypes = restype, argtypes
        _lib = lib
    return _lib


def _error_code(value: Any) -> int:
    """A Kafka error as librdkafka's code: an int, or a name such as ``"NOT_LEADER_FOR_PARTITION"``."""
    from confluent_kafka import KafkaError

    if isinstance(value, int) and not isinstance(value, bool):
        return value
    code = getattr(KafkaError, str(value), None) if isinstance(value, str) else None
    if not isinstance(code, int):
        raise ConfigError("errors", value, "Kafka error codes, or names of confluent_kafka.KafkaError "
                                           "attributes such as 'NOT_LEADER_FOR_PARTITION'")
    return code


class MockCluster:
    """A librdkafka mock cluster of ``brokers`` brokers on loopback; a context manager.

    ``rebalance_delay`` (ms) is how long a new consumer group waits for more members
    before its first assignment (the broker's ``group.initial.rebalance.delay.ms``,
    3000 ms in the mock, 0 here so that runs start at once). Broker ids are 1 to
    ``brokers``. Every method raises :class:`RuntimeError` once the cluster is closed.
    """

    def __init__(self, brokers: int = 1, *, rebalance_delay: int = 0):
        if isinstance(brokers, bool) or not isinstance(brokers, int) or not 1 <= brokers <= 16:
            raise ConfigError("brokers", brokers, "an int from 1 to 16")
        if isinstance(rebalance_delay, bool) or not isinstance(rebalance_delay, int) or rebalance_delay < 0:
            raise ConfigError("rebalance_delay", rebalance_delay, "an int >= 0 (ms)")
        self.brokers = brokers
        self.rebalance_delay = rebalance_delay
        self._rk: int | None = None
        self._cluster: int | None = None
        self._bootstraps = ""

    # -- life cycle ----------------------------------------------------------------------------
    def start(self) -> "MockCluster":
        """Start the cluster (``with MockCluster() as c`` does this for you)."""
        if self._cluster is not None:
            return self
        lib = _library()
        conf = lib.rd_kafka_conf_new()
        err = ctypes.create_string_buffer(512)
        # the handle only owns the cluster's threads; it never connects, so its warnings are noise
        lib.rd_kafka_conf_set(conf, b"log_level", b"0", err, len(err))
        rk = lib.rd_kafka_new(0, conf, err, len(err))  # 0: RD_KAFKA_PRODUCER; the handle takes the conf
        if not rk:
            raise RuntimeError(f"rd_kafka_new failed: {err.value.decode(errors='replace')}")
        cluster = lib.rd_kafka_mock_cluster_new(rk, self.brokers)
        if not cluster:
            lib.rd_kafka_destroy(rk)
            raise RuntimeError("rd_kafka_mock_cluster_new failed")
        self._rk, self._cluster = rk, cluster
        self._bootstraps = lib.rd_kafka_mock_cluster_bootstraps(cluster).decode()
        lib.rd_kafka_mock_group_initial_rebalance_delay_ms(cluster, self.rebalance_delay)
        return self

    def close(self) -> None:
        """Stop the brokers and free the cluster; safe to call twice."""
        if self._cluster is not None:
            lib = _library()
            lib.rd_kafka_mock_cluster_destroy(self._cluster)
            lib.rd_kafka_destroy(self._rk)
            self._cluster = self._rk = None

    def __enter__(self) -> "MockCluster":
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.close()

    @property
    def running(self) -> bool:
        """True between :meth:`start` and :meth:`close`."""
        return self._cluster is not None

    @property
    def bootstrap_servers(self) -> str:
        """The ``bootstrap.servers`` value that reaches the cluster, e.g. ``"127.0.0.1:40123"``."""
        self._handle()
        return self._bootstraps

    def _handle(self) -> int:
        if self._cluster is None:
            raise RuntimeError("the mock cluster is not running: use it inside `with MockCluster() as c:`")
        return self._cluster

    def _check(self, what: str, code: int) -> None:
        if code:
            name = _library().rd_kafka_err2name(code).decode()
            raise RuntimeError(f"mock cluster: {what} failed with {name}")

    def _broker(self, broker: Any) -> int:
        if isinstance(broker, bool) or not isinstance(broker, int) or not 1 <= broker <= self.brokers:
            raise ConfigError("broker", broker, f"a broker id from 1 to {self.brokers}")
        return broker

    # -- topics ----------------------------------------------------------------------------------
    def create_topic(self, name: str, partitions: int = 1, replication_factor: int = 1) -> None:
        """Create topic ``name`` with ``partitions`` partitions (``replication_factor`` <= brokers)."""
        if not isinstance(name, str) or not name:
            raise ConfigError("name", name, "a non-empty topic name")
        if isinstance(partitions, bool) or not isinstance(partitions, int) or not 1 <= partitions <= 1000:
            raise ConfigError("partitions", partitions, "an int from 1 to 1000")
        if (isinstance(replication_factor, bool) or not isinstance(replication_factor, int)
                or not 1 <= replication_factor <= self.brokers):
            raise ConfigError("replication_factor", replication_factor, f"an int from 1 to {self.brokers}")
        code = _library().rd_kafka_mock_topic_create(self._handle(), name.encode(), partitions,
                                                     replication_factor)
        self._check(f"creating topic {name!r}", code)

    def delete_topic(self, name: str) -> None:
        """Delete topic ``name`` and its records."""
        self._check(f"deleting topic {name!r}", _library().rd_kafka_mock_topic_delete(self._handle(), name.encode()))

    # -- faults ----------------------------------------------------------------------------------
    def push_request_errors(self, request: str, *errors: Any) -> None:
        """Answer the next ``len(errors)`` requests of type ``request`` with these errors, in order.

        ``request`` is a name in :data:`API_KEYS` (``"Produce"``, ``"OffsetCommit"``, ...);
        each error is a code or a :class:`confluent_kafka.KafkaError` attribute name.
        A retriable error (``NOT_LEADER_FOR_PARTITION``, ``REQUEST_TIMED_OUT``) makes the
        client retry; the mock writes nothing for a request it answers with an error.
        """
        if request not in API_KEYS:
            raise ConfigError("request", request, sorted(API_KEYS))
        codes = [_error_code(e) for e in errors]
        array = (ctypes.c_int * len(codes))(*codes)
        _library().rd_kafka_mock_push_request_errors_array(self._handle(), API_KEYS[request], len(codes), array)

    def clear_request_errors(self, request: str) -> None:
        """Forget the errors still queued for ``request``."""
        if request not in API_KEYS:
            raise ConfigError("request", request, sorted(API_KEYS))
        _library().rd_kafka_mock_clear_request_errors(self._handle(), API_KEYS[request])

    def broker_down(self, broker: int = 1) -> None:
        """Take ``broker`` down: it closes its connections and refuses new ones."""
        self._check("broker down", _library().rd_kafka_mock_broker_set_down(self._handle(), self._broker(broker)))

    def broker_up(self, broker: int = 1) -> None:
        """Bring ``broker`` back up."""
        self._check("broker up", _library().rd_kafka_mock_broker_set_up(self._handle(), self._broker(broker)))

    def set_rtt(self, broker: int, rtt: int) -> None:
        """Delay every answer of ``broker`` by ``rtt`` ms (a slow network or a busy broker)."""
        if isinstance(rtt, bool) or not isinstance(rtt, int) or rtt < 0:
            raise ConfigError("rtt", rtt, "an int >= 0 (ms)")
        self._check("set rtt", _library().rd_kafka_mock_broker_set_rtt(self._handle(), self._broker(broker), rtt))

    def __repr__(self) -> str:
        state = self._bootstraps if self.running else "closed"
        return f"MockCluster(brokers={self.brokers}, {state})"
