"""simkit: a deterministic discrete-event simulator of Kafka-style event-driven systems.

Build a :class:`World`, put a :class:`Broker`, :class:`Producer` and :class:`Consumer`
in it, run it, and read the trace; or run a ready lesson from :mod:`simkit.scenarios`.
Time is in milliseconds everywhere.
"""

from . import checks, controls, fit, glossary, grading, live, params, plots, scenarios
from .assignors import assign_range, assign_round_robin
from .broker import Broker, PartitionLog, Record
from .checks import Check
from .commit_policies import CommitPolicy
from .consumer import COMMIT_POLICIES, Consumer, Context
from .controls import interact
from .database import BoundaryViolation, Database, Transaction
from .dedupe import DedupeTable, EmailProvider
from .distributions import (
    Distribution,
    as_distribution,
    constant,
    exponential,
    lognormal,
    uniform,
)
from .dlq import DeadLetter, RetryingHandler, with_retries
from .errors import (
    BrokerUnavailable,
    ClientError,
    CommitFailed,
    ConfigError,
    Crash,
    DatabaseUnavailable,
    ExerciseError,
    NotEnoughReplicas,
    NotEnoughReplicasAfterAppend,
    NotLeaderOrFollower,
    OutOfOrderSequence,
    RequestTimeout,
    SimkitError,
    TransactionConflict,
)
from .faults import CrashPlan
from .groups import ConsumerGroup, ConsumerGroupMetadata, until_drained
from .monitor import Monitor
from .network import Link, Server, call
from .outbox import Outbox, OutboxRow, Relay
from .partitioners import consistent_partition, murmur2, partition_for
from .producer import Producer
from .replication import Cluster
from .results import Report, RunResult
from .schemas import Field, IncompatibleSchema, Schema, SchemaRegistry
from .sweep import compare, sweep
from .trace import COLUMNS, EVENTS, Trace
from .world import World

__version__ = "0.1.0"

__all__ = [
    "BoundaryViolation",
    "Broker",
    "BrokerUnavailable",
    "COLUMNS",
    "COMMIT_POLICIES",
    "Check",
    "ClientError",
    "Cluster",
    "CommitFailed",
    "CommitPolicy",
    "ConfigError",
    "Consumer",
    "ConsumerGroup",
    "ConsumerGroupMetadata",
    "Context",
    "Crash",
    "CrashPlan",
    "Database",
    "DatabaseUnavailable",
    "DeadLetter",
    "DedupeTable",
    "Distribution",
    "EVENTS",
    "EmailProvider",
    "ExerciseError",
    "Field",
    "IncompatibleSchema",
    "Link",
    "Monitor",
    "NotEnoughReplicas",
    "NotEnoughReplicasAfterAppend",
    "NotLeaderOrFollower",
    "OutOfOrderSequence",
    "Outbox",
    "OutboxRow",
    "PartitionLog",
    "Producer",
    "Record",
    "Relay",
    "Report",
    "RequestTimeout",
    "RetryingHandler",
    "RunResult",
    "Schema",
    "SchemaRegistry",
    "Server",
    "SimkitError",
    "Trace",
    "Transaction",
    "TransactionConflict",
    "World",
    "as_distribution",
    "assign_range",
    "assign_round_robin",
    "call",
    "checks",
    "compare",
    "consistent_partition",
    "constant",
    "controls",
    "exponential",
    "fit",
    "glossary",
    "grading",
    "interact",
    "live",
    "lognormal",
    "murmur2",
    "params",
    "partition_for",
    "plots",
    "scenarios",
    "sweep",
    "uniform",
    "until_drained",
    "with_retries",
]
