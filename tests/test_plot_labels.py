"""Presentation helpers that lessons call instead of rewriting figures by hand."""

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.colors import to_hex  # noqa: E402

import simkit as sk  # noqa: E402


def test_wrap_label_breaks_after_a_comma_or_at_the_middle_underscore_and_leaves_short_names():
    assert sk.plots.wrap_label("5 in flight, not idempotent") == "5 in flight,\nnot idempotent"
    assert sk.plots.wrap_label("dedupe_table_separate_tx") == "dedupe_table\nseparate_tx"
    assert sk.plots.wrap_label("dedupe_table", 10) == "dedupe\ntable"
    assert sk.plots.wrap_label("natural") == "natural"
    assert sk.plots.wrap_label("averyveryverylongword") == "averyveryverylongword"


def test_means_above_zero_names_only_the_groups_with_some_and_says_when_none_has():
    df = pd.DataFrame({"design": ["a", "a", "b", "b", "c"], "x": [1, 2, 0, 0, 4]})
    assert sk.plots.means_above_zero(df, "x", names={"c": "see"}) == "a 1.5, see 4"
    assert sk.plots.means_above_zero(df.assign(x=0), "x", empty="no strategy") == "no strategy"


def test_outcome_bars_take_colours_for_any_group_and_wrap_their_ticks():
    df = pd.DataFrame({"consumers": [1, 1, 3, 3], "lat": [10.0, 12.0, 2.0, 3.0]})
    ax = sk.plots.outcome_bars(df, "lat", by="consumers", colors={1: sk.plots.RED, 3: sk.plots.BLUE})
    assert [to_hex(p.get_facecolor()) for p in ax.patches] == [sk.plots.RED, sk.plots.BLUE]
    df = pd.DataFrame({"design": ["dedupe_table_separate_tx", "none"], "duplicates": [1, 0]})
    ax = sk.plots.outcome_bars(df, "duplicates", wrap=12)
    assert [t.get_text() for t in ax.get_xticklabels()] == ["dedupe_table\nseparate_tx", "none"]
    plt.close("all")


def test_outcome_bars_legend_says_when_a_metric_draws_no_bar():
    df = pd.DataFrame({"design": ["a", "a", "b", "b"], "lost": [3, 1, 0, 0], "ghosts": [0, 0, 0, 0]})
    ax = sk.plots.outcome_bars(df, ["lost", "ghosts"])
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["lost", "ghosts (0 in every run: no bar)"]
    # where no bar stands, a "0" does: b's lost and both designs' ghosts, at the middle of each empty slot
    zeros = sorted(round(t.xy[0], 2) for t in ax.texts if t.get_text() == "0")
    assert zeros == [0.2, 0.8, 1.2], zeros
    plt.close("all")


def test_decode_failure_bars_title_which_changes_break_billing_and_mark_refusals():
    changes = ["add_optional_field", "remove_field", "rename_field"]
    df = sk.compare("schema_drift", changes, seeds=2, registry="BACKWARD", upgrade_order="producer_first")
    ax = sk.plots.decode_failure_bars(df, "BACKWARD, producer first")
    title = ax.get_title()
    assert title.startswith("BACKWARD, producer first:")
    broke = df.groupby("design").decode_failures.max()
    assert ("remove_field breaks billing" in title) == (broke["remove_field"] > 0)
    refused = df.groupby("design").rejected_registrations.max()
    marks = [t for t in ax.texts if t.get_text() == "refused"]
    assert len(marks) == int((refused > 0).sum()) == 1  # BACKWARD refuses the rename
    # a refused change is marked "refused", not also "0" on top of it; a change that shipped and broke nothing is "0"
    zeros = {round(t.xy[0]) for t in ax.texts if t.get_text() == "0"}
    assert zeros == {i for i, d in enumerate(refused.index) if refused[d] == 0 and broke[d] == 0}, zeros
    plt.close("all")


def test_late_copies_legend_sits_outside_so_it_covers_no_ttl_line():
    df = sk.sweep("dedupe", {"design": ["dedupe_table"], "redeliver_after": [1000, 3000]},
                  seeds=1, crash_rate=0.0, messages=40, ttl=2000, cleanup_interval=500)
    ax = sk.plots.late_copies(df)
    fig = ax.figure
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    assert ax.get_legend().get_window_extent(renderer).x0 >= ax.get_window_extent(renderer).x1 - 1
    plt.close("all")


