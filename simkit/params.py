"""Parameters, validated once where they enter: the checks, and a frozen record per scenario.

Every scenario declares its parameters as a frozen dataclass deriving from
:class:`Params`, one field per parameter, each made with a helper below that says
what is allowed (as ciw's ``create_network`` validates a whole network up front)::

    @dataclass(frozen=True)
    class PublishParams(Params):
        crash_rate: float = probability(0.0)
        messages: int = count(200, high=100_000)
        publish_timeout: float = ms(2000, low=1)

Building the record checks every field and then the relations between fields
(:meth:`Params.check`); components trust what they are handed. A bad value is a
:class:`~simkit.errors.ConfigError` that names the parameter, the value and what is
allowed: never a traceback from inside SimPy, never a hang.

The bounds keep every run finite. Times are finite numbers of milliseconds no longer
than :data:`MAX_MS`; counts have upper bounds; intervals that sample or poll over a run
may not make more than :data:`MAX_STEPS` steps of it (:func:`check_steps`).
"""

from __future__ import annotations

import math
from dataclasses import MISSING, dataclass, field, fields
from typing import Any, Callable, Iterable

from .distributions import as_distribution
from .errors import ConfigError

__all__ = [
    "MAX_MS", "MAX_STEPS", "Params", "check_choice", "check_count", "check_flag", "check_ms", "check_positive",
    "check_rate", "check_schedule", "check_seed", "check_steps", "check_threshold", "check_window", "choice",
    "count", "distribution", "flag", "ms", "optional_ms", "positive", "probability", "schedule", "seed", "window",
]

#: The longest time (ms) any parameter may ask for: one simulated day.
MAX_MS = 86_400_000.0
#: The most steps an interval may cut a run into (samples, polls, ticks).
MAX_STEPS = 200_000


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


# -- checks: each returns the value, cleaned, or raises a ConfigError naming ``param`` -----------
def check_seed(param: str, value: Any) -> int:
    """An int seed (bools and floats are refused)."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise ConfigError(param, value, "an int, such as seed=1")
    return value


def check_count(param: str, value: Any, low: int = 1, high: int | None = None) -> int:
    """An int from ``low`` to ``high``."""
    if isinstance(value, bool) or not isinstance(value, int) or value < low or (high is not None and value > high):
        raise ConfigError(param, value, f"an int >= {low}" if high is None else f"an int from {low} to {high}")
    return value


def check_ms(param: str, value: Any, low: float = 0.0, high: float = MAX_MS, allow_low: bool = True) -> float:
    """A finite number of ms from ``low`` (inclusive unless ``allow_low`` is False) to ``high``."""
    ok = _is_number(value) and math.isfinite(value) and (value >= low if allow_low else value > low) \
        and value <= high
    if not ok:
        sign = ">=" if allow_low else ">"
        raise ConfigError(param, value, f"a finite number of ms {sign} {low:g} and <= {high:g}")
    return float(value)


def check_positive(param: str, value: Any, allow_zero: bool = False, high: float = math.inf) -> float:
    """A finite number > 0 (or >= 0), at most ``high``: rates, shares, factors."""
    ok = _is_number(value) and math.isfinite(value) and (value >= 0 if allow_zero else value > 0) and value <= high
    if not ok:
        bound = "" if high == math.inf else f" and <= {high:g}"
        raise ConfigError(param, value, ("a finite number >= 0" if allow_zero else "a finite number > 0") + bound)
    return float(value)


def check_rate(param: str, value: Any) -> float:
    """A probability from 0 to 1."""
    if not _is_number(value) or not 0 <= value <= 1:
        raise ConfigError(param, value, "a probability from 0 to 1")
    return float(value)


def check_choice(param: str, value: Any, allowed: Iterable[Any]) -> Any:
    """One of ``allowed`` (listed in the error)."""
    allowed = tuple(allowed)
    try:
        ok = value in allowed and not isinstance(value, bool)
    except TypeError:  # an unhashable value compared against strings
        ok = False
    if not ok:
        raise ConfigError(param, value, allowed)
    return value


def check_flag(param: str, value: Any) -> bool:
    """True or False."""
    if not isinstance(value, bool):
        raise ConfigError(param, value, "True or False")
    return value


def check_threshold(param: str, value: Any, high: float = math.inf) -> float | None:
    """None (no alert), or a finite number > 0."""
    return None if value is None else check_positive(param, value, high=high)


def check_window(param: str, value: Any) -> tuple[float, float] | None:
    """None, or a ``(start, duration)`` pair in ms with start >= 0 and duration > 0."""
    if value is None:
        return None
    ok = isinstance(value, (tuple, list)) and len(value) == 2 and all(
        _is_number(v) and math.isfinite(v) and 0 <= v <= MAX_MS for v in value) and value[1] > 0
    if not ok:
        raise ConfigError(param, value,
                          f"None or (start, duration) in ms with 0 <= start <= {MAX_MS:g} and 0 < duration")
    return float(value[0]), float(value[1])


def check_schedule(param: str, value: Any, points: Iterable[str]) -> tuple[tuple[int, str], ...]:
    """Exact crashes as ``(n, point)`` pairs: crash at ``point`` while handling the ``n``-th item (from 0)."""
    points = tuple(points)
    if isinstance(value, (str, bytes)):
        raise ConfigError(param, value, "a list of (n, point) pairs")
    try:
        items = list(value)
    except TypeError:
        raise ConfigError(param, value, "a list of (n, point) pairs") from None
    out = []
    for item in items:
        ok = isinstance(item, (tuple, list)) and len(item) == 2
        if not ok or isinstance(item[0], bool) or not isinstance(item[0], int) or item[0] < 0:
            raise ConfigError(param, item, "(n, point) pairs with n an int >= 0")
        if item[1] not in points:
            raise ConfigError(param, item, f"(n, point) with point one of {list(points)}")
        out.append((item[0], item[1]))
    return tuple(out)


def check_steps(param: str, interval: float, span: float, max_steps: int = MAX_STEPS) -> float:
    """``interval`` (ms) if it cuts ``span`` (ms) into at most ``max_steps`` steps.

    A sampling or polling interval far below the run's length would make millions of
    steps: refuse it up front rather than run out of memory or time.
    """
    if span > 0 and span / interval > max_steps:
        raise ConfigError(param, interval, f"an interval >= {span / max_steps:g} ms for a run of about "
                                           f"{span:g} ms (at most {max_steps} steps)")
    return interval


# -- fields of a parameters record ---------------------------------------------------------------
Check = Callable[[str, Any], Any]


def _field(default: Any, check: Check, doc: str) -> Any:
    meta = {"check": check, "doc": doc}
    try:
        hash(default)
    except TypeError:
        return field(default_factory=lambda: default, metadata=meta)
    return field(default=default, metadata=meta)


def count(default: int, *, low: int = 1, high: int | None = None, doc: str = "") -> Any:
    """An int parameter from ``low`` to ``high``."""
    return _field(default, lambda p, v: check_count(p, v, low, high), doc)


def ms(default: float, *, low: float = 0.0, high: float = MAX_MS, strict: bool = False, doc: str = "") -> Any:
    """A time in ms from ``low`` (``strict``: above it) to ``high``."""
    return _field(default, lambda p, v: check_ms(p, v, low, high, allow_low=not strict), doc)


def optional_ms(default: float | None, *, low: float = 0.0, high: float = MAX_MS, doc: str = "") -> Any:
    """None, or a time in ms from ``low`` to ``high``."""
    return _field(default, lambda p, v: None if v is None else check_ms(p, v, low, high), doc)


def positive(default: float | None, *, zero: bool = False, high: float = math.inf, optional: bool = False,
             doc: str = "") -> Any:
    """A finite number > 0 (``zero``: >= 0) up to ``high``; ``optional`` also allows None."""
    def check(p: str, v: Any) -> Any:
        return None if optional and v is None else check_positive(p, v, allow_zero=zero, high=high)
    return _field(default, check, doc)


def probability(default: float, *, doc: str = "") -> Any:
    """A probability from 0 to 1."""
    return _field(default, check_rate, doc)


def choice(default: Any, allowed: Iterable[Any], *, doc: str = "") -> Any:
    """One of ``allowed``."""
    allowed = tuple(allowed)
    return _field(default, lambda p, v: check_choice(p, v, allowed), doc)


def flag(default: bool, *, doc: str = "") -> Any:
    """True or False."""
    return _field(default, check_flag, doc)


def window(default: tuple[float, float] | None = None, *, doc: str = "") -> Any:
    """None or a ``(start, duration)`` fault window in ms."""
    return _field(default, check_window, doc)


def distribution(default: Any, *, doc: str = "") -> Any:
    """A number of ms or a :class:`~simkit.Distribution`; a learner's own has its draws checked."""
    return _field(default, as_distribution, doc)


