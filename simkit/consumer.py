"""The consumer: a poll loop, a handler a learner writes, commit policies, crashes and restarts.

This module holds the :class:`Consumer` a learner builds and controls. Its parts live
beside it: the process itself in :mod:`simkit.poll_loop`, when it commits (its
*commit policy*, ``commit=``, one of :data:`COMMIT_POLICIES`) in
:mod:`simkit.commit_policies`, its partitions and positions in
:mod:`simkit.subscription`, how records are handled in :mod:`simkit.processing` and
:mod:`simkit.handlers`, and the two real clients' defaults (``client="java"`` or
``"librdkafka"``) in :mod:`simkit.clients`.

How a consumer stops, three ways, as real clients do:

* a *crash* (``crash_rate``, ``crash_schedule``, ``crash_at``, ``kill_rate``) commits
  nothing and sends nothing: the group notices only after ``session_timeout`` ms;
* :meth:`Consumer.close` finishes the batch in hand, commits what its auto commit
  would, and leaves the group at once (both clients' ``close()``);
* :meth:`Consumer.stop` ends it wherever it is and leaves the group, committing nothing.

Crash points of a consumer, in code-path order: ``before_process`` (the record was
handed over, the handler has not run) and ``after_process`` (the handler finished,
the offset is not yet committed), plus any point the handler declares in a
``crash_points`` attribute and passes with ``ctx.crash_point(name)``.
"""

from __future__ import annotations

from typing import Any, Callable, Generator, Iterable

import simpy

from .broker import Broker, Record
from .clients import consumer_settings
from .commit_policies import COMMIT_POLICIES, CommitPolicy, resolve_policy
from .distributions import DistributionLike, as_distribution
from .errors import BrokerUnavailable, CommitFailed, ConfigError, Crash
from .faults import CrashPlan, kills, strike_at
from .groups import ConsumerGroup, ConsumerGroupMetadata
from .handlers import Context, Handler, handler_arity
from .poll_loop import life
from .processing import WorkerPool
from .subscription import Subscription
from .world import World

__all__ = ["COMMIT_POLICIES", "Consumer", "Context", "handler_arity"]

BUILTIN_POINTS = ("before_process", "after_process")
TP = tuple[str, int]


