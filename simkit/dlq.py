"""Retries and a dead-letter topic: what a consumer does with a record it cannot handle.

Some records fail every time: a malformed field, a shape the consumer cannot decode.
Retrying such a *poison* record forever stops its partition, because a partition is
read in order and the consumer cannot commit past a record it has not finished. The
habit from practice is the one Spring for Apache Kafka builds in
(``DefaultErrorHandler`` with a ``DeadLetterPublishingRecoverer``):

1. try the handler again a few times with a back-off, which rides out *transient*
   failures (a database that is briefly down);
2. when the retries run out, or the error is one that retrying cannot fix (Spring
   never retries a ``DeserializationException``), publish the record to a dead-letter
   topic, by default ``<topic>.DLT`` on the same partition, with headers saying where
   it came from and why it failed;
3. return normally, so the consumer commits the offset and the partition moves on.

The dead-letter topic is then a queue someone must look at: its depth is watched
with a :class:`~simkit.monitor.Monitor` that alerts above a threshold
(:func:`watch_depth`).

A :class:`~simkit.errors.Crash` is not a handler failure: the process died, and the
wrapper lets it pass, so crashes keep their at-least-once meaning.

The checkers at the end read only the trace: :func:`dlq_depth`, :func:`unfinished`
(lost versus still waiting) and :func:`blocked_time`.
"""

from __future__ import annotations

import inspect
from typing import Any, Callable, Generator, Iterable, Mapping, NamedTuple

import numpy as np
import pandas as pd
import simpy

from .broker import Broker, Record
from .checks import EXAMPLES, Check
from .consumer import Context, handler_arity
from .errors import ConfigError, Crash, ExerciseError
from .monitor import Monitor
from .producer import Producer
from .schemas import DeserializationError
from .world import World

__all__ = [
    "DLT_SUFFIX", "DeadLetter", "KeyParked", "RetryingHandler", "blocked_time", "dead_letter_topic_for", "dlq_depth",
    "unfinished", "watch_depth", "with_retries",
]

#: Spring Kafka's default dead-letter topic name is the source topic plus this suffix.
DLT_SUFFIX = ".DLT"

#: Errors retrying cannot fix (Spring's defaults include ``DeserializationException``).
NOT_RETRYABLE: tuple[type[BaseException], ...] = (DeserializationError,)


def dead_letter_topic_for(topic: str) -> str:
    """The dead-letter topic of ``topic``: ``"payments"`` -> ``"payments.DLT"``."""
    return topic + DLT_SUFFIX


class DeadLetter(NamedTuple):
    """The value of a dead-letter record: the original value, untouched, plus headers.

    Kafka records carry headers; simkit's records do not, so the headers travel
    beside the value. Their names follow Spring's ``kafka_dlt-*`` headers:
    ``original-topic``, ``original-partition``, ``original-offset``,
    ``exception`` (the error's class), ``message`` and ``attempts``.
    """

    value: Any
    headers: Mapping[str, Any]


class KeyParked(Exception):
    """Why a record went to the dead-letter topic untried: an earlier record of its key is parked there."""


