"""A live lab child process: a consumer, the sign-up service or the outbox relay, on a real client.

Run as ``python _child.py CONFIG.json`` by :mod:`simkit.live`, never imported by a
learner. It imports nothing from simkit (only confluent-kafka and the sibling
:mod:`_db`), so a restart after a crash costs a Python start-up and nothing more.

It writes its trace rows, one JSON list per line in simkit's trace columns, to its own
file with one ``os.write`` each: a row written is in the kernel's hands at once and
survives the process being killed the instant after. A crash at a named point writes
its ``crash`` row and leaves with ``os._exit(CRASH_EXIT)``: no ``finally``, no
``close()``, no flushing of the client, as if the power went. ``SIGTERM`` asks it to
stop cleanly (the consumer's ``close()`` commits stored offsets, as librdkafka does).
"""

from __future__ import annotations

import ctypes
import json
import os
import signal
import sys
import time
from typing import Any

CRASH_EXIT = 70


class ChildSide:
    """What every role shares: the config, the trace file, the crash countdown, the stop flag."""

    def __init__(self, config: dict[str, Any]):
        self.config = config
        self.name = config["component"]
        self.t0 = config["t0"]
        self.fd = os.open(config["trace_path"], os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        self.countdown = config.get("crash_after")  # crash while handling this item (from 0), or None
        self.crash_point = config.get("crash_point")
        self.stopping = False
        self._state = ""
        signal.signal(signal.SIGTERM, self._stop)

    def _stop(self, *_: Any) -> None:
        self.stopping = True

    def now(self) -> float:
        return (time.time() - self.t0) * 1000.0

    def record(self, event: str, topic: str | None = None, partition: int = -1, offset: int = -1,
               key: Any = None, msg_id: Any = None, detail: Any = None) -> None:
        row = [self.now(), self.name, event, topic, partition, offset, key, msg_id, detail]
        os.write(self.fd, (json.dumps(row) + "\n").encode())

    def hit(self, point: str, msg_id: Any = None) -> None:
        """The named crash point ``point``: die here if this item's crash is planned here."""
        if self.countdown == 0 and point == self.crash_point:
            self.record("crash", msg_id=msg_id, detail=point)
            os._exit(CRASH_EXIT)

    def handled_one(self) -> None:
        if self.countdown is not None:
            self.countdown -= 1

    def status(self, state: str) -> None:
        """Tell the parent whether this child is idle or busy (an atomic file swap, on each change)."""
        if state == self._state:
            return
        self._state = state
        path = self.config["status_path"]
        with open(path + ".tmp", "w") as f:
            f.write(state)
        os.replace(path + ".tmp", path)


def _die_with_parent(parent: int) -> None:
    """Ask Linux to SIGKILL this process when its parent dies, so a killed lab leaves no orphans.

    Linux means the parent *thread* that started it: the lab's supervisors stop their
    children before their threads end, so that never kills a child early.
    """
    try:
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # 1: PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        return  # not Linux: the parent's own clean-up still stops every child
    if os.getppid() != parent:  # the parent died before the request took effect
        os._exit(1)


def msg_id_of(message: Any) -> Any:
    """The message id the application put in the record's ``msg_id`` header (JSON), or None."""
    for name, value in message.headers() or ():
        if name == "msg_id":
            return json.loads(value)
    return None


def _key(message: Any) -> Any:
    key = message.key()
    return key.decode() if key is not None else None


def send_and_wait(child: ChildSide, producer: Any, topic: str, key: str, event_id: str, payload: str,
                  timeout: float) -> str | None:
    """Produce one event (a ``send`` row) and wait for the broker's ack; the failure, or None once written."""
    failures: list[Any] = []
    child.record("send", topic, key=key, msg_id=event_id)
    producer.produce(topic, value=payload, key=key, headers={"msg_id": json.dumps(event_id)},
                     on_delivery=lambda err, msg: failures.append(err) if err is not None else None)
    if producer.flush(timeout):
        return "no acknowledgement in time"
    return str(failures[0]) if failures else None


# -- the consumer ----------------------------------------------------------------------------
def consumer(child: ChildSide) -> None:
    """Poll batches, handle each record, commit by the design; see :mod:`simkit.live.consume`."""
    from confluent_kafka import Consumer, TopicPartition

    cfg = child.config
    design = cfg["design"]
    conf = dict(cfg["client"])
    conf.update({"group.id": cfg["group"], "auto.offset.reset": "earliest",
                 "enable.auto.commit": design in ("auto", "store_offsets"),
                 "enable.auto.offset.store": design == "auto"})

    def on_commit(err: Any, partitions: list) -> None:
        for tp in partitions:
            if err is None and tp.error is None and tp.offset >= 0:
                child.record("commit", tp.topic, tp.partition, tp.offset)

    def on_assign(c: Any, partitions: list) -> None:
        child.record("assign", cfg["topic"], detail=",".join(str(tp.partition) for tp in partitions))

    if design in ("auto", "store_offsets"):
        conf["on_commit"] = on_commit
    c = Consumer(conf)
    c.subscribe([cfg["topic"]], on_assign=on_assign)
    child.record("join")
    seconds = cfg["processing_time"] / 1000.0
    while not child.stopping:
        batch = [m for m in c.consume(num_messages=cfg["max_poll_records"], timeout=0.05) if not m.error()]
        child.status("busy" if batch else "idle")
        if not batch:
            continue
        child.record("fetch", cfg["topic"], detail=len(batch))
        if design == "before_processing":
            ends: dict[int, int] = {}
            for m in batch:
                ends[m.partition()] = m.offset() + 1
            done = c.commit(offsets=[TopicPartition(cfg["topic"], p, o) for p, o in ends.items()],
                            asynchronous=False)
            for tp in done or ():
                child.record("commit", tp.topic, tp.partition, tp.offset)
        for m in batch:
            mid, key, part, off = msg_id_of(m), _key(m), m.partition(), m.offset()
            child.record("process", m.topic(), part, off, key, mid)
            child.hit("before_process", mid)
            time.sleep(seconds)
            value = m.value().decode() if m.value() is not None else None
            child.record(cfg["effect"], m.topic(), part, off, key, mid, value)
            child.hit("after_process", mid)
            child.handled_one()
            if design == "after_processing":
                for tp in c.commit(message=m, asynchronous=False) or ():
                    child.record("commit", tp.topic, tp.partition, tp.offset)
            elif design == "store_offsets":
                c.store_offsets(message=m)
                child.record("store_offset", m.topic(), part, off + 1, key, mid)
    c.close()  # commits the stored offsets when auto commit is on, as librdkafka's close() does
    child.record("leave", detail="closed")


# -- the sign-up service -----------------------------------------------------------------------
def service(child: ChildSide) -> None:
    """Answer requests read from stdin (one request index a line) by the design; see :mod:`simkit.live.publish`."""
    from confluent_kafka import Producer

    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    import _db

    cfg = child.config
    design, topic = cfg["design"], cfg["topic"]
    store = _db.Store(cfg["database"], cfg["prefix"])
    producer = Producer(dict(cfg["client"]))
    timeout = cfg["publish_timeout"] / 1000.0

    def publish(i: int) -> None:
        failure = send_and_wait(child, producer, topic, f"user-{i}", f"signup-{i}",
                                json.dumps({"user": f"user-{i}"}), timeout)
        if failure is not None:
            raise RuntimeError(f"publish failed: {failure}")

    def commit(i: int, with_event: bool) -> None:
        event = (topic, f"user-{i}", json.dumps({"user": f"user-{i}"})) if with_event else None
        store.create_user(f"signup-{i}", f"user-{i}", child.now(), event)

    steps = {
        "dual_write": [("before_commit", commit, False), ("between_commit_and_publish", publish, None),
                       ("after_publish", None, None)],
        "publish_then_commit": [("before_publish", publish, None), ("between_publish_and_commit", commit, False),
                                ("after_commit", None, None)],
        "outbox": [("before_commit", commit, True), ("after_commit", None, None)],
    }[design]
    for line in sys.stdin:
        i = int(line)
        try:
            for point, step, arg in steps:
                child.hit(point, f"signup-{i}")
                if step is publish:
                    publish(i)
                elif step is not None:
                    step(i, arg)
        except Exception as exc:  # the database or the broker refused: answer with the error
            answer = f"error {type(exc).__name__}: {exc}"
        else:
            answer = "ok"
        child.handled_one()
        sys.stdout.write(answer.replace("\n", " ") + "\n")
        sys.stdout.flush()


# -- the outbox relay ------------------------------------------------------------------------
def relay(child: ChildSide) -> None:
    """Publish the outbox's rows in order, each at least once; see :mod:`simkit.live.publish`."""
    from confluent_kafka import Producer

    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    import _db

    cfg = child.config
    store = _db.Store(cfg["database"], cfg["prefix"])
    producer = Producer(dict(cfg["client"]))
    timeout = cfg["publish_timeout"] / 1000.0
    while not child.stopping:
        row = store.claim()
        child.status("idle" if row is None else "busy")
        if row is None:
            time.sleep(cfg["poll_interval"] / 1000.0)
            continue
        row_id, event_id, topic, key, payload = row
        child.record("outbox_read", topic, key=key, msg_id=event_id, detail=row_id)
        child.hit("after_read", event_id)
        if send_and_wait(child, producer, topic, key, event_id, payload, timeout) is not None:
            store.release()  # not acknowledged: the row stays unpublished and is tried again
            continue
        child.record("outbox_published", topic, key=key, msg_id=event_id, detail=row_id)
        child.hit("after_publish", event_id)
        store.mark_published(row_id)
        child.record("outbox_marked", topic, key=key, msg_id=event_id, detail=row_id)
        child.hit("after_mark", event_id)
        child.handled_one()
    store.close()


ROLES = {"consumer": consumer, "relay": relay, "service": service}


def main() -> None:
    with open(sys.argv[1]) as f:
        config = json.load(f)
    _die_with_parent(config["parent"])
    ROLES[config["role"]](ChildSide(config))
    os._exit(0)


if __name__ == "__main__":
    main()
