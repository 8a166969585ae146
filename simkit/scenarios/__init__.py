"""The lessons' scenarios: each ``NAME(design, *, seed=0, ...)`` builds a world, runs it and returns a RunResult.

:data:`SCENARIOS` lists them with their designs, parameters and report fields (see
:mod:`simkit.scenarios.registry`).
"""

from .call_chain import call_chain
from .consume import consume
from .dead_letters import dead_letters
from .replay import replay
from .dedupe import dedupe
from .deployment import deployment
from .facts_vs_crud import facts_vs_crud
from .order_workflow import order_workflow
from .ordering import hot_keys, ordering
from .outage import outage
from .profile_update import profile_update
from .publish import publish
from .request_response import request_response
from .schema_drift import schema_change, schema_contract_check, schema_drift
from .registry import SCENARIOS, Scenario, scenario
from .throughput import throughput

__all__ = [
    "call_chain", "consume", "dead_letters", "dedupe", "deployment", "facts_vs_crud", "hot_keys", "order_workflow",
    "ordering", "outage", "profile_update", "publish", "replay", "request_response", "schema_change",
    "schema_contract_check", "schema_drift", "throughput",
]