class RetryingHandler:
    """A handler wrapped with retries and, optionally, a dead-letter topic (see :func:`with_retries`)."""

    def __init__(
        self,
        handler: Callable[..., Any],
        *,
        retries: int = 3,
        backoff: float = 100.0,
        multiplier: float = 2.0,
        max_backoff: float = 30_000.0,
        dead_letter_topic: str | None = None,
        producer: Producer | None = None,
        not_retryable: Iterable[type[BaseException]] = NOT_RETRYABLE,
        park_keys: bool = False,
    ):
        if not callable(handler):
            raise ConfigError("handler", handler, "a callable handler(record, ctx)")
        if isinstance(retries, bool) or not isinstance(retries, int) or retries < 0:
            raise ConfigError("retries", retries, "an int >= 0 (how many times to try again)")
        for pname, val, low in (("backoff", backoff, 0.0), ("multiplier", multiplier, 1.0),
                                ("max_backoff", max_backoff, 0.0)):
            if isinstance(val, bool) or not isinstance(val, (int, float)) or not low <= val < float("inf"):
                raise ConfigError(pname, val, f"a finite number >= {low:g}")
        if producer is not None and not isinstance(producer, Producer):
            raise ConfigError("producer", producer, "a simkit Producer, or None for no dead-letter topic")
        if dead_letter_topic is not None:
            if producer is None:
                raise ConfigError("dead_letter_topic", dead_letter_topic, "None unless a producer is given too")
            producer.broker.partitions(dead_letter_topic)  # a ConfigError if the topic does not exist
        if not isinstance(park_keys, bool) or (park_keys and producer is None):
            raise ConfigError("park_keys", park_keys, "True or False; True only with a producer for the dead letters")
        not_retryable = tuple(not_retryable)
        if not all(inspect.isclass(e) and issubclass(e, BaseException) for e in not_retryable):
            raise ConfigError("not_retryable", not_retryable, "exception classes")
        self.handler = handler
        self._args = handler_arity(handler)
        self.retries = retries
        self.backoff = float(backoff)
        self.multiplier = float(multiplier)
        self.max_backoff = float(max_backoff)
        self.dead_letter_topic = dead_letter_topic
        self.producer = producer
        self.not_retryable = not_retryable
        self.park_keys = park_keys
        #: keys with a record on the dead-letter topic; shared by every consumer given this handler
        self.parked_keys: set[Any] = set()
        # the consumer offers the wrapped handler's own crash points
        self.crash_points = tuple(getattr(handler, "crash_points", ()))
        self.__name__ = f"with_retries({getattr(handler, '__name__', 'handler')})"

    def delay(self, attempt: int) -> float:
        """Milliseconds to wait after failed attempt number ``attempt`` (0 = the first), capped."""
        return min(self.backoff * self.multiplier ** attempt, self.max_backoff)

    def __call__(self, record: Record, ctx: Context) -> Generator[simpy.Event, Any, None]:
        return self._handle(record, ctx)

    def _handle(self, record: Record, ctx: Context) -> Generator[simpy.Event, Any, None]:
        if self.park_keys and record.key in self.parked_keys:  # behind a parked record: keep the key's order
            yield from self._dead_letter(record, ctx, KeyParked(
                f"key {record.key!r} has an earlier record on the dead-letter topic"), 0)
            return
        attempt = 0
        while True:
            try:
                result = self.handler(record, ctx) if self._args == 2 else self.handler(record)
                if inspect.isgenerator(result):
                    yield from result
                return
            except (Crash, simpy.Interrupt, ExerciseError):
                raise  # the process died or the learner's code is broken: not the record's fault
            except Exception as exc:
                error = f"{type(exc).__name__}: {exc}"
                if attempt < self.retries and not isinstance(exc, self.not_retryable):
                    wait = self.delay(attempt)
                    attempt += 1
                    ctx.record("handler_retry", record, detail=f"attempt {attempt} failed ({error}); "
                                                               f"trying again in {wait:g} ms")
                    yield ctx.env.timeout(wait)
                    continue
                if self.producer is None:
                    raise  # no dead-letter topic: the consumer's on_error decides
                yield from self._dead_letter(record, ctx, exc, attempt + 1)
                return

    def _dead_letter(self, record: Record, ctx: Context, exc: Exception,
                     attempts: int) -> Generator[simpy.Event, Any, None]:
        assert self.producer is not None
        topic = self.dead_letter_topic or dead_letter_topic_for(record.topic)
        broker: Broker = self.producer.broker
        nparts = broker.partitions(topic)
        headers = {"original-topic": record.topic, "original-partition": record.partition,
                   "original-offset": record.offset, "exception": type(exc).__name__, "message": str(exc),
                   "attempts": attempts}
        # Spring's default: the same partition number, so the DLT needs as many partitions as the source
        partition = record.partition if record.partition < nparts else None
        # wait for the broker's acknowledgement: if the dead letter cannot be written the record must not
        # be committed (a failed send raises here, and the consumer's on_error takes over)
        yield self.producer.send(topic, DeadLetter(record.value, headers), key=record.key, msg_id=record.msg_id,
                                 partition=partition)
        ctx.record("dead_lettered", record,
                   detail=f"to {topic} after {attempts} attempt(s): {type(exc).__name__}: {exc}")
        if self.park_keys:
            self.parked_keys.add(record.key)