def schedule(points: Iterable[str], *, doc: str = "") -> Any:
    """Exact crashes as ``(n, point)`` pairs, each point one of ``points``."""
    points = tuple(points)
    return _field((), lambda p, v: check_schedule(p, v, points), doc)


def seed(default: int = 0) -> Any:
    """The run's seed."""
    return _field(default, check_seed, "the seed: one seed, one history")


@dataclass(frozen=True)
class Params:
    """The validated parameters of one run: build it with keywords, read it as attributes.

    Subclasses add fields with :func:`count`, :func:`ms`, :func:`probability` and the
    other helpers, and may override :meth:`check` for rules that relate fields. The
    record is frozen: what a run was given is what it used.
    """

    design: str = ""
    seed: int = seed()

    def __post_init__(self) -> None:
        for f in fields(self):
            check = f.metadata.get("check")
            if check is not None:
                object.__setattr__(self, f.name, check(f.name, getattr(self, f.name)))
        self.check()

    def check(self) -> None:
        """Rules that relate several fields; raise a ConfigError naming the one to change."""

    @classmethod
    def names(cls) -> tuple[str, ...]:
        """Every parameter's name, in declaration order."""
        return tuple(f.name for f in fields(cls))

    @classmethod
    def defaults(cls) -> dict[str, Any]:
        """Every parameter's default value."""
        out = {}
        for f in fields(cls):
            if f.default is not MISSING:
                out[f.name] = f.default
            elif f.default_factory is not MISSING:  # type: ignore[misc]
                out[f.name] = f.default_factory()  # type: ignore[misc]
        return out

    def to_dict(self) -> dict[str, Any]:
        """The parameters as a plain dict (what ``RunResult.params`` holds)."""
        return {f.name: getattr(self, f.name) for f in fields(self)}

    def replace(self, **changes: Any) -> "Params":
        """A copy with some parameters changed, validated again."""
        return type(self)(**{**self.to_dict(), **changes})
