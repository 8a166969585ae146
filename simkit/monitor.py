"""Monitoring: sample a metric on a schedule, keep its time series, alert into the trace.

What operators of event-driven systems watch (consumer lag, outbox lag and age,
dead-letter depth) is modelled the way it is run: a metric is *sampled* every
``interval`` ms, and when a sample crosses the threshold an ``alert`` row is written
to the trace (once per crossing, with a ``resolved`` row when it falls back).
"""

from __future__ import annotations

import math
from typing import Any, Callable, Generator

import pandas as pd
import simpy

from .errors import ConfigError
from .params import check_ms
from .world import World

__all__ = ["Monitor"]


class Monitor:
    """Samples ``metric()`` every ``interval`` ms; alerts when a sample is above ``threshold``."""

    def __init__(
        self,
        world: World,
        name: str,
        metric: Callable[[], float],
        *,
        interval: float = 1000,
        threshold: float | None = None,
        until: float | None = None,
    ):
        interval = check_ms("interval", interval, 0.0, allow_low=False)
        if threshold is not None and (isinstance(threshold, bool) or not isinstance(threshold, (int, float))
                                      or not math.isfinite(threshold)):
            raise ConfigError("threshold", threshold, "a finite number, or None for no alert")
        if until is not None:
            until = check_ms("until", until)
        self.world = world
        self.name = name
        self.metric = metric
        self.interval = float(interval)
        self.threshold = threshold
        self.until = until
        self.times: list[float] = []
        self.values: list[float] = []
        self.firing = False
        self.alerts = 0
        world.env.process(self._sample())

    def _sample(self) -> Generator[simpy.Event, Any, None]:
        env = self.world.env
        while self.until is None or env.now <= self.until:
            value = float(self.metric())
            self.times.append(env.now)
            self.values.append(value)
            if self.threshold is not None:
                if value > self.threshold and not self.firing:
                    self.firing = True
                    self.alerts += 1
                    self.world.record("monitor", "alert", detail=f"{self.name}={value:g} > {self.threshold:g}")
                elif value <= self.threshold and self.firing:
                    self.firing = False
                    self.world.record("monitor", "resolved", detail=f"{self.name}={value:g}")
            yield env.timeout(self.interval)

    def to_frame(self) -> pd.DataFrame:
        """The samples as a DataFrame with columns time (ms) and the metric's name."""
        return pd.DataFrame({"time": self.times, self.name: self.values})
