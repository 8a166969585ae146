"""Tools every exercise hands the learner: the context with the clock and extra crash points."""

from __future__ import annotations

from typing import Any

from ..errors import ConfigError
from .faults import Faults

__all__ = ["LearnerContext", "check_source", "seal"]


class LearnerContext:
    """``ctx.now`` (ms), ``ctx.timeout(ms)``, ``ctx.all_of(events)`` and ``ctx.crash_point(name)``."""

    def __init__(self, world: Any, faults: Faults):
        self._world, self._faults = world, faults

    @property
    def now(self) -> float:
        """Simulated time in ms."""
        return self._world.env.now

    def timeout(self, ms: float) -> Any:
        """An event ``ms`` simulated milliseconds from now: ``yield ctx.timeout(5)``."""
        if isinstance(ms, bool) or not isinstance(ms, (int, float)) or ms < 0:
            raise ConfigError("ms", ms, "a number of ms >= 0")
        return self._world.env.timeout(ms)

    def all_of(self, events: Any) -> Any:
        """An event that fires when every event in ``events`` has: ``yield ctx.all_of(done)``."""
        import simpy

        events = list(events) if not isinstance(events, simpy.Event) else [events]
        if not all(isinstance(e, simpy.Event) for e in events):
            raise ConfigError("events", events, "a list of events the tools returned")
        return self._world.env.all_of(events)

    def crash_point(self, name: str) -> None:
        """A point of your own where the grader may also crash your code."""
        if not isinstance(name, str) or not name:
            raise ConfigError("name", name, "a non-empty string")
        self._faults.point(f"your point {name!r}", declared=True)


# -- the narrow interface ----------------------------------------------------------------------------------------
#
# The learner's code runs in the same interpreter as the simulation, so the grader does two things:
# every tool handed over is *sealed* (a slot-less object of a fresh class whose methods reach the real
# tool only through a closure: no ``db._db``, ``ctx._faults`` or ``tools._world`` to follow), and the
# learner's source is *read* before it runs: the ways around a seal (dunder attributes such as
# ``__closure__``, frames, ``getattr``, ``gc``, ...) are refused with a message that names them.

#: attribute names a learner's code may not use: the ways from a tool or an event back to the simulation
BLOCKED_ATTRIBUTES = frozenset({
    "env", "active_process", "callbacks", "gi_frame", "gi_code", "cr_frame", "ag_frame", "f_back", "f_locals",
    "f_globals", "f_builtins", "tb_frame", "tb_next", "modules", "settrace", "setprofile", "get_objects",
    "get_referrers", "get_referents",
})
#: dunder attributes that are harmless (the rest, ``__closure__``, ``__dict__``, ``__globals__``, ... are not)
ALLOWED_DUNDERS = frozenset({"__init__", "__name__", "__doc__", "__qualname__"})
#: builtins that reach attributes by name or run code the grader has not read
BLOCKED_CALLS = frozenset({"getattr", "setattr", "delattr", "vars", "globals", "locals", "eval", "exec", "compile",
                           "__import__", "breakpoint"})
#: modules that reach objects by introspection
BLOCKED_MODULES = frozenset({"gc", "inspect", "ctypes", "importlib", "builtins", "traceback", "types", "weakref"})


def check_source(tree: Any) -> None:
    """Refuse learner code that reaches past the documented tools (raises :class:`~.faults.LearnerFault`)."""
    import ast

    from .faults import LearnerFault

    def refuse(node: Any, what: str) -> None:
        raise LearnerFault(f"your code uses {what} on line {getattr(node, 'lineno', '?')}: graded code may use "
                           "only the documented tools (no private attributes, no introspection), so it is refused")

    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute):
            name = node.attr
            owner = node.value.id if isinstance(node.value, ast.Name) else None
            if name.startswith("__") and name.endswith("__"):
                if name not in ALLOWED_DUNDERS:
                    refuse(node, f"the attribute {name!r}")
            elif name.startswith("_"):
                if owner not in ("self", "cls") and (owner, name) != ("os", "_exit"):
                    refuse(node, f"the private attribute {name!r}" + (f" of {owner!r}" if owner else ""))
            elif name in BLOCKED_ATTRIBUTES:
                refuse(node, f"the attribute {name!r}")
        elif isinstance(node, ast.Name) and node.id in BLOCKED_CALLS:
            refuse(node, f"{node.id}()")
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else [node.module or ""]
            for n in names:
                if n.split(".")[0] in BLOCKED_MODULES:
                    refuse(node, f"the module {n!r}")


_SEALED: dict[int, tuple[Any, Any]] = {}


def _is_tool(value: Any) -> bool:
    """An object of a grading module whose instances hold private state (a tool, not a record or an error)."""
    kind = type(value)
    return (kind.__module__.startswith("simkit.grading") and not isinstance(value, (BaseException, type))
            and any(k.startswith("_") for k in getattr(value, "__dict__", {})))


def seal(tool: Any) -> Any:
    """``tool`` behind a sealed object: its public methods, properties and attributes, and nothing else.

    Records, errors and plain data pass through unchanged; a tool a method returns (a
    transaction) or an attribute holds (``tools.payments``) is sealed too.
    """
    if not _is_tool(tool):
        return tool
    got = _SEALED.get(id(tool))
    if got is not None and got[0] is tool:
        return got[1]
    kind = type(tool)

    def wrap(value: Any) -> Any:
        return seal(value) if _is_tool(value) else value

    ns: dict[str, Any] = {"__slots__": (), "__doc__": kind.__doc__, "__module__": "tools",
                          "__repr__": lambda self: f"<{kind.__name__}>"}
    names = {n for n in dir(kind) if not n.startswith("_")} | {n for n in vars(tool) if not n.startswith("_")}
    for name in sorted(names):
        member = getattr(kind, name, None)
        if isinstance(member, property):
            ns[name] = property(lambda self, _n=name: wrap(getattr(tool, _n)), doc=member.__doc__)
        elif callable(member) and not isinstance(member, type) and name not in vars(tool):
            def method(self: Any, *args: Any, _n: str = name, **kwargs: Any) -> Any:
                return wrap(getattr(tool, _n)(*args, **kwargs))
            method.__name__, method.__doc__ = name, member.__doc__
            ns[name] = method
        else:
            ns[name] = property(lambda self, _n=name: wrap(getattr(tool, _n)))
    sealed = type(kind.__name__, (), ns)()
    _SEALED[id(tool)] = (tool, sealed)
    return sealed
