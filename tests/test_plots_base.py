"""The shapes every lesson's plots build on: titles state the finding in units a reader can take in."""

import matplotlib.pyplot as plt
import numpy as np

import simkit as sk


def test_latency_cdf_title_gives_each_p99_in_ms_or_seconds_never_in_exponent_notation():
    slow = np.linspace(0, 2400, 1001)  # p99 = 2376 ms
    fast = np.linspace(0, 10, 1001)  # p99 = 9.9 ms
    fig, ax = plt.subplots()
    sk.plots.latency_cdf({"broker": slow, "rpc": fast}, ax=ax)
    title = ax.get_title()
    plt.close(fig)
    assert title == "p99 latency, rpc: 9.9 ms; broker: 2.38 s"
    assert "e+" not in title


def test_latency_cdf_of_one_design_says_what_99_percent_finish_within():
    fig, ax = plt.subplots()
    sk.plots.latency_cdf({"rpc": np.linspace(0, 500, 1001)}, ax=ax)
    assert ax.get_title() == "99% of requests finish within rpc: 495 ms"
    assert ax.get_xlabel() == "latency (ms)"
    plt.close(fig)


def test_latency_cdf_on_a_log_axis_ticks_plain_milliseconds_at_1_2_and_5_of_each_decade():
    fig, ax = plt.subplots()
    sk.plots.latency_cdf({"rpc": np.linspace(3, 2500, 1001)}, ax=ax, log=True)
    fig.canvas.draw()
    shown = [t.get_text() for t in ax.get_xticklabels() if t.get_text()]
    assert ax.get_xlabel() == "latency (ms, log scale)"
    assert {"5", "10", "20", "50", "100", "200", "500", "1000", "2000"} <= set(shown)
    assert not any("10^" in t or "$" in t for t in shown)
    plt.close(fig)


def test_latency_cdf_on_a_log_axis_over_less_than_a_decade_still_labels_four_ticks_in_view():
    fig, ax = plt.subplots()
    sk.plots.latency_cdf({"monolith": np.linspace(20, 55, 101), "services": np.linspace(21, 90, 101)}, ax=ax, log=True)
    fig.canvas.draw()
    lo, hi = ax.get_xlim()
    shown = [t.get_text() for t in ax.get_xticklabels() if t.get_text() and lo <= t.get_position()[0] <= hi]
    assert shown == ["20", "30", "50", "70"]  # not 20 and 50 alone (lesson 11's control with 1 ms hops)
    plt.close(fig)


def test_windows_between_pairs_down_and_up_rows_and_closes_an_open_window_only_when_asked():
    import pandas as pd

    trace = pd.DataFrame({
        "time": [10.0, 20.0, 30.0, 35.0, 50.0],
        "event": ["broker_down", "broker_up", "link_down", "broker_down", "link_up"],
        "component": ["broker", "broker", "broker->producer", "broker", "broker->producer"],
    })
    assert sk.plots._base.windows_between(trace, "broker_down", "broker_up") == [(10.0, 20.0)]
    assert sk.plots._base.windows_between(trace, "broker_down", "broker_up", end=60.0) == [(10.0, 20.0), (35.0, 60.0)]
    assert sk.plots._base.windows_between(trace, "link_down", "link_up", component="->producer") == [(30.0, 50.0)]
    assert sk.plots._base.windows_between(trace, "link_down", "link_up", component="->consumer") == []


def _rows(*steps):
    import pandas as pd
    return pd.DataFrame({"time": [float(i) for i in range(len(steps))],
                         "component": [c for c, _ in steps], "event": [e for _, e in steps]})


def test_a_message_path_joins_lanes_only_along_hand_offs():
    from simkit.plots import message_path

    rows = _rows(("producer", "send"), ("broker", "append"), ("consumer", "process"), ("db", "db_commit"),
                 ("consumer", "processed"), ("upstream", "republish"), ("producer", "send"),
                 ("broker", "append"), ("consumer", "process"))
    links = message_path(rows)
    assert (0, 1, False) in links and (1, 2, False) in links and (2, 3, False) in links
    assert not any(j == 5 and i != 5 for i, j, _ in links)  # a replay from upstream starts afresh
    assert (5, 6, False) in links and (6, 7, True) in links and (7, 8, True) in links  # the copy, dashed


def test_a_side_effect_after_the_delivery_ended_is_not_joined_to_it():
    from simkit.plots import message_path

    rows = _rows(("consumer", "process"), ("consumer", "processed"), ("email", "email_sent"))
    assert message_path(rows) == [(0, 1, False)]


def test_an_outbox_relay_s_steps_follow_the_broker_s_ack_not_the_client_s_request():
    from simkit.plots import message_path

    rows = _rows(("client", "request"), ("db", "db_commit"), ("relay", "outbox_read"), ("producer", "send"),
                 ("broker", "append"), ("relay", "outbox_published"), ("relay", "crash"),
                 ("relay", "outbox_read"), ("relay", "crash"), ("db", "db_commit"))
    links = message_path(rows)
    assert (4, 5, False) in links and (5, 6, False) in links  # the ack comes from the broker; then the crash
    assert (7, 8, False) in links  # a relay that crashed after reading the row crashed after its own read
    assert (5, 9, False) in links and (0, 9, False) not in links  # the mark commits after the ack


def test_a_redelivery_is_joined_to_the_append_of_the_record_it_read_not_to_the_latest_append_of_its_id():
    import pandas as pd

    from simkit.plots import message_path

    # lesson 17: order 50 is appended to orders@15, processed (its invoice appended to invoices@15), and
    # redelivered after a crash: the redelivery reads orders@15 again, not the invoice
    steps = [("shop", "send", "orders", -1), ("broker", "append", "orders", 15), ("invoicer", "process", "orders", 15),
             ("producer", "send", "invoices", -1), ("broker", "append", "invoices", 15),
             ("ledger", "process", "invoices", 15), ("invoicer", "process", "orders", 15)]
    rows = pd.DataFrame({"time": [float(i) for i in range(len(steps))], "component": [s[0] for s in steps],
                         "event": [s[1] for s in steps], "topic": [s[2] for s in steps], "partition": 0,
                         "offset": [s[3] for s in steps]})
    links = message_path(rows)
    assert (1, 6, True) in links and (4, 6, True) not in links  # the redelivery, dashed, from the order's append
    assert (4, 5, False) in links  # the ledger reads the invoice
    assert (3, 4, False) in links  # the invoice's append is its first write to invoices, not a write again
    # without offsets in the trace, a read falls back to the latest append of its id
    assert (4, 6, True) in message_path(rows.drop(columns=["offset"]))


def test_timeline_draws_crashes_and_restarts_hollow_under_the_steps_so_a_step_at_the_same_moment_shows():
    run = sk.scenarios.exactly_once("at_least_once", seed=0)
    fig, ax = plt.subplots()
    sk.plots.timeline(run, components=["broker", "invoicer", "ledger"], ax=ax)
    marks = {c.get_label(): c for c in ax.collections}
    crash_at = run.trace[(run.trace.component == "invoicer") & (run.trace.event == "crash")].time
    done_at = run.trace[(run.trace.component == "invoicer") & (run.trace.event == "processed")].time
    assert set(crash_at) & set(done_at)  # a crash right after a processed step: the two marks share a point
    for big in ("crash", "restart"):
        assert len(marks[big].get_offsets()) and all(face[3] == 0 for face in marks[big].get_facecolors())
        assert all(marks[big].get_zorder() < marks[small].get_zorder() for small in ("processed", "commit"))
    plt.close(fig)
