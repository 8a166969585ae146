"""The lessons' scenarios: each ``NAME(..., seed=...)`` builds a world, runs it and returns a RunResult."""

from .publish import publish
from .throughput import throughput

__all__ = ["publish", "throughput"]
