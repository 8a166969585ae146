"""The lessons' scenarios: each ``NAME(..., seed=...)`` builds a world, runs it and returns a RunResult."""

from .consume import consume
from .dedupe import dedupe
from .publish import publish
from .throughput import throughput

__all__ = ["consume", "dedupe", "publish", "throughput"]
