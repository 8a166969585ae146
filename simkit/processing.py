"""How a consumer processes the records a poll returns: one by one, or through a pool of workers.

Without ``workers`` the poll loop handles each record itself before it polls again,
as an application's ``for record in consumer.poll(): handle(record)`` does. With
``workers=n`` it hands the batch to a pool of ``n`` workers and polls on at once, so
polling runs ahead of the work: the position, and any commit made from it, can cover
records still waiting in the pool.
"""

from __future__ import annotations

from collections import deque
from typing import TYPE_CHECKING, Any, Generator

import simpy

from .broker import Record
from .errors import Crash

if TYPE_CHECKING:
    from .consumer import Consumer

__all__ = ["WorkerPool", "process"]


def process(consumer: "Consumer", rec: Record, processed_hook: bool = True) -> Generator[simpy.Event, Any, None]:
    """Handle one record: the crash points, the processing time, the handler, the commit policy's turn.

    The workers and the poll loop both run this (the poll loop names its step ``"handler"``
    first; a worker has no step). ``processed_hook=False`` skips the policy's ``processed``,
    for a policy that leaves it at :class:`~simkit.commit_policies.CommitPolicy`'s default,
    which does nothing.
    """
    world = consumer.world
    env = world.env
    plan = consumer.crash_plan
    armed = plan.arm()
    world.trace.record(env.now, consumer.name, "process", rec.topic, rec.partition, rec.offset, rec.key,
                       rec.msg_id)
    if armed:
        plan.hit("before_process")
    if not consumer.processing_time.is_zero:
        yield env.timeout(consumer.processing_time.sample(consumer.rng))
    done = consumer.handler_call.call(rec, consumer.ctx)
    if done is not True and done is not False:  # the handler's own steps: run them
        done = yield from done
    if done:
        world.trace.record(env.now, consumer.name, "processed", rec.topic, rec.partition, rec.offset,
                           rec.key, rec.msg_id)
    if plan.armed:
        plan.hit("after_process")
    plan.armed = None
    if processed_hook:
        yield from consumer.policy.processed(rec)


class WorkerPool:
    """``size`` workers sharing one queue of records the poll loop hands them."""

    def __init__(self, consumer: "Consumer", size: int):
        self.consumer = consumer
        self.size = size
        self.queue: deque[Record] = deque()
        self._waiting: list[simpy.Event] = []

    @property
    def idle(self) -> bool:
        """True when no record is queued and every worker waits for one."""
        return not self.queue and len(self._waiting) == self.size

    def start(self) -> None:
        """Start the workers of a new incarnation of the consumer."""
        for _ in range(self.size):
            self.consumer.spawn(self._work())

    def reset(self) -> None:
        """Forget the queue and the workers (the consumer crashed: its memory is gone)."""
        self.queue.clear()
        self._waiting = []

    def hand(self, batch: list[Record]) -> None:
        """Queue ``batch`` and wake as many waiting workers as there are records."""
        self.queue.extend(batch)
        while self._waiting and self.queue:
            self._waiting.pop(0).succeed()

    def _work(self) -> Generator[simpy.Event, Any, None]:
        consumer = self.consumer
        env = consumer.world.env
        while True:
            if not self.queue:
                ev = env.event()
                self._waiting.append(ev)
                yield ev
                continue
            rec = self.queue.popleft()
            try:
                yield from process(consumer, rec)
            except Crash as crash:
                consumer.crash(crash.point)
                return
