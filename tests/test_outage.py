"""A broker outage: every request fails if it is on the path, events wait in an outbox, or they are lost."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import simkit as sk
from simkit.scenarios.outage import DESIGNS

SEEDS = range(3)
WINDOWS = [(3000, 3000), (500, 1500), (7000, 2500)]


def run(design, seed=0, **params):
    return sk.scenarios.outage(design, seed=seed, **params)


def test_the_outbox_design_loses_no_event_and_fails_no_request_across_an_outage():
    for seed in SEEDS:
        for start, duration in WINDOWS:
            r = run("sync_core_outbox", seed, start=start, outage_ms=duration).report
            assert r.failed_requests == 0 and r.lost == 0 and r.pending == 0, (seed, start)
            assert r.published == r.requests == r.succeeded
            assert r.outbox_lag_max > 0.8 * 0.05 * duration  # about every order of the outage waited
            assert r.drain_ms > 0


@settings(max_examples=12, deadline=None)
@given(start=st.floats(0, 3999), outage_ms=st.floats(1, 4000), seed=st.integers(0, 10_000))
def test_the_outbox_design_loses_nothing_under_any_outage_window(start, outage_ms, seed):
    r = run("sync_core_outbox", seed, start=start, outage_ms=outage_ms, run_time=4000).report
    assert r.failed_requests == 0 and r.lost == 0 and r.pending == 0
    assert r.published == r.requests


def test_all_async_fails_the_requests_of_the_outage_window_and_only_those():
    for seed in SEEDS:
        for start, duration in WINDOWS:
            r = run("all_async", seed, start=start, outage_ms=duration)
            t = r.trace
            failed = t[t.event == "request_failed"].msg_id
            asked = t[(t.event == "request") & t.msg_id.isin(failed)].time
            # a produce given up after publish_timeout: the window's requests, except its last second
            assert r.report.failed_requests > 0.5 * 0.05 * (duration - 1000)
            assert asked.min() >= start - 50 and asked.max() < start + duration
            # and none before the producer's delivery timeout (less one retry backoff) ran out
            assert t[t.event == "request_failed"].time.min() >= start + 1000 - 100
            assert r.report.lost == 0 and r.report.outbox_lag_max == 0
            assert r.report.published == r.report.succeeded


def test_direct_publish_answers_every_request_and_loses_the_events_of_the_outage():
    for seed in SEEDS:
        r = run("direct_publish", seed)
        rep, t = r.report, r.trace
        assert rep.failed_requests == 0 and rep.succeeded == rep.requests
        assert rep.lost > 0.5 * 0.05 * 2000
        assert rep.published + rep.lost == rep.requests
        # the mechanism: the producer gave up, the service dropped the event
        for event_id in r.checks["lost"].examples:
            rows = t[t.msg_id == event_id]
            assert {"send_failed", "event_dropped", "db_commit"} <= set(rows.event.astype(str))
            assert "append" not in set(rows.event.astype(str))
        assert r.series["lost"].lost.iloc[-1] == rep.lost


def test_an_outage_shorter_than_the_delivery_timeout_costs_nothing_in_any_design():
    for design in DESIGNS:
        r = run(design, 1, start=2000, outage_ms=800, publish_timeout=2000).report
        assert r.failed_requests == 0 and r.lost == 0 and r.published == r.requests, design


def test_the_designs_see_the_same_orders():
    requests = {d: list(run(d, 2).trace.query("event == 'request'").msg_id) for d in DESIGNS}
    assert requests["all_async"] == requests["sync_core_outbox"] == requests["direct_publish"]


def test_backlog_series_show_the_outbox_filling_and_draining_and_zero_elsewhere():
    runs = {d: run(d, 0) for d in DESIGNS}
    for design, r in runs.items():
        b = r.series["backlog"]
        assert list(b.columns) == ["time", "backlog"] and len(b) > 50
        if design == "sync_core_outbox":
            inside = b[(b.time > 3000) & (b.time < 6000)].backlog
            assert inside.is_monotonic_increasing is False or inside.max() > 100
            assert b.backlog.max() <= r.report.outbox_lag_max and b.backlog.iloc[-1] == 0
        else:
            assert (b.backlog == 0).all() and r.report.outbox_lag_max == 0
        f = r.series["failed"]
        assert f.failed.iloc[-1] == r.report.failed_requests and f.failed.is_monotonic_increasing


def test_a_record_waiting_behind_a_retrying_batch_fails_after_delivery_timeout_from_send():
    # Kafka's delivery.timeout.ms counts from send(), queued batches included
    world = sk.World(0)
    broker = sk.Broker(world)
    broker.create_topic("t", 1)
    broker.outage(10, 10_000)
    producer = sk.Producer(world, broker, max_in_flight=1, delivery_timeout=1000, request_timeout=1000,
                           batch_size=1)
    sent = {}

    def app():
        yield world.env.timeout(50)
        for i in range(3):
            sent[i] = world.now
            producer.send("t", msg_id=i)
            yield world.env.timeout(200)

    world.env.process(app())
    world.run(until=5000)
    t = world.trace.to_frame()
    failed = t[t.event == "send_failed"].set_index("msg_id").time
    assert sorted(failed.index) == [0, 1, 2]
    for i in range(3):
        # (it gives up when the next retry would come after the deadline)
        assert sent[i] + 1000 - producer.retry_backoff <= failed[i] <= sent[i] + 1000


@pytest.mark.parametrize("params", [
    dict(design="half_async"), dict(outage_ms=-1000), dict(outage_ms=0), dict(start=-5), dict(start=10_000),
    dict(start=25_000), dict(outage_ms=20_000), dict(run_time=0), dict(arrival_rate=0), dict(publish_timeout=0),
    dict(workers=0), dict(sample_every=0), dict(network_latency="slow"), dict(seed="one"),
    dict(sample_every=1e-9), dict(poll_interval=1e-9), dict(arrival_rate=11), dict(run_time=float("nan")),
    dict(drain=float("inf")), dict(workers=10_001), dict(publish_timeout=-1),
])
def test_bad_parameters_are_config_errors(params):
    kwargs = dict(design="sync_core_outbox", seed=0)
    kwargs.update(params)
    with pytest.raises(sk.ConfigError):
        sk.scenarios.outage(**kwargs)


def test_a_sampling_interval_too_fine_for_the_run_is_a_config_error_naming_it():
    with pytest.raises(sk.ConfigError, match="sample_every"):
        sk.scenarios.outage("sync_core_outbox", sample_every=1e-9)


def test_the_old_duration_keyword_and_positional_call_still_work_with_a_warning():
    new = run("direct_publish", 2, start=1000, outage_ms=1500, run_time=3000)
    with pytest.warns(DeprecationWarning, match="outage_ms="):
        by_name = run("direct_publish", 2, start=1000, duration=1500, run_time=3000)
    with pytest.warns(DeprecationWarning, match="outage_ms="):
        by_place = sk.scenarios.outage("direct_publish", 1000, 1500, 2, run_time=3000)
    assert new.report == by_name.report == by_place.report
    assert new.report.duration > 3000  # the report's duration is the run's length, not the outage's
    with pytest.warns(DeprecationWarning, match="outbox_lag_max"):
        assert new.report.max_backlog == new.report.outbox_lag_max
    with pytest.warns(DeprecationWarning, match="outage_ms"):
        df = sk.sweep("outage", {"duration": [1500]}, seeds=[2], design="direct_publish", start=1000, run_time=3000)
    assert list(df.outage_ms) == [1500] and df.lost.iloc[0] == new.report.lost


def test_every_trace_event_is_documented():
    for design in DESIGNS:
        assert set(run(design, 0, run_time=3000, start=1000, outage_ms=1000).trace.event) <= set(sk.EVENTS)


def test_direct_publish_counts_a_send_still_retrying_at_the_end_of_traffic_as_it_ends_not_as_lost():
    # the outage ends when the customers stop: the sends of its last second are still retrying then, and the
    # run waits for them (delivered once the broker is back), so the loss is the same as with a longer run
    short = run("direct_publish", 1, start=3000, outage_ms=3000, run_time=6000)
    long = run("direct_publish", 1, start=3000, outage_ms=3000, run_time=10_000)
    assert short.report.lost == long.report.lost > 0
    t = short.trace
    for m in short.checks["lost"].examples:
        assert "send_failed" in set(t[t.msg_id == m].event.astype(str))
    assert short.report.published + short.report.lost == short.report.requests


def test_lost_event_timeline_marks_a_lost_event_and_says_when_it_was_given_up():
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    r = run("direct_publish", 1)
    lost = r.checks["lost"].examples[0]
    ax = sk.plots.lost_event_timeline(r)
    title = ax.get_title()
    assert lost in title and "lost" in title and f"{r.report.lost:.0f} of {r.report.requests:.0f}" in title
    gave_up = r.trace[(r.trace.msg_id == lost) & (r.trace.event == "send_failed")].time.iloc[0]
    assert f"{gave_up / 1000:.2f} s" in title and "while the broker was still down" in title
    names = {t.get_text() for t in ax.texts}
    assert any("send_failed" in n for n in names) and any("event_dropped" in n for n in names)
    assert [t.get_text() for t in ax.get_yticklabels()][:3] == ["client", "orders-db", "orders-producer"]
    plt.close(ax.figure)
    with pytest.raises(sk.ConfigError):
        sk.plots.lost_event_timeline(run("sync_core_outbox", 1))  # nothing lost: nothing to follow
    with pytest.raises(sk.ConfigError):
        sk.plots.lost_event_timeline(r, msg_id="order-nope")
    plt.close("all")


def test_loss_and_drain_vs_outage_reads_the_outage_length_from_each_run():
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    df = sk.sweep("outage", {"design": ["direct_publish", "sync_core_outbox"], "outage_ms": [500, 2500]},
                  seeds=2, run_time=4000)
    left, right = sk.plots.loss_and_drain_vs_outage(df, publish_timeout=1000)
    assert "after 2.5 s down" in left.get_title()
    lost = df[(df.design == "direct_publish") & (df.outage_end - df.outage_start == 2500)].lost.mean()
    assert f"direct_publish {lost:.0f}" in left.get_title()
    assert "sync_core_outbox" in right.get_title() and "direct_publish" not in right.get_title()
    with pytest.raises(sk.ConfigError):
        sk.plots.loss_and_drain_vs_outage(df.drop(columns=["lost"]))
    plt.close("all")


def test_lost_event_timeline_joins_the_events_steps_along_their_hand_offs():
    import matplotlib.pyplot as plt

    from simkit.plots import FOLLOWED, message_path

    run = sk.scenarios.outage("direct_publish", seed=1)
    lost = run.checks["lost"].examples[0]
    ax = sk.plots.lost_event_timeline(run, lost)
    drawn = [line for line in ax.get_lines() if line.get_color() == FOLLOWED and len(line.get_xdata()) == 2]
    rows = run.trace[run.trace.msg_id == lost]
    links = message_path(rows)
    assert len(drawn) == len(links)
    events = rows.event.astype(str).to_list()
    assert (events.index("send_failed"), events.index("event_dropped"), False) in links
    assert not any(events[j] == "send" and events[i] == "db_commit" for i, j, _ in links)  # not time order
    plt.close("all")


def test_designs_that_fail_no_request_share_one_line_and_one_legend_entry():
    import matplotlib.pyplot as plt

    runs = {d: sk.scenarios.outage(d, seed=1) for d in DESIGNS}
    ax = sk.plots.failures_over_time(runs)
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert "all_async: failed requests" in labels
    assert not any(label.startswith(("direct_publish: failed", "sync_core_outbox: failed")) for label in labels)
    shared = [label for label in labels if label.startswith("no failed request:")]
    assert len(shared) == 1 and set(shared[0].split(":\n")[1].split(",\n")) == {"direct_publish", "sync_core_outbox"}
    assert "direct_publish: lost events" in labels and "sync_core_outbox: lost events" not in labels
    plt.close("all")


def test_failures_over_time_ticks_whole_orders_even_when_nothing_failed():
    import matplotlib.pyplot as plt

    # a short outage that every producer waits out: no design fails a request or loses an event
    runs = {d: sk.scenarios.outage(d, start=0, outage_ms=500, publish_timeout=5000, seed=1, run_time=2000)
            for d in DESIGNS}
    assert all(r.report.failed_requests == 0 and r.report.lost == 0 for r in runs.values())
    ax = sk.plots.failures_over_time(runs)
    lo, hi = ax.get_ylim()
    ticks = [t for t in ax.get_yticks() if lo <= t <= hi]
    assert 0 in ticks and all(float(t).is_integer() and t >= 0 for t in ticks), ticks
    plt.close("all")


def test_failures_over_time_ticks_by_one_two_or_five_of_a_decade():
    import matplotlib.pyplot as plt

    runs = {d: sk.scenarios.outage(d, seed=1) for d in DESIGNS}
    top, _ = sk.plots.outage_timeline(runs)
    top.figure.canvas.draw()
    ticks = top.get_yticks()
    assert ticks[1] - ticks[0] in (1, 2, 5, 10, 20, 50, 100), ticks  # not 0, 15, 30
    plt.close("all")


def test_follow_timeline_lists_in_its_legend_only_the_kinds_of_step_it_draws():
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from simkit.plots.outage import FAILURE_EVENTS

    def legend(ax):
        return [t.get_text() for t in ax.get_legend().get_texts()]

    # lesson 16: nothing in these lanes is refused, retried or failed while the record is followed
    one = sk.scenarios.replication("acks_1", seed=0)
    lost = one.checks["lost_acknowledged"].examples[0]
    lanes = ["app", "producer", "broker-0", "broker-1", "broker-2", "cluster"]
    ax = sk.plots.follow_timeline(one, lost, components=lanes, window=(960, 1700), outages=[(1000, 1600)])
    shown = legend(ax)
    t = one.trace
    seen = t[(t.time >= 960) & (t.time <= 1700) & t.component.isin(lanes) & (t.msg_id != lost)]
    assert not seen.event.isin(FAILURE_EVENTS).any()
    assert "refused, retried or failed" not in shown and "other messages' steps" in shown
    plt.close(ax.figure)
    # lesson 09: other events are refused and retried during the outage, drawn and listed
    ax = sk.plots.lost_event_timeline(run("direct_publish", 1))
    assert "refused, retried or failed" in legend(ax)
    plt.close("all")
