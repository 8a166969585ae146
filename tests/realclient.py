"""Helpers for the tests that check simkit against a real Kafka client (marked ``realclient``).

They use confluent-kafka, which bundles librdkafka, and librdkafka's built-in mock
cluster: ``test.mock.num.brokers=1`` starts a Kafka-protocol broker inside the client,
on loopback, that creates topics with 4 partitions on first use. Other clients reach
it through the address its metadata reports. Everything is skipped cleanly when
confluent-kafka is not installed.
"""

from __future__ import annotations

import ctypes
import glob
import os
import time
from typing import Any

import pytest

MOCK_PARTITIONS = 4  # the mock cluster's partition count for auto-created topics


def kafka() -> Any:
    """The confluent_kafka module, or skip the test."""
    return pytest.importorskip("confluent_kafka")


def mock_producer(**config: Any) -> Any:
    """A producer that runs its own mock cluster."""
    return kafka().Producer({"test.mock.num.brokers": 1, "log_level": 3, **config})


def bootstrap(client: Any) -> str:
    """The mock cluster's address, for further clients to connect to."""
    brokers = client.list_topics(timeout=10).brokers.values()
    return ",".join(f"{b.host}:{b.port}" for b in brokers)


def partitions_chosen(partitioner: str, keys: list[bytes], topic: str = "keys") -> dict[bytes, int]:
    """Produce one record per key with ``partitioner``; return the partition the client chose for each."""
    producer = mock_producer(partitioner=partitioner, **{"linger.ms": 0})
    chosen: dict[bytes, int] = {}

    def delivered(err: Any, msg: Any) -> None:
        assert err is None, err
        chosen[msg.key()] = msg.partition()

    for key in keys:
        producer.produce(topic, key=key, value=b"v", on_delivery=delivered)
        producer.poll(0)
    assert producer.flush(30) == 0
    return chosen


def group_assignments(strategy: str, members: int, topics: list[str], timeout: float = 40) -> dict[str, list]:
    """Start ``members`` consumers of one group on the mock cluster; return member id -> its partitions.

    Waits until every partition of ``topics`` is assigned and the assignment held for
    a further half second (a rebalance has settled).
    """
    ck = kafka()
    producer = mock_producer()
    for t in topics:
        producer.produce(t, value=b"create")
    producer.flush(10)
    servers = bootstrap(producer)
    consumers = [ck.Consumer({"bootstrap.servers": servers, "group.id": f"g-{strategy}-{members}-{len(topics)}",
                              "partition.assignment.strategy": strategy, "heartbeat.interval.ms": 100,
                              "session.timeout.ms": 6000, "log_level": 3}) for _ in range(members)]
    try:
        for c in consumers:
            c.subscribe(topics)
        want = MOCK_PARTITIONS * len(topics)
        deadline = time.monotonic() + timeout
        stable_since, last = None, None
        while time.monotonic() < deadline:
            for c in consumers:
                c.poll(0.02)
            now = {c.memberid(): sorted((tp.topic, tp.partition) for tp in c.assignment()) for c in consumers}
            complete = all(now) and len(now) == members and sum(len(v) for v in now.values()) == want
            if complete and now == last:
                stable_since = stable_since or time.monotonic()
                if time.monotonic() - stable_since > 0.5:
                    return now
            else:
                stable_since = None
            last = now
        raise AssertionError(f"the group never settled: {last}")
    finally:
        for c in consumers:
            c.close()


def librdkafka_defaults() -> dict[str, str]:
    """Every global and topic setting of the bundled librdkafka with its default, from ``rd_kafka_conf_dump``."""
    ck = kafka()
    here = os.path.dirname(ck.__file__)
    found = glob.glob(os.path.join(here, "..", "confluent_kafka.libs", "librdkafka*")) + \
        glob.glob(os.path.join(here, ".dylibs", "librdkafka*"))
    if not found:
        pytest.skip("the bundled librdkafka shared library was not found")
    lib = ctypes.CDLL(found[0])
    out: dict[str, str] = {}
    for new, dump in (("rd_kafka_conf_new", "rd_kafka_conf_dump"),
                      ("rd_kafka_topic_conf_new", "rd_kafka_topic_conf_dump")):
        getattr(lib, new).restype = ctypes.c_void_p
        fn = getattr(lib, dump)
        fn.restype = ctypes.POINTER(ctypes.c_char_p)
        fn.argtypes = [ctypes.c_void_p, ctypes.POINTER(ctypes.c_size_t)]
        n = ctypes.c_size_t()
        arr = fn(getattr(lib, new)(), ctypes.byref(n))
        pairs = {arr[i].decode(): arr[i + 1].decode() for i in range(0, n.value, 2)}
        for k, v in pairs.items():
            out.setdefault(k, v)  # a global setting wins over its legacy topic-level namesake
    return out


def killed_consumer_run(policy: str, *, records: int = 300, kills: int = 6, work_ms: int = 10, batch: int = 20,
                        seed: int = 1, timeout: float = 120) -> tuple[int, int]:
    """SIGKILL a real consumer process ``kills`` times while it works through ``records`` records.

    One partition, ``work_ms`` of work a record, polls of ``batch`` records, auto commit
    every 100 ms where the policy uses it. Each kill strikes a random 0.1 to 0.6 s after
    the process handled its first record (seeded, so the kill times are the same for every policy); a
    new process starts at once. Returns ``(lost, repeated)``: records never handled,
    and handlings beyond the first.
    """
    import random
    import signal
    import subprocess
    import sys
    import threading

    producer = mock_producer()
    for i in range(records):
        producer.produce("work", value=str(i).encode(), partition=0)
    assert producer.flush(30) == 0
    servers = bootstrap(producer)
    script = os.path.join(os.path.dirname(__file__), "realclient_consumer.py")
    rng = random.Random(seed)
    done: list[int] = []
    lock = threading.Lock()

    def start() -> tuple[Any, threading.Event]:
        proc = subprocess.Popen([sys.executable, script, servers, f"g-{policy}", "work", policy, str(work_ms),
                                 str(batch)], stdout=subprocess.PIPE, text=True)
        ready = threading.Event()  # set at the process's first handled record

        def read() -> None:
            for line in proc.stdout:  # type: ignore[union-attr]
                if line.startswith("done ") and line.endswith("\n"):
                    with lock:
                        done.append(int(line.split()[1]))
                    ready.set()

        threading.Thread(target=read, daemon=True).start()
        return proc, ready

    deadline = time.monotonic() + timeout
    started = []
    try:
        for _ in range(kills):
            proc, ready = start()
            started.append(proc)
            assert ready.wait(30), "the consumer process handled nothing in 30 s"
            time.sleep(0.1 + 0.5 * rng.random())
            proc.send_signal(signal.SIGKILL)
            proc.wait()
        proc, ready = start()
        started.append(proc)
        while time.monotonic() < deadline:
            with lock:
                if done and max(done) == records - 1:
                    break
            time.sleep(0.2)
        time.sleep(0.5)  # let the last records print
    finally:
        for proc in started:
            proc.kill()
            proc.wait()
    with lock:
        handled = list(done)
    return records - len(set(handled)), len(handled) - len(set(handled))
