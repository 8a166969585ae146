"""Plots that read results: each takes an optional ``ax``, returns it, and never calls ``plt.show()``.

``_base`` holds the shapes every lesson uses (outcome bars, latency CDFs, time series
with alert thresholds and shaded outages, swimlane timelines); a lesson's own
figures live in a module named after the lesson and build on them.
"""

from ._base import (
    DESIGN_COLORS,
    STATE_COLORS,
    axes_or_new,
    color_for,
    format_ms,
    lag_over_time,
    latency_cdf,
    latency_series,
    outcome_bars,
    percentile_bars,
    shade_windows,
    time_series,
    timeline,
)
from .call_chain import chain_latency
from .consuming import anomaly_timeline, commit_vs_processed, dedupe_table_size
from .deployment import deployment_latency, failed_request_timeline, infrastructure_parts, outage_impact
from .design_choices import inversion_bars, partition_lag, partition_load
from .duplicates import late_copies
from .facts_vs_crud import capture_timeline, missed_vs, paid_window
from .operations import (
    consumer_lag,
    decode_timeline,
    dlq_depth,
    handled_over_time,
    poison_timeline,
    replay_timeline,
    schema_outcomes,
)
from .order_workflow import order_timeline, workflow_outcomes
from .ordering import consumers_vs_partitions, inversion_pair, inversion_timeline
from .outage import (
    backlog_over_time,
    failures_over_time,
    follow_timeline,
    loss_and_drain_vs_outage,
    lost_event_timeline,
    outage_timeline,
)
from .profile_update import (
    lag_and_reads,
    stale_read_timeline,
    stale_reads_vs_lag,
    visibility_cdf,
)
from .publish import outbox_metrics
from .queueing import latency_vs_load, load_panels, message_timeline, utilisation_bars
from .request_response import latency_comparison, request_timeline

__all__ = [
    "DESIGN_COLORS",
    "STATE_COLORS",
    "axes_or_new",
    "anomaly_timeline",
    "backlog_over_time",
    "capture_timeline",
    "chain_latency",
    "color_for",
    "commit_vs_processed",
    "consumers_vs_partitions",
    "consumer_lag",
    "decode_timeline",
    "dedupe_table_size",
    "deployment_latency",
    "dlq_depth",
    "failed_request_timeline",
    "failures_over_time",
    "format_ms",
    "follow_timeline",
    "handled_over_time",
    "infrastructure_parts",
    "inversion_bars",
    "inversion_pair",
    "inversion_timeline",
    "lag_and_reads",
    "lag_over_time",
    "latency_cdf",
    "latency_comparison",
    "latency_series",
    "late_copies",
    "latency_vs_load",
    "load_panels",
    "loss_and_drain_vs_outage",
    "lost_event_timeline",
    "message_timeline",
    "missed_vs",
    "order_timeline",
    "outage_impact",
    "outage_timeline",
    "outbox_metrics",
    "outcome_bars",
    "paid_window",
    "partition_lag",
    "partition_load",
    "percentile_bars",
    "poison_timeline",
    "replay_timeline",
    "request_timeline",
    "schema_outcomes",
    "shade_windows",
    "stale_read_timeline",
    "stale_reads_vs_lag",
    "time_series",
    "timeline",
    "utilisation_bars",
    "visibility_cdf",
    "workflow_outcomes",
]
