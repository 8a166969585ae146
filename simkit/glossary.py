"""The glossary of report fields: one spelling per idea, its unit and its meaning, in one place.

Every scenario's :class:`~simkit.Report` uses only names found here (a test keeps it
so), so ``lost`` means the same thing in every lesson and a learner can look any
field up::

    >>> from simkit.glossary import describe
    >>> describe("latency_p99").unit
    'ms'

Percentile families (``latency_*``, ``delivery_*``, ...) share one set of suffixes,
:data:`PERCENTILES`, made by :func:`simkit.scenarios.latency_fields`. Old spellings that
earlier versions used are in :data:`RENAMED`; a report still answers to them, with a
``DeprecationWarning`` that names the new one.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["FAMILIES", "FIELDS", "PERCENTILES", "RENAMED", "Entry", "describe", "register", "unknown"]


@dataclass(frozen=True)
class Entry:
    """One report field: its ``name``, its ``unit`` and what it counts or measures."""

    name: str
    unit: str
    meaning: str


#: The suffixes every percentile family has, in this order.
PERCENTILES = ("mean", "p50", "p95", "p99", "max")

#: Percentile families: prefix -> (unit, what is measured). ``latency_p99`` is the p99 of latency.
FAMILIES: dict[str, tuple[str, str]] = {
    "latency": ("ms", "from a request or send to its answer or processing (what the user or consumer waits)"),
    "delivery": ("ms", "from a request to its event's first append to the broker"),
    "completion": ("ms", "from a request to the end of all the work it started, events included"),
    "visible": ("ms", "from a write to the moment a read sees it"),
    "response": ("ms", "from a request to the service's answer"),
    "reaction": ("ms", "from a business step to the reaction it should trigger"),
    "lag": ("records", "consumer lag: records appended and not yet committed (Kafka's definition)"),
    "delay": ("ms", "how far behind real time the consumer works (the age of what it handles)"),
}

_FIELDS: tuple[tuple[str, str, str], ...] = (
    # what went in and what came out
    ("produced", "messages", "messages the application handed to a producer"),
    ("published", "events", "distinct events that reached the broker"),
    ("processed", "messages", "distinct messages a consumer finished handling"),
    ("applied", "changes", "changes a consumer applied to its state"),
    ("requests", "requests", "requests clients made"),
    ("succeeded", "requests", "requests answered with success"),
    ("failed_requests", "requests", "requests answered with an error"),
    ("answered", "requests", "requests that got an answer, success or error"),
    ("users", "users", "distinct users in the workload"),
    ("orders", "orders", "orders placed"),
    # the three failure modes and their kin
    ("lost", "messages", "messages or events that exist and that nobody handled or published"),
    ("duplicates", "messages", "messages handled, published or applied more than once"),
    ("extra_copies", "copies", "copies beyond the first, summed over the duplicated messages"),
    ("out_of_order", "messages", "messages handled after a later message of the same key"),
    ("stale_writes", "writes", "applications of a change after a newer change of the same key was applied"),
    ("stale_reads", "reads", "reads that did not see the reader's own latest write"),
    ("ghosts", "events", "events in the broker about state that was never committed"),
    ("pending", "events", "events still waiting in an outbox or a buffer when the run ended"),
    ("stuck", "messages", "messages never processed because a poison message blocks their partition"),
    ("inconsistent", "orders", "orders whose state disagrees with what the outside services did"),
    # crashes, retries, operations
    ("crashes", "crashes", "crashes of the component under test that struck"),
    ("relay_crashes", "crashes", "crashes of the outbox relay that struck"),
    ("retries", "retries", "sends or handler calls tried again after an error"),
    ("commits", "commits", "offset commits the group stored"),
    ("redelivered", "messages", "messages delivered to a consumer more than once"),
    ("dead_lettered", "messages", "messages parked on the dead-letter topic"),
    ("alerts", "alerts", "times a monitored metric crossed its alert threshold"),
    ("first_alert_at", "ms", "when the first alert fired (NaN without one)"),
    ("outbox_lag_max", "rows", "the most outbox rows waiting to be published at once"),
    ("outbox_age_max", "ms", "the age of the oldest unpublished outbox row, at its worst"),
    ("drained", "0/1", "1 if every record was processed and committed before the run ended"),
    ("duration", "ms", "simulated time from the start to the end of the run"),
    ("remote_calls", "calls", "network calls made per request, the client's own call included"),
    ("utilisation", "fraction", "share of the run the consumers spent busy"),
)

#: name -> :class:`Entry`, for every plain field (families are in :data:`FAMILIES`).
FIELDS: dict[str, Entry] = {name: Entry(name, unit, meaning) for name, unit, meaning in _FIELDS}

#: Old spelling -> the one used now.
RENAMED: dict[str, str] = {
    "failed": "failed_requests",
    "events_published": "published",
    "records_published": "published",
    "duplicate_publishes": "extra_copies",
    "extra_executions": "extra_copies",
    "max_lag": "lag_max",
    "consumer_lag_max": "lag_max",
    "dedupe_table_max_size": "dedupe_table_size_max",
    "dedupe_table_final_size": "dedupe_table_size_final",
    "max_partition_share": "partition_share_max",
    "leader_elections": "elections",
    "response_cuts": "link_cuts",
    "poison": "malformed",
    "consumer_lag_mean": "lag_mean",
    "consumer_lag_p99": "lag_p99",
    "consumer_delay_mean": "delay_mean",
    "consumer_delay_p99": "delay_p99",
    "max_backlog": "outbox_lag_max",
}


def register(name: str, unit: str, meaning: str) -> Entry:
    """Add a field a scenario needs (at import of its module); one name, one meaning."""
    entry = Entry(name, unit, meaning)
    known = FIELDS.get(name)
    if known is not None and known != entry:
        raise ValueError(f"report field {name!r} is already in the glossary as {known}")
    FIELDS[name] = entry
    return entry


def describe(name: str) -> Entry:
    """The glossary entry of a report field (percentile families included)."""
    if name in FIELDS:
        return FIELDS[name]
    prefix, _, suffix = name.rpartition("_")
    if prefix in FAMILIES and suffix in PERCENTILES:
        unit, what = FAMILIES[prefix]
        return Entry(name, unit, f"{suffix} of {prefix} per item: {what}")
    raise KeyError(f"{name!r} is not in the glossary of report fields")


def unknown(names: object) -> list[str]:
    """The names among ``names`` that the glossary does not know."""
    out = []
    for name in names:  # type: ignore[attr-defined]
        try:
            describe(name)
        except KeyError:
            out.append(name)
    return out
