"""Plots that read results: each takes an optional ``ax``, returns it, and never calls ``plt.show()``.

``_base`` holds the shapes every lesson uses (outcome bars, latency CDFs, time series
with alert thresholds and shaded outages, swimlane timelines); a lesson's own
figures live in a module named after the lesson and build on them.
"""

from ._base import (
    BAD,
    BLUE,
    BROWN,
    DARK,
    DESIGN_COLORS,
    FAILURE,
    FAINT_GREY,
    FOLLOWED,
    GOOD,
    GREEN,
    GREY,
    GRID,
    HANDOFFS,
    LIGHT_GREEN,
    LIGHT_GREY,
    NEUTRAL,
    ORANGE,
    OTHER_STEPS,
    PART_COLORS,
    PURPLE,
    QUIET_EVENTS,
    RED,
    STATE_COLORS,
    axes_or_new,
    color_for,
    design_of,
    example_id,
    follow_lanes,
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
from .add_consumer import behind_over_time, behind_title
from .build_your_own import handled_by_component
from .call_chain import chain_latency
from .consume import anomaly_timeline, commit_vs_processed
from .dead_letters import consumer_lag, dlq_depth, handled_over_time, poison_timeline
from .dedupe import dedupe_table_size, late_copies
from .deployment import deployment_latency, failed_request_timeline, infrastructure_parts, outage_impact
from .exactly_once import repeats_over_time
from .facts_vs_crud import capture_timeline, missed_vs, paid_window
from .harmless import harmless_timeline, lane_rank, strikes
from .hot_keys import consumers_vs_partitions, partition_lag, partition_load
from .labels import means_above_zero, session_outcome, wrap_label
from .order_workflow import order_path, order_timeline, workflow_outcomes, workflow_settings_title
from .ordering import batch_sizes, batches, inversion_bars, inversion_pair, inversion_timeline
from .outage import (
    FAILURE_EVENTS,
    backlog_over_time,
    failures_over_time,
    follow_timeline,
    loss_and_drain_vs_outage,
    lost_event_timeline,
    outage_timeline,
)
from .profile_update import LAG_AXES, lag_and_reads, stale_read_timeline, stale_reads_vs_lag, visibility_cdf
from .publish import outbox_metrics
from .reality import engine_spread
from .rebalance import partition_owners
from .replay import replay_timeline
from .replication import replica_logs
from .request_response import latency_comparison, request_timeline
from .schema_drift import breaks_title, decode_failure_bars, decode_timeline, schema_outcomes
from .throughput import latency_vs_load, load_panels, message_timeline, utilisation_bars

__all__ = [
    "BAD",
    "BLUE",
    "BROWN",
    "DARK",
    "DESIGN_COLORS",
    "FAILURE",
    "FAILURE_EVENTS",
    "FAINT_GREY",
    "FOLLOWED",
    "GOOD",
    "GREEN",
    "GREY",
    "GRID",
    "HANDOFFS",
    "LAG_AXES",
    "LIGHT_GREEN",
    "LIGHT_GREY",
    "NEUTRAL",
    "ORANGE",
    "OTHER_STEPS",
    "PART_COLORS",
    "PURPLE",
    "QUIET_EVENTS",
    "RED",
    "STATE_COLORS",
    "anomaly_timeline",
    "axes_or_new",
    "backlog_over_time",
    "batch_sizes",
    "batches",
    "behind_over_time",
    "behind_title",
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
    "engine_spread",
    "example_id",
    "failed_request_timeline",
    "failures_over_time",
    "follow_lanes",
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
    "order_path",
    "order_timeline",
    "outage_impact",
    "outage_timeline",
    "outbox_metrics",
    "outcome_bars",
    "paid_window",
    "partition_lag",
    "partition_load",
    "partition_owners",
    "percentile_bars",
    "poison_timeline",
    "repeats_over_time",
    "replay_timeline",
    "replica_logs",
    "request_timeline",
    "schema_outcomes",
    "session_outcome",
    "shade_windows",
    "stale_read_timeline",
    "stale_reads_vs_lag",
    "strikes",
    "time_series",
    "timeline",
    "utilisation_bars",
    "visibility_cdf",
    "windows_between",
    "workflow_outcomes",
    "workflow_settings_title",
    "wrap_label",
]
