"""A real confluent-kafka consumer process, for the realclient tests to SIGKILL.

Run as ``python realclient_consumer.py BOOTSTRAP GROUP TOPIC POLICY WORK_MS BATCH``. It
handles every record by sleeping ``WORK_MS`` and then printing ``done <offset>`` (its
side effect), and commits as ``POLICY`` says, with the settings of simkit's policy of
the same name. It prints ``ready`` once it has joined.
"""

import sys
import time

from confluent_kafka import Consumer


def main(bootstrap: str, group: str, topic: str, policy: str, work_ms: str, batch: str) -> None:
    config = {
        "bootstrap.servers": bootstrap, "group.id": group, "auto.offset.reset": "earliest",
        "session.timeout.ms": 3000, "heartbeat.interval.ms": 100, "max.poll.interval.ms": 3000,
        "auto.commit.interval.ms": 100, "log_level": 3,
        "enable.auto.commit": policy in ("auto", "store_offsets"),
        "enable.auto.offset.store": policy == "auto",
    }
    consumer = Consumer(config)
    consumer.subscribe([topic])
    print("ready", flush=True)
    while True:
        records = [m for m in consumer.consume(num_messages=int(batch), timeout=0.1) if not m.error()]
        if records and policy == "before_processing":
            consumer.commit(message=records[-1], asynchronous=False)
        for m in records:
            time.sleep(int(work_ms) / 1000)
            print("done", m.offset(), flush=True)
            if policy == "after_processing":
                consumer.commit(message=m, asynchronous=False)
            elif policy == "store_offsets":
                consumer.store_offsets(message=m)


if __name__ == "__main__":
    main(*sys.argv[1:])
