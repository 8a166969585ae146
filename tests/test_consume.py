"""The commit-policy lesson: who loses records and who repeats them when consumers crash."""

import matplotlib.pyplot as plt
import pytest

import simkit as sk
from simkit.scenarios.consume import DESIGNS

SEEDS = range(5)


def run(design, seed, **params):
    return sk.scenarios.consume(design, seed=seed, **params)


def test_librdkafka_auto_commit_loses_records_when_consumers_crash():
    for seed in SEEDS:
        r = run("auto", seed).report
        assert r.crashes > 0 and r.lost > 0, (seed, r)


def test_every_lost_record_was_committed_unhandled_and_then_a_crash_struck():
    res = run("auto", 1)
    t = res.trace
    assert res.checks["lost"].count > 0
    handled = set(t[t.event == "side_effect"].msg_id)
    appends = t[t.event == "append"].set_index("msg_id")
    lost = [m for m in t[t.event == "send"].msg_id if m not in handled]
    assert len(lost) == res.report.lost
    for m in lost:
        off = appends.loc[m, "offset"]
        covered_at = t[(t.event == "commit") & (t.offset > off)].time.min()
        # the timer committed past it, and the consumer crashed before it got to it
        first_crash_after = t[(t.event == "crash") & (t.time >= covered_at)].time.min()
        next_restart = t[(t.event == "restart") & (t.time >= covered_at)].time.min()
        assert covered_at <= first_crash_after <= next_restart, m


def test_commit_after_processing_loses_nothing_and_repeats_one_record_per_crash_after_processing():
    total = 0
    for seed in SEEDS:
        res = run("after_processing", seed)
        t, r = res.trace, res.report
        assert r.lost == 0, seed
        after = int(((t.event == "crash") & (t.detail == "after_process")).sum())
        # the record in hand when it crashed after its side effect, and only that one, comes again
        assert r.extra_copies == after, seed
        total += r.duplicates
    assert total > 0


def test_commit_before_processing_loses_and_never_repeats():
    for seed in SEEDS:
        r = run("before_processing", seed).report
        assert r.lost > 0 and r.duplicates == 0, (seed, r)


def test_java_auto_commit_on_poll_without_a_pool_never_loses():
    for seed in SEEDS:
        r = run("auto_on_poll", seed).report
        assert r.crashes > 0 and r.lost == 0 and r.duplicates > 0, (seed, r)


def test_java_auto_commit_on_poll_never_loses_even_when_rebalances_strike_mid_batch():
    # two members: every crash moves partitions while the other member is inside a batch
    for seed in SEEDS:
        r = run("auto_on_poll", seed, partitions=2, consumers=2).report
        assert r.lost == 0, (seed, r)


def test_java_auto_commit_on_poll_with_a_worker_pool_loses():
    for seed in SEEDS:
        r = run("auto_on_poll_pool", seed).report
        assert r.lost > 0, (seed, r)


def test_a_consumer_whose_workers_crash_in_the_same_instant_still_restarts_every_time():
    # every record crashes: the restarted consumer hands four records to four workers at once, and all
    # four crash together; it must come back after each restart_delay, not die for good
    r = run("auto_on_poll_pool", 0, crash_rate=1.0, messages=20, max_time=20_000).report
    assert r.drained == 0
    assert r.crashes >= 20_000 // 500 - 1


def test_no_crash_no_anomaly_for_every_design():
    for design in DESIGNS:
        r = run(design, 0, crash_rate=0.0, messages=120).report
        assert (r.lost, r.duplicates, r.crashes, r.drained) == (0, 0, 0, 1), design


def test_a_scheduled_crash_after_processing_repeats_exactly_that_record():
    res = run("after_processing", 0, crash_rate=0.0, crash_schedule=[(10, "after_process")])
    assert res.report.duplicates == 1 and res.checks["duplicates"].examples == (10,)
    assert res.report.lost == 0


def test_one_seed_one_history_and_common_arrivals_across_designs():
    a, b = run("auto", 3), run("auto", 3)
    assert a.report == b.report
    sends = {d: run(d, 3).trace.query("event == 'send'")[["time", "msg_id"]].to_numpy().tolist()
             for d in ("auto", "after_processing")}
    assert sends["auto"] == sends["after_processing"]


