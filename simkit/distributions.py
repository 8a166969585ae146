"""Latency and service-time distributions a learner can name, all in milliseconds.

Each distribution draws from a ``random.Random`` stream it is handed (a world's
named stream), never from the global ``random`` module, so one seed gives one history.

>>> import random
>>> d = lognormal(median=20, p99=200)
>>> round(d.median), round(d.quantile(0.99))
(20, 200)
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from statistics import NormalDist
from typing import Union

from .errors import ConfigError

__all__ = [
    "Checked", "Constant", "Distribution", "Exponential", "LogNormal", "Uniform",
    "as_distribution", "constant", "exponential", "lognormal", "uniform",
]

_Z99 = NormalDist().inv_cdf(0.99)


class Distribution:
    """A non-negative random duration in milliseconds."""

    mean: float

    def sample(self, rng: random.Random) -> float:  # pragma: no cover - interface
        raise NotImplementedError

    def quantile(self, q: float) -> float:  # pragma: no cover - interface
        raise NotImplementedError

    @property
    def is_zero(self) -> bool:
        """True when every draw is 0 (lets the simulator skip an event)."""
        return False


@dataclass(frozen=True)
class Constant(Distribution):
    """Always the same duration."""

    value: float

    def sample(self, rng: random.Random) -> float:
        return self.value

    @property
    def mean(self) -> float:  # type: ignore[override]
        return self.value

    def quantile(self, q: float) -> float:
        return self.value

    @property
    def is_zero(self) -> bool:
        return self.value == 0


@dataclass(frozen=True)
class Uniform(Distribution):
    """Equally likely anywhere between ``low`` and ``high``."""

    low: float
    high: float

    def sample(self, rng: random.Random) -> float:
        return self.low + (self.high - self.low) * rng.random()

    @property
    def mean(self) -> float:  # type: ignore[override]
        return (self.low + self.high) / 2

    def quantile(self, q: float) -> float:
        return self.low + (self.high - self.low) * q


@dataclass(frozen=True)
class Exponential(Distribution):
    """Memoryless durations with the given mean (the service time of an M/M/1 queue)."""

    mean_ms: float

    def sample(self, rng: random.Random) -> float:
        return rng.expovariate(1.0 / self.mean_ms)

    @property
    def mean(self) -> float:  # type: ignore[override]
        return self.mean_ms

    def quantile(self, q: float) -> float:
        return -self.mean_ms * math.log(1.0 - q)


@dataclass(frozen=True)
class LogNormal(Distribution):
    """A long-tailed latency, given the way operators talk about it: its median and its p99."""

    median: float
    p99: float

    @property
    def mu(self) -> float:
        return math.log(self.median)

    @property
    def sigma(self) -> float:
        return (math.log(self.p99) - math.log(self.median)) / _Z99

    def sample(self, rng: random.Random) -> float:
        return rng.lognormvariate(self.mu, self.sigma)

    @property
    def mean(self) -> float:  # type: ignore[override]
        return math.exp(self.mu + self.sigma**2 / 2)

    def quantile(self, q: float) -> float:
        return math.exp(self.mu + self.sigma * NormalDist().inv_cdf(q))


def _nonneg(param: str, value: float) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
        raise ConfigError(param, value, "a finite number of milliseconds >= 0")
    return float(value)


def constant(value: float) -> Constant:
    """A duration of exactly ``value`` ms."""
    return Constant(_nonneg("value", value))


def uniform(low: float, high: float) -> Uniform:
    """A duration uniform between ``low`` and ``high`` ms."""
    low, high = _nonneg("low", low), _nonneg("high", high)
    if high < low:
        raise ConfigError("high", high, f"a number >= low ({low})")
    return Uniform(low, high)


def exponential(mean: float) -> Exponential:
    """An exponential duration with the given mean in ms (rate = 1/mean)."""
    mean = _nonneg("mean", mean)
    if mean == 0:
        raise ConfigError("mean", mean, "a mean > 0 ms")
    return Exponential(mean)


def lognormal(median: float, p99: float) -> LogNormal:
    """A lognormal duration whose median and 99th percentile are as given, in ms."""
    median, p99 = _nonneg("median", median), _nonneg("p99", p99)
    if median <= 0:
        raise ConfigError("median", median, "a median > 0 ms")
    if p99 <= median:
        raise ConfigError("p99", p99, f"a p99 greater than the median ({median})")
    return LogNormal(median, p99)


DistributionLike = Union[Distribution, int, float]


class Checked(Distribution):
    """A learner's own :class:`Distribution`, each draw checked where it is used.

    A draw that is negative, NaN or infinite raises a ConfigError naming the
    parameter and the draw, instead of failing later inside SimPy.
    """

    def __init__(self, param: str, inner: Distribution):
        self.param = param
        self.inner = inner

    def sample(self, rng: random.Random) -> float:
        draw = self.inner.sample(rng)
        if isinstance(draw, bool) or not isinstance(draw, (int, float)) or not math.isfinite(draw) or draw < 0:
            raise ConfigError(self.param, f"{self.inner!r} (it drew {draw!r})",
                              "a distribution whose every draw is a finite number of ms >= 0")
        return float(draw)

    def quantile(self, q: float) -> float:
        return self.inner.quantile(q)

    @property
    def mean(self) -> float:  # type: ignore[override]
        return self.inner.mean

    def __repr__(self) -> str:
        return repr(self.inner)


_BUILTIN = (Constant, Uniform, Exponential, LogNormal)


def as_distribution(param: str, value: DistributionLike) -> Distribution:
    """Accept a distribution or a plain number of ms (a constant); anything else is a ConfigError."""
    if isinstance(value, _BUILTIN):
        return value
    if isinstance(value, Distribution):
        return Checked(param, value)
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return Constant(_nonneg(param, value))
    raise ConfigError(
        param, value,
        "a number of ms or a distribution: sk.constant(v), sk.uniform(lo, hi), "
        "sk.exponential(mean), sk.lognormal(median, p99)",
    )
