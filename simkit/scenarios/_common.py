"""Helpers every scenario shares: the latency summary and knowing when a group is done.

``until_drained`` is public as :func:`simkit.until_drained` (in :mod:`simkit.groups`); it is
re-exported here for the scenarios.

The parameter checks live in :mod:`simkit.params`; the names below are kept for modules
that import them from here.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from ..glossary import PERCENTILES
from ..clients import CLIENTS
from ..groups import DRAIN_EVERY, until_drained
from ..params import MAX_STEPS, check_choice, check_count, check_positive, check_window, choice

__all__ = [
    "DRAIN_EVERY", "MAX_DRAIN_MS", "check_choice", "check_count", "check_positive", "check_window", "client_param",
    "latency_fields", "until_drained",
]

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
