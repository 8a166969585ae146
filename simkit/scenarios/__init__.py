"""The lessons' scenarios: each ``NAME(..., seed=...)`` builds a world, runs it and returns a RunResult."""

from .throughput import throughput

__all__ = ["throughput"]
