"""The scenario registry: one contract for every lesson's scenario, and the table that lists them.

Every scenario is called the same way::

    sk.scenarios.NAME(design, *, seed=0, **params) -> RunResult

``design`` comes first and is called ``design`` everywhere; everything else is a
keyword. A scenario module declares its designs and a frozen parameters record
(:class:`~simkit.params.Params`), and registers its story with :func:`scenario`::

    @scenario("publish", designs=DESIGNS, params=PublishParams, fields=(...))
    def publish(p: PublishParams) -> RunResult:
        ...  # build the world, wire the design, run, check

The decorator gives the function its public signature, validates every argument once
into the record (a :class:`~simkit.errors.ConfigError` naming the parameter), keeps old
keywords and old positional calls working with a ``DeprecationWarning`` that names the
new spelling, and lists the scenario in :data:`SCENARIOS`, which ``compare``, ``sweep``,
plots and graders read instead of guessing.
"""

from __future__ import annotations

import difflib
import functools
import inspect
import warnings
from dataclasses import dataclass, field, fields
from typing import Any, Callable, Mapping

from ..errors import ConfigError
from ..params import Params
from ..results import RunResult

__all__ = ["SCENARIOS", "Scenario", "scenario"]


@dataclass(frozen=True)
class Scenario:
    """A registered scenario: its name, function, designs, parameters record and report fields."""

    name: str
    function: Callable[..., RunResult]
    designs: tuple[Any, ...]
    params: type[Params]
    fields: tuple[str, ...] = ()
    lesson: str = ""
    renamed: Mapping[str, str] = field(default_factory=dict)

    @property
    def colours(self) -> dict[Any, Any]:
        """Each design's colour, the same in every lesson (from :mod:`simkit.plots`)."""
        from ..plots import color_for

        return {d: color_for(d) for d in self.designs}

    @property
    def defaults(self) -> dict[str, Any]:
        """Every parameter's default (``design`` has none)."""
        return {k: v for k, v in self.params.defaults().items() if k != "design"}


#: name -> :class:`Scenario`, in the order the lessons use them.
SCENARIOS: dict[str, Scenario] = {}


def _suggest(name: str, names: list[str]) -> str:
    close = difflib.get_close_matches(name, names, n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


def scenario(
    name: str,
    *,
    designs: tuple[Any, ...],
    params: type[Params],
    fields: tuple[str, ...] = (),
    lesson: str = "",
    renamed: Mapping[str, str] | None = None,
    legacy_positional: tuple[str, ...] = (),
    legacy_design: Any = None,
) -> Callable[[Callable[[Any], RunResult]], Callable[..., RunResult]]:
    """Register ``body(p)`` as scenario ``name`` and return its public function.

    * ``designs``: the design names, in the order lessons show them.
    * ``params``: the :class:`~simkit.params.Params` subclass that validates a call.
    * ``fields``: the report fields the scenario writes (all in :mod:`simkit.glossary`).
    * ``renamed``: old keyword -> new keyword (e.g. ``{"commit": "design"}``).
    * ``legacy_positional``: the parameter order of the old positional signature; a call
      that passes more than the design positionally is mapped through it, with a warning.
    * ``legacy_design``: for a scenario that had no design before, the design an old call
      without one gets (with a warning); otherwise a missing design is a ConfigError.
    """
    renamed = dict(renamed or {})
    designs = tuple(designs)

    def wrap(body: Callable[[Any], RunResult]) -> Callable[..., RunResult]:
        names = [n for n in params.names() if n != "design"]

        @functools.wraps(body)
        def run(*args: Any, **kwargs: Any) -> RunResult:
            kwargs = _legacy_args(name, args, kwargs, designs, legacy_positional)
            for old, new in renamed.items():
                if old in kwargs:
                    if new in kwargs:
                        raise ConfigError(old, kwargs[old], f"only one of {old!r} (old name) and {new!r}")
                    warnings.warn(f"{name}({old}=...) is now {name}({new}=...)", DeprecationWarning, stacklevel=2)
                    kwargs[new] = kwargs.pop(old)
            if "design" not in kwargs:
                if legacy_design is None:
                    raise ConfigError("design", None, designs)
                warnings.warn(f"{name}() takes the design first now: {name}({legacy_design!r}, ...)",
                              DeprecationWarning, stacklevel=2)
                kwargs["design"] = legacy_design
            for key in kwargs:
                if key != "design" and key not in names:
                    raise ConfigError(key, kwargs[key], f"a parameter of {name}(){_suggest(key, names)}: "
                                                        + ", ".join(names))
            from ..params import check_choice

            check_choice("design", kwargs["design"], designs)
            return body(params(**kwargs))

        sig_params = [inspect.Parameter("design", inspect.Parameter.POSITIONAL_OR_KEYWORD)]
        for f in _fields_of(params):
            if f.name == "design":
                continue
            sig_params.append(inspect.Parameter(f.name, inspect.Parameter.KEYWORD_ONLY,
                                                default=params.defaults().get(f.name)))
        run.__signature__ = inspect.Signature(sig_params, return_annotation=RunResult)  # type: ignore[attr-defined]
        if name in SCENARIOS:
            raise ValueError(f"scenario {name!r} is registered twice")
        SCENARIOS[name] = Scenario(name, run, designs, params, tuple(fields), lesson, renamed)
        return run

    return wrap


def _fields_of(params: type[Params]) -> tuple[Any, ...]:
    return fields(params)


def _legacy_args(name: str, args: tuple[Any, ...], kwargs: dict[str, Any], designs: tuple[Any, ...],
                 legacy: tuple[str, ...]) -> dict[str, Any]:
    """Map positional arguments: the design alone, or (with a warning) the old positional order."""
    kwargs = dict(kwargs)
    if not args:
        return kwargs
    if len(args) == 1:  # one positional argument is the design: no old signature took a single one
        if "design" in kwargs:
            raise ConfigError("design", args[0], "the design given once, positionally or as design=")
        kwargs["design"] = args[0]
        return kwargs
    if not legacy or len(args) > len(legacy):
        raise ConfigError("args", args, f"{name}(design, *, seed=0, ...): only the design is positional")
    warnings.warn(f"{name}() takes only the design positionally now: call {name}(design, "
                  + ", ".join(f"{n}=..." for n in legacy[:len(args)] if n != "design") + ")",
                  DeprecationWarning, stacklevel=3)
    for key, value in zip(legacy, args):
        if key in kwargs:
            raise ConfigError(key, value, f"{key} given once, not both positionally and by name")
        kwargs[key] = value
    return kwargs
