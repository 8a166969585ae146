"""Helpers every scenario shares: parameter checks, the latency summary, knowing when a group is done."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any, Iterable, Sequence

import numpy as np
import pandas as pd
import simpy

from ..errors import ConfigError

if TYPE_CHECKING:
    from ..broker import Broker
    from ..consumer import Consumer
    from ..groups import ConsumerGroup
    from ..world import World

__all__ = ["check_choice", "check_count", "check_positive", "check_window", "latency_fields", "until_drained"]


def check_choice(param: str, value: Any, allowed: Iterable[Any]) -> Any:
    """``value`` if it is one of ``allowed``, else a ConfigError listing them."""
    allowed = tuple(allowed)
    if value not in allowed or isinstance(value, bool):
        raise ConfigError(param, value, allowed)
    return value


def check_count(param: str, value: Any, low: int = 1, high: int | None = None) -> int:
    """An int from ``low`` (to ``high``), else a ConfigError."""
    if isinstance(value, bool) or not isinstance(value, int) or value < low or (high is not None and value > high):
        allowed = f"an int >= {low}" if high is None else f"an int from {low} to {high}"
        raise ConfigError(param, value, allowed)
    return value


def check_positive(param: str, value: Any, allow_zero: bool = False) -> float:
    """A finite number > 0 (or >= 0), else a ConfigError."""
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value) and (
        value >= 0 if allow_zero else value > 0)
    if not ok:
        raise ConfigError(param, value, "a finite number >= 0" if allow_zero else "a finite number > 0")
    return float(value)


def check_window(param: str, value: Any) -> tuple[float, float] | None:
    """``None``, or a ``(start, duration)`` pair in ms with start >= 0 and duration > 0."""
    if value is None:
        return None
    ok = isinstance(value, (tuple, list)) and len(value) == 2 and all(
        isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) for v in value)
    if not ok or value[0] < 0 or value[1] <= 0:
        raise ConfigError(param, value, "None or (start, duration) in ms with start >= 0 and duration > 0")
    return float(value[0]), float(value[1])


def latency_fields(lat: pd.Series, prefix: str = "latency") -> dict[str, float]:
    """Mean, p50, p95, p99 and max of a latency series in ms (NaN when it is empty)."""
    if len(lat) == 0:
        nan = float("nan")
        return {f"{prefix}_mean": nan, f"{prefix}_p50": nan, f"{prefix}_p95": nan, f"{prefix}_p99": nan,
                f"{prefix}_max": nan}
    values = lat.to_numpy(dtype=float)
    p50, p95, p99 = np.percentile(values, [50, 95, 99])
    return {f"{prefix}_mean": float(values.mean()), f"{prefix}_p50": float(p50), f"{prefix}_p95": float(p95),
            f"{prefix}_p99": float(p99), f"{prefix}_max": float(values.max())}


def until_drained(world: "World", broker: "Broker", group: "ConsumerGroup", members: Sequence["Consumer"],
                  after: simpy.Event, every: float = 20) -> simpy.Event:
    """An event that fires once ``after`` has fired and the group has nothing left to do.

    "Nothing left" is Kafka's zero consumer lag (the committed offset of every
    partition equals its log end offset) plus every consumer waiting idle for new
    records, checked every ``every`` ms.
    """
    env = world.env
    done = env.event()

    def watch():  # type: ignore[no-untyped-def]
        yield after
        while True:
            if all(c.idle for c in members) and all(
                    (group.committed_offset(topic, log.partition) or 0) == log.end_offset
                    for topic in {t for c in members for t in c.topics}
                    for log in broker.log_of(topic)):
                done.succeed()
                return
            yield env.timeout(every)

    env.process(watch())
    return done
