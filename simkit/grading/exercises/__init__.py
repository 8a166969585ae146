"""The graded exercises: each module declares one :class:`~simkit.grading.spec.Exercise` and registers it."""

from . import (  # noqa: F401
    lag_alert,
    order_workflow,
    partition_key,
    poison,
    poll_loop,
    profile_update,
    relay,
    replay_fix,
    schema_evolution,
    welcome,
)

__all__: list[str] = []