class Consumer:
    """A Kafka consumer in a group, running ``handler`` on every record it polls.

    ``handler(record, ctx)`` (or ``handler(record)``) is any callable; if it returns a
    generator, the consumer runs it as SimPy steps, so a handler can ``yield`` to wait
    for a database or a network call (see :mod:`simkit.handlers`).

    Settings left out come from ``client``: None (simkit's defaults: the Java client's
    ``max_poll_records=500``, ``auto_commit_interval=5000``, ``auto_offset_reset="latest"``
(``"earliest"``, ``"latest"`` or ``"none"``; librdkafka's aliases ``"smallest"``,
``"beginning"``, ``"largest"``, ``"end"`` and ``"error"`` are accepted),
    ``session_timeout=45000``, with librdkafka's ``commit="auto"``), ``"java"`` or
    ``"librdkafka"`` (each client's own defaults, listed in :mod:`simkit.clients`).

    ``crash_rate`` crashes the consumer at one of its crash points on that share of the
    records it handles; ``kill_rate`` kills it at random instants, that many times a
    second of simulated time, wherever it is (see :mod:`simkit.faults`).

    ``group_instance_id`` makes it a static member (``group.instance.id``, KIP-345): a
    restart within ``session_timeout`` gets its partitions back without a rebalance.
    ``assignor="cooperative_sticky"`` rebalances incrementally (KIP-429); see
    :mod:`simkit.groups`.
    """

    def __init__(
        self,
        world: World,
        broker: Broker,
        name: str,
        topics: str | Iterable[str],
        handler: Callable[..., Any] | None = None,
        *,
        group: str | ConsumerGroup = "group",
        client: str | None = None,
        commit: str | type[CommitPolicy] | None = None,
        assignor: str | None = None,
        max_poll_records: int | None = None,
        fetch_latency: DistributionLike = 0,
        processing_time: DistributionLike = 0,
        commit_latency: DistributionLike = 0,
        auto_commit_interval: float | None = None,
        workers: int | None = None,
        auto_offset_reset: str | None = None,
        isolation_level: str | None = None,
        session_timeout: float | None = None,
        retry_backoff: float | None = None,
        max_poll_interval: float | None = None,
        group_instance_id: str | None = None,
        on_error: str = "raise",
        crash_rate: float = 0.0,
        crash_points: Iterable[str] | None = None,
        crash_schedule: Iterable[tuple[int, str]] = (),
        kill_rate: float = 0.0,
        restart_delay: DistributionLike = 1000,
        start: float = 0,
    ):
        settings = consumer_settings(
            client, commit=commit, assignor=assignor, max_poll_records=max_poll_records,
            auto_commit_interval=auto_commit_interval, auto_offset_reset=auto_offset_reset,
            session_timeout=session_timeout, retry_backoff=retry_backoff, max_poll_interval=max_poll_interval,
            isolation_level=isolation_level)
        policy_class = resolve_policy(settings["commit"])
        if group_instance_id is not None and (not isinstance(group_instance_id, str) or not group_instance_id):
            raise ConfigError("group_instance_id", group_instance_id, "None (a dynamic member) or a non-empty string")
        if workers is not None and (isinstance(workers, bool) or not isinstance(workers, int) or workers < 1):
            raise ConfigError("workers", workers, "None (process in the poll loop) or an int >= 1")
        if isinstance(start, bool) or not isinstance(start, (int, float)) or not 0 <= start < float("inf"):
            raise ConfigError("start", start, "a finite number of ms >= 0")
        #: the learner's handler, wrapped to be called as it wants and to tell its failures plainly
        self.handler_call = Handler(handler, on_error)
        self.world = world
        self.broker = broker
        self.name = world.claim_name(name)
        self.client = client
        self.topics = [topics] if isinstance(topics, str) else list(topics)
        for t in self.topics:
            broker.partitions(t)
        if isinstance(group, ConsumerGroup):
            self.group = group
        else:
            self.group = broker.groups.get(group) or ConsumerGroup(
                world, broker, group, assignor=settings["assignor"], session_timeout=settings["session_timeout"])
        self.handler = self.handler_call.fn
        #: ``group.instance.id``: a static member (KIP-345) keeps its partitions over a quick restart
        self.group_instance_id = group_instance_id
        self.commit_policy: str = policy_class.name or policy_class.__name__
        self.max_poll_records: int = settings["max_poll_records"]
        self.fetch_latency = as_distribution("fetch_latency", fetch_latency)
        self.processing_time = as_distribution("processing_time", processing_time)
        self.commit_latency = as_distribution("commit_latency", commit_latency)
        self.restart_delay = as_distribution("restart_delay", restart_delay)
        self.auto_commit_interval: float = settings["auto_commit_interval"]
        self.max_poll_interval: float | None = settings["max_poll_interval"]
        self.workers = workers
        self.auto_offset_reset: str = settings["auto_offset_reset"]
        self.retry_backoff: float = settings["retry_backoff"]
        self.on_error = on_error
        if isinstance(crash_points, str):
            raise ConfigError("crash_points", crash_points, "a list of point names, such as ['before_process']")
        points = list(crash_points) if crash_points is not None else \
            list(BUILTIN_POINTS) + list(self.handler_call.crash_points)
        self.crash_plan = CrashPlan(world, name, points, crash_rate, crash_schedule)
        #: the consumer's stream for fetch, processing, commit and restart times
        self.rng = world.rng(f"{name}/timing")
        self.ctx = Context(self)
        #: what the poll loop is doing now, named in the trace when a kill strikes
        self.step = "start"
        #: when the poll loop last polled (ms), for ``max_poll_interval``
        self.last_poll = 0.0
        # the state of the running process (see simkit.poll_loop); a crash wipes most of it out
        #: the group member id of this incarnation (``name.n``), "" while down
        self.member_id = ""
        #: how many times the process joined its group as a new member
        self.incarnation = 0
        #: the group generation its assignment belongs to, -1 before one
        self.generation = -1
        #: the partitions it owns and its position in each
        self.subscription = Subscription(broker, self.auto_offset_reset, self.name)
        #: ``isolation.level``: ``"read_committed"`` sees only committed transactions (KIP-98)
        self.isolation_level: str = settings["isolation_level"]
        self.subscription.read_committed = self.isolation_level == "read_committed"
        #: the event its poll waits on while there is nothing to fetch
        self.poll_wait: simpy.Event | None = None
        #: helper processes of this incarnation (the auto-commit timer, workers): a crash ends them
        self.helpers: list[simpy.Process] = []
        #: True once stopped or closed for good; ``closing`` while a close waits for the next poll
        self.stopped = False
        self.closing = False
        #: the worker pool, if ``workers`` was given
        self.pool = WorkerPool(self, workers) if workers else None
        #: a crash is on its way to the process: interrupt it only once
        self.crashing = False
        #: the commit policy object (see :mod:`simkit.commit_policies`)
        self.policy: CommitPolicy = policy_class(self)
        self.process = world.env.process(life(self, float(start)))
        kills(world, self.name, kill_rate, self._kill)

    # -- control from outside ---------------------------------------------------------
    def crash_at(self, time: float) -> None:
        """Crash this consumer at simulated time ``time`` (ms), wherever it is."""
        strike_at(self.world, time, lambda: self.crash("time"))

    def _kill(self) -> bool:
        return self.crash(f"kill:{self.step}")

    def crash(self, point: str = "now") -> bool:
        """Crash the running incarnation now, wherever it is, as a SIGKILL would; ``point`` names it.

        Returns False once the consumer was stopped or closed for good (nothing to crash).
        """
        if self.stopped:
            return False
        if self.process.is_alive and self.member_id and not self.crashing:
            self.crashing = True
            self.process.interrupt(Crash(self.name, point))
        return True

    def close(self) -> None:
        """Close the consumer cleanly, as both clients' ``close()`` does.

        It takes effect at the consumer's next poll, so the batch in hand is finished
        first (an application's ``while running: poll()`` loop). Then, if its policy
        auto-commits, it commits synchronously what that commit would cover (retrying for
        up to :data:`~simkit.poll_loop.CLOSE_TIMEOUT` ms while the broker is down), and leaves its group, so
        its partitions move at once. With ``"auto"`` and ``"store_offsets"`` that is the
        stored offsets (librdkafka's ``rd_kafka_consumer_close``, and confluent-kafka's
        ``Consumer.close()``, commit them when ``enable.auto.commit=true``); with
        ``"auto_on_poll"`` the position (the Java ``KafkaConsumer.close()`` calls
        ``ConsumerCoordinator.maybeAutoCommitOffsetsSync``). The manual policies have
        committed already. A crashed consumer that is waiting to restart simply stays down.
        """
        if not self.member_id:
            self.stop()
            return
        self.closing = True
        self.poke()

    def stop(self) -> None:
        """Stop the consumer at once, wherever it is, and leave the group without committing.

        Not a client's ``close()`` (see :meth:`close`, which finishes the batch and commits
        first) and not a crash (a crashed member stays in the group until its session
        times out): the record in hand is abandoned, nothing more is committed, and the
        group rebalances at once. Use it to end a consumer that is idle.
        """
        self.stopped = True
        if self.process.is_alive:
            self.process.interrupt("stop")

    def store_offsets(self, record: Record | None = None, *, offsets: dict[TP, int] | None = None) -> None:
        """Store the offset after ``record`` (or ``offsets``) for the next auto commit.

        librdkafka's ``rd_kafka_offsets_store`` (confluent-kafka's
        ``Consumer.store_offsets(message=...)``), for ``commit="store_offsets"``: call it
        once the record's work is done, and the auto-commit timer commits it.
        """
        if (record is None) == (offsets is None):
            raise ConfigError("store_offsets", (record, offsets), "a record, or offsets= (not both)")
        if record is not None:
            offsets = {(record.topic, record.partition): record.offset + 1}
        self.policy.store(dict(offsets))  # type: ignore[arg-type]

    def seek(self, topic: str, partition: int, offset: int) -> None:
        """Move this consumer's position in a partition it owns (for replay).

        An offset retention has deleted, or past the log end, is found out at the next
        fetch, which resets the position as ``auto_offset_reset`` says (Kafka's clients do the same).
        """
        if (topic, partition) not in self.positions:
            raise ConfigError("partition", (topic, partition), f"a partition {self.name} owns: {self.assignment()}")
        self.positions[(topic, partition)] = offset
        self.world.record(self.name, "seek", topic=topic, partition=partition, offset=offset, detail="seek")
        self.poke()

    def seek_to_beginning(self) -> None:
        """Move to the log start offset (0 until retention deletes records) in every partition this consumer owns."""
        for topic, partition in list(self.positions):
            self.seek(topic, partition, self.broker.log_of(topic, partition).start_offset)

    def on_rebalance(self, member_id: str) -> None:
        """Called by the coordinator when a rebalance starts: rejoin from the next poll."""
        if member_id == self.member_id:
            self.poke()

    def on_assignment(self, member_id: str, generation: int, partitions: list[TP]) -> None:
        """Called by the group coordinator after a rebalance."""
        if member_id != self.member_id:
            return  # a message for an incarnation that has crashed
        self.subscription.pending = (generation, partitions)
        self.poke()

    def group_metadata(self) -> ConsumerGroupMetadata:
        """Who this consumer is in its group now, for ``Producer.send_offsets_to_transaction`` (KIP-447).

        Kafka's ``KafkaConsumer.groupMetadata()`` (confluent-kafka's ``consumer_group_metadata()``):
        the group id, the generation of the current assignment, the member id and the
        ``group_instance_id``. Offsets sent with it are refused once the generation is stale.
        """
        return ConsumerGroupMetadata(self.group.group_id, self.generation, self.member_id, self.group_instance_id)

    def assignment(self) -> list[TP]:
        """The partitions this consumer owns now, as ``(topic, partition)`` (the clients' ``assignment()``)."""
        return list(self.subscription.assigned)

    @property
    def positions(self) -> dict[TP, int]:
        """Partition -> offset of the next record this consumer will fetch there."""
        return self.subscription.positions

    @property
    def idle(self) -> bool:
        """True while the consumer is in its group with nothing in hand: no record being
        handled or queued for its workers, and its poll waiting for new records."""
        return (bool(self.member_id) and self.poll_wait is not None and not self.poll_wait.triggered
                and (self.pool is None or self.pool.idle))

    def poke(self) -> None:
        """Wake the poll if it waits for records (a rebalance, a seek or a close needs it)."""
        if self.poll_wait is not None and not self.poll_wait.triggered:
            self.poll_wait.succeed()

    # -- offsets ----------------------------------------------------------------------
    def uncommitted(self, offsets: dict[TP, int]) -> dict[TP, int]:
        """The part of ``offsets`` (partition -> next offset) that the group has not committed yet."""
        committed = self.group.committed
        return {tp: off for tp, off in offsets.items() if committed.get(tp) != off}

    def commit(self, offsets: dict[TP, int], *, wait: bool = True,
               timeout: float | None = None) -> Generator[simpy.Event, Any, None]:
        """Commit ``offsets`` (partition -> next offset to read), as ``yield from consumer.commit(...)``.

        ``wait=True`` is the clients' synchronous ``commit()`` / ``commitSync()``: while the
        broker is down it retries every ``retry_backoff`` ms (for up to ``timeout`` ms if
        given). ``wait=False`` is an asynchronous commit: a failure is written to the
        trace and not retried. A commit refused because the group rebalanced (a stale
        generation) is never retried.
        """
        env = self.world.env
        if not offsets:
            return
        deadline = None if timeout is None else env.now + timeout
        mine = env.active_process is self.process
        step, self.step = self.step, "commit" if mine else self.step
        while True:
            if not self.commit_latency.is_zero:
                yield env.timeout(self.commit_latency.sample(self.rng))
            try:
                self.group.commit(self.member_id, self.generation, offsets)
                break
            except CommitFailed:
                break
            except BrokerUnavailable as err:
                for (topic, partition), off in offsets.items():
                    self.world.record(self.name, "commit_failed", topic=topic, partition=partition,
                                      offset=off, detail=str(err))
                if not wait or (deadline is not None and env.now + self.retry_backoff > deadline):
                    break
                yield env.timeout(self.retry_backoff)
        if mine:
            self.step = step

    def spawn(self, steps: Generator[simpy.Event, Any, None]) -> simpy.Process:
        """Run ``steps`` as a helper process of this incarnation (a timer, a worker): a crash ends it."""
        def helper() -> Generator[simpy.Event, Any, None]:
            try:
                yield from steps
            except simpy.Interrupt:  # the incarnation ended: so does its helper
                return

        process = self.world.env.process(helper())
        self.helpers.append(process)
        return process