def with_retries(
    handler: Callable[..., Any],
    retries: int = 3,
    backoff: float = 100.0,
    *,
    multiplier: float = 2.0,
    max_backoff: float = 30_000.0,
    dead_letter_topic: str | None = None,
    producer: Producer | None = None,
    not_retryable: Iterable[type[BaseException]] = NOT_RETRYABLE,
    park_keys: bool = False,
) -> RetryingHandler:
    """Wrap ``handler`` so a failure is retried, then (with a ``producer``) sent to a dead-letter topic.

    * ``retries``: how many times to try again after the first failure (``retries=3``
      is four attempts; Spring's ``DefaultErrorHandler`` defaults to nine retries).
    * ``backoff`` (ms) before the first retry, times ``multiplier`` after each further
      failure, at most ``max_backoff`` (Spring's ``ExponentialBackOff``;
      ``multiplier=1`` is its ``FixedBackOff``). The wait is simulated time during which
      the partition makes no progress.
    * ``producer``: publish the record to ``dead_letter_topic`` (default
      ``<topic>.DLT``, same partition) when retries are exhausted, write a
      ``dead_lettered`` trace row and return, so the offset is committed. Without a
      producer the last error is raised to the consumer, whose ``on_error`` decides.
    * ``not_retryable``: errors that go to the dead-letter topic at once (default:
      :class:`~simkit.schemas.DeserializationError`, as Spring never retries a
      deserialization failure).
    * ``park_keys``: once a record is parked, send every later record of its key straight
      to the dead-letter topic too (as :class:`KeyParked`), so the key's records stay in
      order, to be replayed together once the first is fixed. A dead-letter topic alone
      lets the key's later records be booked *before* the parked one. The parked keys
      live in this handler's memory; a real service keeps them in a store that survives
      restarts.

    Each failed attempt that will be retried is a ``handler_retry`` trace row. A retry
    runs the whole handler again: whatever it did before failing is done again, so the
    handler should be idempotent. A :class:`~simkit.errors.Crash` passes straight through.
    """
    return RetryingHandler(handler, retries=retries, backoff=backoff, multiplier=multiplier,
                           max_backoff=max_backoff, dead_letter_topic=dead_letter_topic, producer=producer,
                           not_retryable=not_retryable, park_keys=park_keys)


def watch_depth(world: World, broker: Broker, topic: str, *, threshold: float | None = None,
                interval: float = 100, name: str = "dlq_depth") -> Monitor:
    """A :class:`~simkit.monitor.Monitor` of how many records ``topic`` holds, alerting above ``threshold``.

    Nobody consumes a dead-letter topic in these lessons, so its depth is its size (the
    sum of its partitions' log end offsets). ``alert`` rows name the metric ``name``.
    """
    broker.partitions(topic)  # a ConfigError for an unknown topic
    return Monitor(world, name, lambda: sum(broker.end_offsets(topic)), interval=interval, threshold=threshold)


# -- checkers: pure functions of the trace --------------------------------------------------------------

