"""Helpers every scenario shares: the latency summary and knowing when a group is done.

The parameter checks live in :mod:`simkit.params`; the names below are kept for modules
that import them from here.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Sequence

import numpy as np
import pandas as pd
import simpy

from ..glossary import PERCENTILES
from ..clients import CLIENTS
from ..params import MAX_STEPS, check_choice, check_count, check_positive, check_window, choice

if TYPE_CHECKING:
    from ..broker import Broker
    from ..consumer import Consumer
    from ..groups import ConsumerGroup
    from ..world import World

__all__ = [
    "DRAIN_EVERY", "MAX_DRAIN_MS", "check_choice", "check_count", "check_positive", "check_window", "client_param",
    "latency_fields", "until_drained",
]

#: How often (ms) :func:`until_drained` looks whether a group has nothing left to do.
DRAIN_EVERY = 20.0
#: The longest run (ms) a scenario that waits for a drain may ask for: at most MAX_STEPS looks.
MAX_DRAIN_MS = DRAIN_EVERY * MAX_STEPS


def client_param() -> Any:
    """A scenario's ``client``: whose defaults its producers and consumers take (see :mod:`simkit.clients`).

    ``"java"`` (Kafka 3.x's Java client, the default, which the lessons were written with) or
    ``"librdkafka"`` (what confluent-kafka gets: idempotence off, the ``consistent_random``
    partitioner, up to 1,000,000 requests in flight, one record a poll). Only what the scenario
    leaves unset comes from the client: a scenario's own parameters, and the settings it spells
    out (such as ``commit=``), win.
    """
    return choice("java", CLIENTS, doc="the Kafka client whose defaults the producers and consumers take: "
                                        "'java' (Kafka 3.x) or 'librdkafka' (confluent-kafka)")


def latency_fields(lat: pd.Series, prefix: str = "latency") -> dict[str, float]:
    """The percentile family ``prefix_mean``, ``_p50``, ``_p95``, ``_p99``, ``_max`` of a series in ms.

    Every scenario reports latencies through here, so each family has the same fields
    (:data:`simkit.glossary.PERCENTILES`); an empty series gives NaN for each.
    """
    if len(lat) == 0:
        return {f"{prefix}_{s}": float("nan") for s in PERCENTILES}
    values = lat.to_numpy(dtype=float)
    p50, p95, p99 = np.percentile(values, [50, 95, 99])
    return {f"{prefix}_mean": float(values.mean()), f"{prefix}_p50": float(p50), f"{prefix}_p95": float(p95),
            f"{prefix}_p99": float(p99), f"{prefix}_max": float(values.max())}


def until_drained(world: "World", broker: "Broker", group: "ConsumerGroup", members: Sequence["Consumer"],
                  after: simpy.Event, every: float = DRAIN_EVERY) -> simpy.Event:
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
