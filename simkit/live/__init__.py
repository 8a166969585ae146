"""The live lab: the lessons' designs on a real Kafka client and a real database, with real crashes.

Each function has the name and the contract of a simulator scenario
(:mod:`simkit.scenarios`) and returns a :class:`simkit.RunResult` whose trace has the
simulator's columns and event names, so :mod:`simkit.checks` and the report fields
read it the same way. Underneath are confluent-kafka (librdkafka), librdkafka's
embedded :class:`MockCluster` on loopback (or any cluster given
``bootstrap_servers``), SQLite or PostgreSQL, and child processes that really die.

A live run is one history, not a seed's: the seed chooses the crash plan, not what
the processes were doing when it struck. Compare designs over several runs.
"""

from .compare import side_by_side, simulator_design
from .consume import consume
from .mock import MockCluster, library_path
from .ordering import ordering
from .publish import publish

__all__ = [
    "MockCluster", "consume", "library_path", "ordering", "publish", "side_by_side", "simulator_design",
]