def test_every_run_drains_and_reports_every_field():
    r = run("auto", 0).report
    for name in ("produced", "processed", "lost", "duplicates", "crashes", "latency_mean", "latency_p99",
                 "drained"):
        assert name in r
    assert r.produced == 300 and r.drained == 1
    assert r.processed + r.lost == r.produced


def test_unknown_design_lists_the_known_ones():
    with pytest.raises(sk.ConfigError) as err:
        sk.scenarios.consume("manual")
    for design in DESIGNS:
        assert design in str(err.value)


@pytest.mark.parametrize("param,value", [
    ("crash_rate", 1.5), ("messages", 0), ("workers", 0), ("max_poll_records", 0),
    ("auto_commit_interval", 0), ("session_timeout", -1), ("crash_schedule", [(1,)]), ("seed", 1.5),
])
def test_bad_parameters_are_config_errors(param, value):
    with pytest.raises(sk.ConfigError, match=param):
        sk.scenarios.consume("auto", **{param: value})


def test_an_auto_commit_timer_too_fine_for_the_run_is_a_config_error_not_a_hang():
    with pytest.raises(sk.ConfigError, match="auto_commit_interval"):
        sk.scenarios.consume("auto", auto_commit_interval=1e-9)
    with pytest.raises(sk.ConfigError, match="max_time"):
        sk.scenarios.consume("auto", max_time=float("nan"))


def test_the_old_commit_keyword_and_positional_order_still_work_and_warn():
    new = run("before_processing", 2, crash_rate=0.05, messages=60).report
    with pytest.warns(DeprecationWarning, match="design="):
        by_keyword = sk.scenarios.consume(commit="before_processing", crash_rate=0.05, messages=60, seed=2)
    with pytest.warns(DeprecationWarning, match="crash_rate="):
        positional = sk.scenarios.consume("before_processing", 0.05, 60, 2)
    assert by_keyword.report == new == positional.report
    assert by_keyword.params["design"] == "before_processing"
    with pytest.warns(DeprecationWarning, match="extra_copies"):
        assert new.extra_executions == new.extra_copies


def test_an_unknown_crash_point_is_a_config_error():
    with pytest.raises(sk.ConfigError, match="crash_schedule"):
        sk.scenarios.consume("auto", crash_schedule=[(3, "midway")])


def test_compare_runs_every_design_over_seeds():
    df = sk.compare("consume", DESIGNS, seeds=2, messages=100)
    assert len(df) == 2 * len(DESIGNS)
    means = df.groupby("design").lost.mean()
    assert means["after_processing"] == 0 and means["before_processing"] > 0


def test_plots_state_the_finding():
    res = run("auto", 1)
    ax = sk.plots.commit_vs_processed(res)
    assert "ahead" in ax.get_title() and "lost" in ax.get_title()
    ax = sk.plots.anomaly_timeline(res, "lost")
    assert str(res.checks["lost"].examples[0]) in ax.get_title() and "lost" in ax.get_title()
    dup = run("after_processing", 1)
    ax = sk.plots.anomaly_timeline(dup, "duplicates")
    assert "twice" in ax.get_title() and "after_process" in ax.get_title()
    ax = sk.plots.anomaly_timeline(run("after_processing", 0, crash_rate=0.0, messages=20), "lost")
    assert ax.get_title().startswith("lost = 0 in this run, and nothing struck it")
    plt.close("all")


def test_a_lost_record_timeline_runs_to_the_restart_and_names_the_offset_it_resumed_at():
    res = run("auto", 1)
    t = res.trace
    msg = res.checks["lost"].examples[0]
    lost_offset = int(t[(t.msg_id == msg) & (t.event == "append")].offset.iloc[0])
    ax = sk.plots.anomaly_timeline(res, "lost", margin=0)
    title = ax.get_title()
    resumed = int(title.rsplit("resumed at offset ", 1)[1])
    assert resumed > lost_offset  # the restarted consumer skipped it
    crash = t[(t.event == "crash") & (t.time >= t[(t.msg_id == msg) & (t.event == "append")].time.iloc[0])]
    restart = t[(t.event == "restart") & (t.time >= crash.time.iloc[0])].time.iloc[0]
    first = t[(t.event == "process") & (t.offset == resumed) & (t.time >= restart)].time.iloc[0]
    assert ax.get_xlim()[1] >= first / 1000.0 - 1e-9  # the window shows the restart and the resumed record
    plt.close("all")


