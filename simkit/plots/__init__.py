"""Plots that read results: each takes an optional ``ax``, returns it, and never calls ``plt.show()``.

``_base`` holds the shapes every lesson uses (outcome bars, latency CDFs, time series
with alert thresholds and shaded outages, swimlane timelines); a lesson's own
figures live in a module named after the lesson and build on them.
"""

from ._base import (
    BLUE,
    BROWN,
    DESIGN_COLORS,
    FAINT_GREY,
    GREEN,
    GREY,
    HANDOFFS,
    LIGHT_GREEN,
    LIGHT_GREY,
    ORANGE,
    PURPLE,
    RED,
    axes_or_new,
    color_for,
    design_of,
    format_ms,
    lag_over_time,
    latency_cdf,
    latency_series,
    message_path,
    outcome_bars,
    percentile_bars,
    shade_windows,
    time_series,
    timeline,
    windows_between,
)
from .build_your_own import handled_by_component
from .consume import anomaly_timeline, commit_vs_processed
from .dead_letters import consumer_lag, dlq_depth, handled_over_time, poison_timeline
from .dedupe import dedupe_table_size, late_copies
from .design_choices import STATE_COLORS, deployment_latency, infrastructure_parts, outage_impact, workflow_outcomes
from .harmless import harmless_timeline, lane_rank, strikes
from .hot_keys import consumers_vs_partitions, partition_lag, partition_load
from .ordering import batch_sizes, batches, inversion_bars, inversion_pair, inversion_timeline
from .labels import means_above_zero, wrap_label
from .outages import failed_request_timeline, follow_timeline, loss_and_drain_vs_outage, lost_event_timeline
from .publishing import outbox_metrics
from .queueing import latency_vs_load, load_panels, message_timeline, utilisation_bars
from .replay import replay_timeline
from .schema_drift import breaks_title, decode_failure_bars, decode_timeline, schema_outcomes
from .sync_async import (
    backlog_over_time,
    chain_latency,
    failures_over_time,
    latency_comparison,
    outage_timeline,
    stale_reads_vs_lag,
    visibility_cdf,
)
from .sync_or_async import lag_and_reads, request_timeline, stale_read_timeline
from .workflows import capture_timeline, missed_vs, order_timeline, paid_window

__all__ = [
    "BLUE",
    "BROWN",
    "DESIGN_COLORS",
    "FAINT_GREY",
    "GREEN",
    "GREY",
    "HANDOFFS",
    "LIGHT_GREEN",
    "LIGHT_GREY",
    "ORANGE",
    "PURPLE",
    "RED",
    "STATE_COLORS",
    "anomaly_timeline",
    "axes_or_new",
    "backlog_over_time",
    "batch_sizes",
    "batches",
    "breaks_title",
    "capture_timeline",
    "chain_latency",
    "color_for",
    "commit_vs_processed",
    "consumer_lag",
    "consumers_vs_partitions",
    "decode_failure_bars",
    "decode_timeline",
    "dedupe_table_size",
    "deployment_latency",
    "design_of",
    "dlq_depth",
    "failed_request_timeline",
    "failures_over_time",
    "follow_timeline",
    "format_ms",
    "handled_by_component",
    "handled_over_time",
    "harmless_timeline",
    "infrastructure_parts",
    "inversion_bars",
    "inversion_pair",
    "inversion_timeline",
    "lag_and_reads",
    "lag_over_time",
    "lane_rank",
    "late_copies",
    "latency_cdf",
    "latency_comparison",
    "latency_series",
    "latency_vs_load",
    "load_panels",
    "loss_and_drain_vs_outage",
    "lost_event_timeline",
    "means_above_zero",
    "message_path",
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
    "strikes",
    "time_series",
    "timeline",
    "utilisation_bars",
    "visibility_cdf",
    "windows_between",
    "wrap_label",
    "workflow_outcomes",
]
