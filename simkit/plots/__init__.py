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
from .publishing import outbox_metrics
from .queueing import latency_vs_load

__all__ = [
    "DESIGN_COLORS",
    "STATE_COLORS",
    "anomaly_timeline",
    "color_for",
    "commit_vs_processed",
    "dedupe_table_size",
    "deployment_latency",
    "infrastructure_parts",
    "inversion_bars",
    "lag_over_time",
    "latency_cdf",
    "latency_vs_load",
    "outbox_metrics",
    "outage_impact",
    "outcome_bars",
    "partition_lag",
    "partition_load",
    "percentile_bars",
    "shade_windows",
    "time_series",
    "timeline",
    "workflow_outcomes",
]