def test_commit_vs_processed_names_in_its_legend_only_the_areas_it_shades():
    ahead = "committed, not yet handled: lost if it crashes"
    behind = "handled, not yet committed: repeated if it crashes"
    for design in ("auto", "after_processing"):
        res = run(design, 1)
        labels = [t.get_text() for t in sk.plots.commit_vs_processed(res).get_legend().get_texts()]
        if design == "auto":  # its commits run ahead of the work and trail it
            assert ahead in labels and behind in labels, labels
        else:  # it never commits ahead of the work: no red area, so no red entry
            assert ahead not in labels and behind in labels, labels
    plt.close("all")


@pytest.mark.parametrize("plot", ["commit_vs_processed", "anomaly_timeline"])
def test_legends_sit_outside_the_plot_area(plot):
    res = run("auto", 1)
    ax = getattr(sk.plots, plot)(res)
    fig = ax.figure
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    legend, area = ax.get_legend().get_window_extent(renderer), ax.get_window_extent(renderer)
    assert legend.x0 >= area.x1 - 1  # right of the axes: it covers no data
    plt.close("all")


def test_the_signups_actor_alone_sends_each_user_once_keyed_by_user_then_says_so():
    from simkit.scenarios.consume import ConsumeParams, signups

    world = sk.World(0)
    broker = sk.Broker(world)
    broker.create_topic("signups", 2)
    producer = sk.Producer(world, broker, "producer", partitioner="key")
    sent = world.env.event()
    world.env.process(signups(world, producer, sent, ConsumeParams(design="auto", messages=5)))
    world.run()
    sends = world.trace.to_frame().query("event == 'send'")
    assert sent.triggered and list(sends.msg_id) == [0, 1, 2, 3, 4]
    assert list(sends.key) == [f"user-{i}" for i in range(5)] and sends.time.is_monotonic_increasing


def test_store_offsets_loses_nothing_and_repeats_only_what_was_done_since_the_last_tick():
    for seed in SEEDS:
        res = run("store_offsets", seed)
        t, r = res.trace, res.report
        assert r.crashes > 0 and r.lost == 0, (seed, r)
        # every committed offset was stored by the handler after its side effect: never ahead of the work
        stored = t[t.event == "store_offset"]
        for _, c in t[t.event == "commit"].iterrows():
            earlier = stored[(stored.partition == c.partition) & (stored.time <= c.time)]
            assert (earlier.offset >= c.offset).any(), (seed, c.time, c.offset)


def test_store_offsets_commits_about_once_a_tick_where_after_processing_commits_every_record():
    per_record = run("after_processing", 0, crash_rate=0.0).report
    timer = run("store_offsets", 0, crash_rate=0.0).report
    assert per_record.commits == per_record.processed == 300
    # one commit per 100 ms tick over a run of about 3 s of work
    assert timer.commits < per_record.commits / 5
    assert timer.commits <= timer.duration / 100 + 1


def test_a_synchronous_commit_per_record_costs_latency_that_store_offsets_does_not_pay():
    def latency(design, commit_latency):
        return run(design, 0, crash_rate=0.0, commit_latency=commit_latency).report.latency_mean

    # 300 records of 10 ms: 5 ms more per record in the poll loop slows every record behind it
    assert latency("after_processing", 5) > 1.5 * latency("after_processing", 0)
    # the timer commits asynchronously, beside the poll loop: its latency does not change
    assert latency("store_offsets", 5) == latency("store_offsets", 0)


def test_commit_latency_is_validated_where_it_enters():
    with pytest.raises(sk.ConfigError) as err:
        run("store_offsets", 0, commit_latency=-1)
    assert err.value.param == "commit_latency"
