"""A lost acknowledgement on a real producer: a retry without idempotence writes the records twice; simkit agrees.

How the ack is lost: librdkafka's mock cluster appends each Produce request as it
arrives and holds its answer for the broker's round-trip time (``set_rtt``). With the
RTT above the client's request timeout, the producer gives the request up while the
records are already in the log, and sends them again. librdkafka's client-side timeout
for a request is ``socket.timeout.ms``; its ``request.timeout.ms`` is the ack timeout
the *broker* enforces (librdkafka ``CONFIGURATION.md``), which is why the tests set
the former. Kafka's Java client calls the client-side one ``request.timeout.ms``, and
so does simkit's ``Producer(request_timeout=)``.

simkit's run beside it loses the same answers by cutting the broker-to-producer link
(:meth:`simkit.network.Link.cut`) for the first attempt; the broker has appended by then.

What is compared: records in the topic against records the application produced (each
delivery report said "written once"). Without idempotence both the real client and simkit
hold every record twice. With ``enable.idempotence=true`` a real broker would drop the
retry as a duplicate: the client resends the very batch, same producer id, epoch and
base sequence, and the broker keeps the last five batches' sequences per producer
(KIP-98). librdkafka's mock cluster does not deduplicate retries (it appended them
again when this was written), so the test checks what the client sends, and that
simkit, which deduplicates by sequence as a broker does, writes each record once; it
does not claim the mock shows exactly-once.
"""

import logging
import re
import time
from collections import Counter

import pytest

import simkit as sk
from realclient import kafka

pytestmark = [pytest.mark.live, pytest.mark.realclient]

RECORDS = 20
TIMEOUT_MS = 500  # the client's request timeout (librdkafka socket.timeout.ms, simkit request_timeout)
RTT_MS = 2500  # the mock broker's answers are this late while the ack is being lost


class _Lines(logging.Handler):
    def __init__(self):
        super().__init__(logging.DEBUG)
        self.lines = []

    def emit(self, record):
        self.lines.append(record.getMessage())


def real_run(idempotent):
    """Produce RECORDS records while the broker's answers are late; return (log values, delivery errors, log lines)."""
    ck = kafka()
    from simkit.live import MockCluster

    lines = _Lines()
    logger = logging.getLogger(f"simkit-test-producer-{idempotent}")
    logger.setLevel(logging.DEBUG)
    logger.addHandler(lines)
    logger.propagate = False
    with MockCluster() as cluster:
        cluster.create_topic("t", 1)
        producer = ck.Producer({
            "bootstrap.servers": cluster.bootstrap_servers, "enable.idempotence": idempotent,
            "socket.timeout.ms": TIMEOUT_MS, "retry.backoff.ms": 50, "linger.ms": 0,
            "message.timeout.ms": 30_000, "debug": "eos,msg", "logger": logger})
        producer.produce("t", value="warm-up", partition=0)  # connected, and (idempotent) a producer id
        assert producer.flush(10) == 0
        errors = []
        cluster.set_rtt(1, RTT_MS)
        for i in range(RECORDS):
            producer.produce("t", value=str(i), partition=0, on_delivery=lambda err, msg: errors.append(err))
        start = time.monotonic()
        while time.monotonic() - start < (RTT_MS + 300) / 1000:  # every request in flight times out meanwhile
            producer.poll(0.05)
        cluster.set_rtt(1, 0)
        assert producer.flush(20) == 0
        consumer = ck.Consumer({"bootstrap.servers": cluster.bootstrap_servers, "group.id": "reader",
                                "log_level": 0})
        consumer.assign([ck.TopicPartition("t", 0, ck.OFFSET_BEGINNING)])
        values = []
        while batch := consumer.consume(num_messages=100, timeout=2):
            values += [m.value().decode() for m in batch if not m.error()]
        consumer.close()
    logger.removeHandler(lines)
    return values[1:], errors, lines.lines


def simkit_run(idempotent, seed=1):
    """simkit's producer, librdkafka's defaults, the broker's answers lost during the first attempt."""
    w = sk.World(seed)
    b = sk.Broker(w)
    b.create_topic("t", 1)
    extra = dict(idempotent=True, max_in_flight=5) if idempotent else {}
    p = sk.Producer(w, b, "p", client="librdkafka", request_timeout=TIMEOUT_MS, retry_backoff=50, latency=1,
                    **extra)
    p.link_in.cut(0, TIMEOUT_MS * 0.8)  # the first attempt's answers are lost; its records are appended
    deliveries = [p.send("t", value=str(i), msg_id=i, partition=0) for i in range(RECORDS)]
    w.run(until=60_000)
    assert all(d.triggered and d.ok for d in deliveries)  # the application hears "written" once for each
    retries = int((w.trace.to_frame().event == "retry").sum())
    return [str(r.msg_id) for r in b.log_of("t", 0).records], retries


def copies(values):
    """Records written more than once: the extra copies in the log."""
    return sum(n - 1 for n in Counter(values).values())


def test_without_idempotence_a_lost_ack_writes_the_records_twice_in_the_real_client_and_in_simkit():
    values, errors, _ = real_run(idempotent=False)
    assert errors == [None] * RECORDS  # every delivery report said the record was written
    assert set(values) == {str(i) for i in range(RECORDS)}  # nothing lost
    real = copies(values)
    sim_values, sim_retries = simkit_run(idempotent=False)
    sim = copies(sim_values)
    assert sim_retries > 0
    assert set(sim_values) == {str(i) for i in range(RECORDS)}
    # same direction and size: every record written at least twice by the real client (one lost ack
    # each; a retry sent while the answers are still late would add a copy), exactly twice by simkit
    assert min(Counter(values).values()) >= 2 and set(Counter(sim_values).values()) == {2}
    assert RECORDS <= real <= 3 * RECORDS and sim == RECORDS, (real, sim)


def test_with_idempotence_the_client_resends_the_same_sequence_and_simkit_writes_each_record_once():
    values, errors, lines = real_run(idempotent=True)
    assert errors == [None] * RECORDS and set(values) == {str(i) for i in range(RECORDS)}
    # what a real broker deduplicates on: the batch that timed out is resent with its base sequence,
    # under the one producer id and epoch the producer acquired (no epoch bump)
    log = "\n".join(lines)
    timed_out = set(re.findall(r"\(MsgId (\d+), BaseSeq (\d+)\) encountered error: Local: Timed out", log))
    delivered = set(re.findall(r"\(MsgId (\d+), BaseSeq (\d+)\) delivered", log))
    assert timed_out, "no Produce request timed out: the lost ack was not staged"
    assert timed_out <= delivered
    pids = set(re.findall(r"Acquired PID\{Id:(\d+),Epoch:(\d+)\}", log))
    assert len(pids) == 1, pids
    # librdkafka's mock cluster does not drop the resent batch as a real broker does (the retry
    # is appended again), so the real topic's count is not checked here; simkit's broker does
    sim_values, sim_retries = simkit_run(idempotent=True)
    assert sim_retries > 0
    assert copies(sim_values) == 0 and sorted(sim_values, key=int) == [str(i) for i in range(RECORDS)]
