"""The graded exercises: each module declares one :class:`~simkit.grading.spec.Exercise` and registers it."""

from . import welcome  # noqa: F401

__all__: list[str] = []
