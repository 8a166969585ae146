"""The lessons' scenarios: each ``NAME(design, *, seed=0, ...)`` builds a world, runs it and returns a RunResult.

:data:`SCENARIOS` lists them with their designs, parameters and report fields (see
:mod:`simkit.scenarios.registry`).
"""

from .call_chain import call_chain
from .consume import consume
from .dead_letters import dead_letters
from .add_consumer import add_consumer
from .replay import replay
from .dedupe import dedupe
from .deployment import deployment
from .exactly_once import exactly_once
from .facts_vs_crud import facts_vs_crud
from .order_workflow import order_workflow
from .ordering import ordering
from .hot_keys import hot_keys
from .outage import outage
from .profile_update import profile_update
from .publish import publish
from .rebalance import rebalance
from .replication import replication
from .request_response import request_response
from .schema_drift import schema_drift
from .registry import SCENARIOS, Scenario, scenario
from .throughput import throughput

__all__ = [
    "add_consumer", "call_chain", "consume", "dead_letters", "dedupe", "deployment", "exactly_once", "facts_vs_crud", "hot_keys", "order_workflow",
    "ordering", "outage", "profile_update", "publish", "rebalance", "replay", "replication", "request_response",
    "schema_drift",
    "throughput",
]

#: Names that were listed here and are not scenarios: name -> the module that holds them now.
_MOVED = {"schema_change": "simkit.scenarios.schema_drift", "schema_contract_check": "simkit.scenarios.schema_drift"}


def __getattr__(name: str) -> object:
    """``sk.scenarios.schema_change`` and the like still work, with a warning naming their home."""
    if name in _MOVED:
        import importlib
        import warnings

        warnings.warn(f"simkit.scenarios.{name} is not a scenario: use `from {_MOVED[name]} import {name}`",
                      DeprecationWarning, stacklevel=2)
        return getattr(importlib.import_module(_MOVED[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