def test_session_outcome_says_whether_the_crashed_member_s_session_expired_read_from_the_trace():
    late = sk.scenarios.rebalance("eager", session_timeout=1300, restart_delay=300, seed=1)
    t = late.trace
    crash = t[t.event == "crash"].time.iloc[0]
    expiry = t[(t.event == "leave") & t.detail.str.contains("session timeout")].time.iloc[0]
    assert sk.plots.session_outcome(late) == (f"its session expired at {expiry:.0f} ms, {expiry - crash:.0f} ms "
                                              f"after the crash (it was back after 300 ms)")
    static = sk.scenarios.rebalance("static_membership", session_timeout=1300, restart_delay=300, seed=1)
    assert not static.trace.detail.astype(str).str.contains("session timeout").any()
    assert sk.plots.session_outcome(static) == ("it was back after 300 ms, 1000 ms before its 1300 ms session "
                                                "would have expired: no rebalance for the crash")
    short = sk.scenarios.rebalance("static_membership", session_timeout=200, restart_delay=300, seed=1)
    assert sk.plots.session_outcome(short).startswith("its session expired at ")


def test_handled_by_component_draws_each_reader_wider_than_the_next_so_one_that_caught_up_hides_none():
    from types import SimpleNamespace

    rows = [(t, "producer", "send", m) for t, m in ((1.0, "a"), (2.0, "b"))]
    rows += [(t + 0.5, c, "processed", m) for c in ("shipping", "analytics") for t, m in ((1.0, "a"), (2.0, "b"))]
    trace = pd.DataFrame(rows, columns=["time", "component", "event", "msg_id"])
    ax = sk.plots.handled_by_component(SimpleNamespace(trace=trace), ["shipping", "analytics"])  # reads the trace
    width = {line.get_label(): line.get_linewidth() for line in ax.get_lines()}
    assert width["shipping"] > width["analytics"] >= 2  # both read the same two records at the same times
    plt.close("all")


def test_latency_cdf_gives_curves_that_lie_on_each_other_one_legend_entry():
    ax = sk.plots.latency_cdf({"sync_chain": [5.0, 7.0, 9.0], "write_then_events": [5.0, 7.0, 9.0],
                               "other": [1.0, 2.0]})
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert labels == ["sync_chain = write_then_events\n(the same latencies)", "other"], labels
    ax = sk.plots.latency_cdf({"a": [5.0, 7.0], "b": [5.0, 8.0]})
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["a", "b"]
    plt.close("all")


def test_lag_over_time_gives_twelve_partitions_twelve_colours_and_a_legend_beside_the_plot():
    r = sk.scenarios.hot_keys("fine_key", share=0.6, partitions=12, consumers=12, seed=2, messages=300)
    ax = sk.plots.lag_over_time(r)
    colours = [to_hex(line.get_color()) for line in ax.get_lines()]
    assert len(colours) == 12 and len(set(colours)) == 12, colours
    fig = ax.figure
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    assert ax.get_legend().get_window_extent(renderer).x0 >= ax.get_window_extent(renderer).x1 - 1
    plt.close("all")


def test_outcome_bars_tick_counts_in_whole_numbers_and_leave_other_measures_alone():
    counts = pd.DataFrame({"design": ["skip", "dlq"], "lost": [3, 0], "dead_lettered": [0, 3]})
    ax = sk.plots.outcome_bars(counts, ["lost", "dead_lettered"])
    ticks = [t for t in ax.get_yticks() if ax.get_ylim()[0] <= t <= ax.get_ylim()[1]]
    assert ticks and all(float(t).is_integer() for t in ticks), ticks
    ms = pd.DataFrame({"design": ["a", "b"], "latency_p50": [0.3, 0.45]})
    ax = sk.plots.outcome_bars(ms, "latency_p50")
    assert any(not float(t).is_integer() for t in ax.get_yticks()), ax.get_yticks()
    plt.close("all")


def test_outcome_bars_whole_number_ticks_step_by_one_two_or_five_of_a_decade():
    df = pd.DataFrame({"design": ["no_dlq", "no_dlq", "dlq"], "lag_max": [60, 125, 7]})
    fig, axes = plt.subplots(1, 3, figsize=(15, 4.5))  # as lesson 08 draws it: one panel of three
    ax = sk.plots.outcome_bars(df, "lag_max", ax=axes[2])
    fig.canvas.draw()
    ticks = [t for t in ax.get_yticks() if ax.get_ylim()[0] <= t <= ax.get_ylim()[1]]
    step = ticks[1] - ticks[0]
    assert step in (1, 2, 5, 10, 20, 50, 100), ticks
    plt.close("all")
