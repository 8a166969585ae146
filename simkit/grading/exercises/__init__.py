"""The graded exercises: each module declares one :class:`~simkit.grading.spec.Exercise` and registers it."""

from . import (  # noqa: F401
    lag_alert,
    partition_key,
    poison,
    poll_loop,
    relay,
    replay_fix,
    schema_evolution,
    welcome,
)

__all__: list[str] = []
