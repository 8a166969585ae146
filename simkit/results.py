"""What a scenario returns: the trace, a report of plain numbers, the parameters and the checks."""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import Any, Iterator, Mapping

import pandas as pd

from .checks import Check
from .glossary import RENAMED
from .trace import Trace

__all__ = ["Report", "RunResult"]


class Report(Mapping[str, float]):
    """A read-only mapping of report fields to plain numbers, also readable as attributes.

    >>> r = Report(lost=0, duplicates=3)
    >>> r.duplicates, r["lost"]
    (3, 0)
    """

    __slots__ = ("_fields",)

    def __init__(self, **fields: float):
        for name, value in fields.items():
            if not isinstance(value, (int, float)) or isinstance(value, bool):
                raise TypeError(f"report field {name!r} must be a plain number, not {value!r}")
        object.__setattr__(self, "_fields", dict(fields))

    def __getitem__(self, name: str) -> float:
        try:
            return self._fields[name]
        except KeyError:
            new = RENAMED.get(name)
            if new is None or new not in self._fields:
                raise
            warnings.warn(f"report field {name!r} is now called {new!r}", DeprecationWarning, stacklevel=2)
            return self._fields[new]

    def __iter__(self) -> Iterator[str]:
        return iter(self._fields)

    def __len__(self) -> int:
        return len(self._fields)

    def __getattr__(self, name: str) -> float:
        if name.startswith("__"):
            raise AttributeError(name)
        try:
            return self[name]
        except KeyError:
            raise AttributeError(f"report has no field {name!r}; fields: {sorted(self._fields)}") from None

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError("a Report is read-only")

    def __repr__(self) -> str:
        inner = ", ".join(f"{k}={_fmt(v)}" for k, v in self._fields.items())
        return f"Report({inner})"

    def to_dict(self) -> dict[str, float]:
        return dict(self._fields)


def _fmt(v: float) -> str:
    return f"{v:.4g}" if isinstance(v, float) else str(v)


@dataclass(frozen=True)
class RunResult:
    """One run of a scenario.

    * ``trace``: every step as a DataFrame (columns in :mod:`simkit.trace`).
    * ``report``: the scenario's numbers (:class:`Report`).
    * ``params``: the parameters the run used, defaults included.
    * ``checks``: each checker's verdict, with example message ids.
    * ``series``: time series the scenario measured (e.g. ``"lag"``), as DataFrames.
    """

    scenario: str
    seed: int
    params: Mapping[str, Any]
    report: Report
    checks: Mapping[str, Check] = field(default_factory=dict)
    series: Mapping[str, pd.DataFrame] = field(default_factory=dict)
    _trace: Trace | None = field(default=None, repr=False)

    @property
    def trace(self) -> pd.DataFrame:
        """The trace as a DataFrame."""
        if self._trace is None:
            raise AttributeError("this result kept no trace")
        return self._trace.to_frame()

    @classmethod
    def from_world(cls, world: Any, name: str = "my_system", report: Report | None = None,
                   params: Mapping[str, Any] | None = None, checks: Mapping[str, Check] | None = None,
                   series: Mapping[str, pd.DataFrame] | None = None) -> "RunResult":
        """The result of a system you wired yourself from a :class:`~simkit.World`, for the plots.

        >>> import simkit as sk
        >>> world = sk.World(seed=1)
        >>> sk.RunResult.from_world(world, "empty").seed
        1
        """
        return cls(name, world.seed, dict(params or {}), report if report is not None else Report(),
                   dict(checks or {}), dict(series or {}), world.trace)

    def __repr__(self) -> str:
        return f"RunResult({self.scenario}, seed={self.seed}, {self.report!r})"