def dlq_depth(trace: pd.DataFrame, topic: str) -> pd.DataFrame:
    """The number of records in ``topic`` over time: columns ``time`` (ms) and ``depth``, one row per append."""
    rows = trace[(trace["event"] == "append") & (trace["topic"] == topic)]
    times = rows["time"].to_numpy(dtype=float)
    return pd.DataFrame({"time": np.concatenate([[0.0], times]),
                         "depth": np.arange(len(times) + 1, dtype=int)})


def _committed(trace: pd.DataFrame, topic: str, group: str | None) -> dict[int, int]:
    rows = trace[(trace["event"] == "commit") & (trace["topic"] == topic)]
    if group is not None:
        rows = rows[rows["detail"] == group]
    last = rows.groupby("partition", sort=False)["offset"].last()
    return {int(p): int(o) for p, o in last.items()}


def unfinished(trace: pd.DataFrame, topic: str, done: str | Iterable[str] = ("processed", "dead_lettered"),
               group: str | None = None) -> tuple[Check, Check]:
    """Messages sent to ``topic`` that never reached a ``done`` row, split into lost and stuck.

    *Stuck*: the record is in the log at or after its partition's last committed offset,
    so the group will still read it (a blocked partition holds such records). *Lost*:
    the group committed past the record, or it never reached the log, so nobody will
    ever handle it. Returns ``(lost, stuck)``.
    """
    done = [done] if isinstance(done, str) else list(done)
    finished = set(trace.loc[trace["event"].isin(done), "msg_id"].dropna())
    on_topic = trace["topic"] == topic
    sent = trace.loc[(trace["event"] == "send") & on_topic, "msg_id"].dropna().drop_duplicates()
    app = trace.loc[(trace["event"] == "append") & on_topic, ["partition", "offset", "msg_id"]]
    app = app.drop_duplicates("msg_id")
    committed = _committed(trace, topic, group)
    pending = app[~app["msg_id"].isin(finished)]
    behind = pending["offset"].to_numpy() < pending["partition"].map(lambda p: committed.get(int(p), 0)).to_numpy()
    lost_ids = list(pending.loc[behind, "msg_id"])
    appended = set(app["msg_id"])
    lost_ids += [m for m in sent if m not in finished and m not in appended]
    stuck_ids = list(pending.loc[~behind, "msg_id"])
    return (Check("lost", len(lost_ids), tuple(lost_ids[:EXAMPLES]), f"committed past, never {' or '.join(done)}"),
            Check("stuck", len(stuck_ids), tuple(stuck_ids[:EXAMPLES]), "still waiting in the log"))


def blocked_time(trace: pd.DataFrame, topic: str, end: float,
                 failures: Iterable[str] = ("handler_error", "handler_retry", "dead_lettered"),
                 group: str | None = None) -> float:
    """Total ms, summed over partitions, that a failing record held its partition.

    A record holds its partition from its first failure row until the group commits an
    offset past it (or until ``end`` ms if it never does). Overlapping holds in one
    partition count once.
    """
    failures = list(failures)
    on_topic = trace["topic"] == topic
    fails = trace[trace["event"].isin(failures) & on_topic]
    if fails.empty:
        return 0.0
    first = fails.groupby(["partition", "offset"], sort=True)["time"].min()
    commits = trace[(trace["event"] == "commit") & on_topic]
    if group is not None:
        commits = commits[commits["detail"] == group]
    total = 0.0
    for partition, holds in first.groupby(level=0):
        c = commits[commits["partition"] == partition]
        ctimes, coffs = c["time"].to_numpy(), c["offset"].to_numpy()
        spans = []
        for (_, offset), start in holds.items():
            past = np.flatnonzero((ctimes >= start) & (coffs > offset))
            spans.append((float(start), float(ctimes[past[0]]) if len(past) else float(end)))
        spans.sort()
        cur_start, cur_end = spans[0]
        for s, e in spans[1:]:
            if s > cur_end:
                total += cur_end - cur_start
                cur_start, cur_end = s, e
            else:
                cur_end = max(cur_end, e)
        total += cur_end - cur_start
    return total
