"""The handler a learner writes, and what it gets besides the record.

A handler is any callable ``handler(record, ctx)`` or ``handler(record)``. If it
returns a generator, the consumer runs it as SimPy steps, so a handler can ``yield``
to wait for a database or a network call. :class:`Context` is the ``ctx`` argument:
the clock, crash points, trace rows and the consumer's ``store_offsets``.
"""

from __future__ import annotations

import inspect
from types import GeneratorType
from typing import TYPE_CHECKING, Any, Callable, Generator

import simpy

from .broker import Record
from .errors import ConfigError, Crash, ExerciseError

if TYPE_CHECKING:
    from .consumer import Consumer

__all__ = ["Context", "Handler", "ON_ERROR", "handler_arity"]

#: what a consumer does when its handler raises
ON_ERROR = ("raise", "crash", "skip")


def handler_arity(handler: Callable[..., Any]) -> int:
    """How many arguments ``handler`` takes: 1 for ``handler(record)``, 2 for ``handler(record, ctx)``.

    A callable whose signature cannot be read is called with both. Anything taking no
    positional argument raises a :class:`ConfigError`.
    """
    try:
        parameters = inspect.signature(handler).parameters.values()
    except (TypeError, ValueError):
        return 2
    params = [p for p in parameters if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    if any(p.kind == p.VAR_POSITIONAL for p in parameters) or len(params) >= 2:
        return 2
    if len(params) == 1:
        return 1
    raise ConfigError("handler", handler, "a callable taking (record) or (record, ctx)")


class Context:
    """What a handler gets besides the record: the clock, crash points and the trace."""

    __slots__ = ("consumer", "world")

    def __init__(self, consumer: "Consumer"):
        self.consumer = consumer
        self.world = consumer.world

    @property
    def now(self) -> float:
        """Simulated time in ms."""
        return self.world.env.now

    @property
    def env(self) -> simpy.Environment:
        """The SimPy environment, to ``yield ctx.env.timeout(ms)`` inside a handler."""
        return self.world.env

    def crash_point(self, name: str) -> None:
        """Mark a named point in the handler's code path where a crash may strike."""
        self.consumer.crash_plan.point(name)

    def store_offsets(self, record: Record) -> None:
        """Mark ``record`` done, for ``commit="store_offsets"``: the next auto commit covers it."""
        self.consumer.store_offsets(record)

    def record(self, event: str, record: Record | None = None, **fields: Any) -> None:
        """Write a trace row for a side effect (e.g. ``ctx.record("email_sent", rec)``)."""
        if record is not None:
            fields.setdefault("topic", record.topic)
            fields.setdefault("partition", record.partition)
            fields.setdefault("offset", record.offset)
            fields.setdefault("key", record.key)
            fields.setdefault("msg_id", record.msg_id)
        self.world.record(self.consumer.name, event, **fields)


def _noop(record: Record, ctx: Context) -> None:
    return None


class Handler:
    """A learner's handler, called with the arguments it takes, with its failures told plainly.

    ``on_error`` says what a raising handler does to its consumer: ``"raise"`` stops
    the run with an :class:`ExerciseError` naming the message, ``"crash"`` crashes the
    consumer (it comes back and meets the same record again: a poison message),
    ``"skip"`` writes a ``handler_error`` row and carries on with the next record.
    """

    __slots__ = ("arity", "crash_points", "fn", "name", "on_error")

    def __init__(self, fn: Callable[..., Any] | None, on_error: str = "raise"):
        if fn is not None and not callable(fn):
            raise ConfigError("handler", fn, "a callable handler(record, ctx)")
        if on_error not in ON_ERROR:
            raise ConfigError("on_error", on_error, ON_ERROR)
        self.fn = fn or _noop
        self.arity = handler_arity(self.fn)
        self.name = getattr(self.fn, "__name__", self.fn)
        self.crash_points: tuple[str, ...] = tuple(getattr(self.fn, "crash_points", ()))
        self.on_error = on_error

    def run(self, record: Record, ctx: Context) -> Generator[simpy.Event, Any, bool]:
        """Run the handler on ``record``; return True if it finished without raising."""
        done = self.call(record, ctx)
        if done is True or done is False:
            return done
        return (yield from done)

    def call(self, record: Record, ctx: Context) -> Any:
        """Call the handler on ``record``: True or False as :meth:`run` returns for a handler that
        returned, or, for one that returned a generator, the steps that run it and return that.

        The consumer calls this for every record: a plain handler costs one call, no generator.
        """
        try:
            result = self.fn(record, ctx) if self.arity == 2 else self.fn(record)
        except (Crash, simpy.Interrupt, ExerciseError):
            raise
        except Exception as exc:  # noqa: BLE001 (a learner's handler failed: _failed says so, then raises or skips)
            return self._failed(record, ctx, exc)
        if type(result) is GeneratorType:
            return self._steps(result, record, ctx)
        return True

    def _steps(self, steps: Generator[simpy.Event, Any, Any], record: Record,
               ctx: Context) -> Generator[simpy.Event, Any, bool]:
        try:
            yield from steps
        except (Crash, simpy.Interrupt, ExerciseError):
            raise
        except Exception as exc:  # noqa: BLE001 (a learner's handler failed: _failed says so, then raises or skips)
            return self._failed(record, ctx, exc)
        return True

    def _failed(self, record: Record, ctx: Context, exc: Exception) -> bool:
        """The handler raised ``exc``: say so plainly, then crash, stop the run or skip as ``on_error`` says."""
        ctx.record("handler_error", record, detail=repr(exc))
        consumer = ctx.consumer
        if self.on_error == "crash":
            consumer.crash_plan.disarm()
            raise Crash(consumer.name, "handler_error") from exc
        if self.on_error == "raise":
            raise ExerciseError(
                f"handler {self.name!r} of {consumer.name} raised {exc!r} on message {record.msg_id!r} "
                f"(topic {record.topic!r}, partition {record.partition}, offset {record.offset}) "
                f"at t={ctx.now:.1f} ms"
            ) from exc
        return False
