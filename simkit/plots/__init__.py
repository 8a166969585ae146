"""Plots that read results: each takes an optional ``ax``, returns it, and never calls ``plt.show()``.

``_base`` holds the shapes every lesson uses (outcome bars, latency CDFs, time series
with alert thresholds and shaded outages, swimlane timelines); a lesson's own
figures live in a module named after the lesson and build on them.
"""

from ._base import (
    DESIGN_COLORS,
    color_for,
    lag_over_time,
    latency_cdf,
    outcome_bars,
    percentile_bars,
    shade_windows,
    time_series,
    timeline,
)
from .consuming import anomaly_timeline, commit_vs_processed, dedupe_table_size
from .design_choices import (
    STATE_COLORS,
    deployment_latency,
    infrastructure_parts,
    inversion_bars,
    outage_impact,
    partition_lag,
    partition_load,
    workflow_outcomes,
)
from .operations import dlq_depth, handled_over_time, replay_timeline, schema_outcomes
from .publishing import outbox_metrics
from .queueing import latency_vs_load
from .sync_async import (
    backlog_over_time,
    chain_latency,
    failures_over_time,
    latency_comparison,
    outage_timeline,
    stale_reads_vs_lag,
    visibility_cdf,
)

__all__ = [
    "DESIGN_COLORS",
    "STATE_COLORS",
    "anomaly_timeline",
    "backlog_over_time",
    "chain_latency",
    "color_for",
    "commit_vs_processed",
    "dedupe_table_size",
    "deployment_latency",
    "dlq_depth",
    "failures_over_time",
    "handled_over_time",
    "infrastructure_parts",
    "inversion_bars",
    "lag_over_time",
    "latency_cdf",
    "latency_comparison",
    "latency_vs_load",
    "outage_impact",
    "outage_timeline",
    "outbox_metrics",
    "outcome_bars",
    "partition_lag",
    "partition_load",
    "percentile_bars",
    "replay_timeline",
    "schema_outcomes",
    "shade_windows",
    "stale_reads_vs_lag",
    "time_series",
    "timeline",
    "visibility_cdf",
    "workflow_outcomes",
]
