"""The lessons' scenarios: each ``NAME(..., seed=...)`` builds a world, runs it and returns a RunResult."""

from .consume import consume
from .dedupe import dedupe
from .deployment import deployment
from .order_workflow import order_workflow
from .ordering import hot_keys, ordering
from .publish import publish
from .throughput import throughput

__all__ = ["consume", "dedupe", "deployment", "hot_keys", "order_workflow", "ordering", "publish", "throughput"]
