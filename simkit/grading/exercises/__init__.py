"""The graded exercises: each module declares one :class:`~simkit.grading.spec.Exercise` and registers it."""

from . import lag_alert, partition_key, poison, poll_loop, relay, replay_fix, schema_evolution, welcome  # noqa: F401

__all__: list[str] = []
