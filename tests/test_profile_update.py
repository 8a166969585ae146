"""Read your own writes: a synchronous profile write is always seen; an event applied later may not be."""

import numpy as np
import pytest

import simkit as sk
from simkit.scenarios.profile_update import DESIGNS, stale_reads, visibility

SEEDS = range(3)


def run(design, seed=0, **params):
    return sk.scenarios.profile_update(design, seed=seed, **params)


def test_sync_updates_are_never_read_stale_however_far_behind_the_consumer_is():
    for seed in SEEDS:
        for backlog in (0, 300, 1500):
            r = run("sync", seed, backlog=backlog)
            assert r.report.reads == r.report.users
            assert r.report.stale_reads == 0 and r.report.stale_read_rate == 0, (seed, backlog)
            assert r.report.lag_max > 0.8 * backlog  # the lag is there, it is just not on the path


def test_async_updates_are_read_stale_under_lag_and_more_often_under_more_lag():
    rates = {b: [run("async", s, backlog=b).report.stale_read_rate for s in SEEDS] for b in (0, 300, 1500)}
    assert max(rates[0]) < 0.05
    for s in range(len(SEEDS)):
        assert rates[0][s] < rates[300][s] < rates[1500][s], rates
    assert min(rates[1500]) > 0.5


def test_slower_consumer_processing_means_more_lag_and_more_stale_reads():
    fast = [run("async", s, processing_time=2).report for s in SEEDS]
    slow = [run("async", s, processing_time=8).report for s in SEEDS]
    for a, b in zip(fast, slow):
        assert a.delay_mean < b.delay_mean
        assert a.stale_reads < b.stale_reads


def test_with_no_other_traffic_and_a_patient_user_async_reads_are_fresh():
    r = run("async", 1, backlog=0, background_rate=0, think_time=2000)
    assert r.report.stale_reads == 0 and r.report.lag_max <= 3


def test_a_read_is_stale_exactly_when_it_comes_before_the_commit_that_makes_the_update_visible():
    for seed in SEEDS:
        r = run("async", seed)
        t = r.trace
        reads = t[t.event == "profile_read"].set_index("msg_id")["time"]
        visible_at = t[(t.event == "request") & (t.component == "client")].set_index("msg_id")["time"] \
            + visibility(t)
        early = set(reads.index[reads.to_numpy() < visible_at.reindex(reads.index).to_numpy()])
        stale = set(t[(t.event == "profile_read") & (t.msg_id != t.detail)].msg_id)
        assert stale == early and len(stale) == r.report.stale_reads > 0
        assert set(r.checks["stale_reads"].examples) <= stale


def test_an_async_update_becomes_visible_only_after_the_user_was_answered():
    for seed in SEEDS:
        sync_run = run("sync", seed)
        sync, async_ = sync_run.report, run("async", seed).report
        visible = visibility(sync_run.trace)
        answered = sk.checks.latencies(sync_run.trace, "request", "responded")
        assert (visible < answered.reindex(visible.index)).all()  # the commit is inside the call
        assert async_.visible_p50 > async_.response_p50
        assert sync.visible_p99 < async_.visible_p50
        assert sync.unapplied == async_.unapplied == 0


def test_both_designs_tell_crm_and_analytics_about_every_change():
    for design in DESIGNS:
        r = run(design, 2, users=50)
        rep = r.report
        assert rep.published == rep.crm_synced == rep.analytics_counted == 50
        changed = r.trace[(r.trace.event == "append") & (r.trace.topic == "profile-changed")]
        assert set(changed.msg_id) == {f"update-{i}/changed" for i in range(50)}


def test_both_designs_see_the_same_users_at_the_same_times():
    a, b = run("sync", 4).trace, run("async", 4).trace
    ra = a[(a.event == "request") & (a.component == "client")]
    rb = b[(b.event == "request") & (b.component == "client")]
    assert list(ra.msg_id) == list(rb.msg_id)
    assert np.allclose(ra.time.to_numpy(), rb.time.to_numpy())


def test_same_seed_same_history():
    a, b = run("async", 7, users=40), run("async", 7, users=40)
    assert a.report == b.report
    assert a.trace.equals(b.trace)


def test_stale_read_checker_reads_only_the_trace():
    r = run("async", 0, users=30)
    assert stale_reads(r.trace).count == r.report.stale_reads


def test_compare_and_sweep_run_the_scenario():
    df = sk.compare("profile_update", DESIGNS, seeds=1, users=20)
    assert set(df.design) == set(DESIGNS) and "stale_read_rate" in df.columns
    sw = sk.sweep("profile_update", {"backlog": [0, 200]}, seeds=1, design="async", users=20)
    assert list(sw.backlog) == [0, 200]


@pytest.mark.parametrize("params", [
    dict(design="eventual"), dict(backlog=-1), dict(consumers=0), dict(consumers=7), dict(users=0),
    dict(arrival_rate=0), dict(background_rate=-0.1), dict(think_time="soon"), dict(lag_every=0),
    dict(processing_time=-5), dict(drain=-1), dict(seed=1.5), dict(users=100_001), dict(backlog=100_001),
    dict(lag_every=1e-9), dict(arrival_rate=float("nan")), dict(drain=float("inf")), dict(background_rate=11),
    dict(arrival_rate=1e-6, users=1000),
])
def test_bad_parameters_are_config_errors(params):
    kwargs = dict(design="async", seed=0, users=5)
    kwargs.update(params)
    with pytest.raises(sk.ConfigError):
        sk.scenarios.profile_update(**kwargs)


def test_the_old_positional_seed_and_old_field_names_still_work_with_a_warning():
    new = run("async", 3, users=20)
    with pytest.warns(DeprecationWarning, match="seed="):
        old = sk.scenarios.profile_update("async", 3, users=20)
    assert old.report == new.report
    with pytest.warns(DeprecationWarning, match="lag_max"):
        assert new.report.consumer_lag_max == new.report.lag_max
    with pytest.warns(DeprecationWarning, match="delay_mean"):
        assert new.report["consumer_delay_mean"] == new.report.delay_mean
    with pytest.warns(DeprecationWarning, match="published"):
        assert new.report.events_published == new.report.published == 20


def test_the_other_traffic_stops_at_its_bound_so_a_user_who_thinks_for_hours_still_ends_the_run():
    from simkit.scenarios.profile_update import MAX_OTHER_RECORDS

    r = run("async", 0, users=3, backlog=0, background_rate=2.0, think_time=4 * 3_600_000)
    others = r.trace[(r.trace.event == "send") & r.trace.msg_id.astype(str).str.startswith("other-")]
    assert len(others) == MAX_OTHER_RECORDS and r.report.reads == 3


def test_a_lag_sampling_interval_too_fine_for_the_run_is_a_config_error_naming_it():
    with pytest.raises(sk.ConfigError, match="lag_every"):
        sk.scenarios.profile_update("async", users=5, lag_every=1e-9)


def test_every_trace_event_is_documented():
    for design in DESIGNS:
        assert set(run(design, 0, users=20).trace.event) <= set(sk.EVENTS)


# -- the lesson's figures read the trace and say what it shows ---------------------------------
def test_stale_read_timeline_follows_the_first_stale_read_and_says_how_late_the_change_came():
    import matplotlib.pyplot as plt

    r = run("async", 1)
    update = r.checks["stale_reads"].examples[0]
    ax = sk.plots.stale_read_timeline(r)
    title = ax.get_title()
    t = r.trace
    mine = r.trace[r.trace.msg_id == update]
    read = mine.loc[mine.event == "profile_read", "time"].iloc[0]
    visible = visibility(r.trace)[update] + mine.loc[mine.event == "request", "time"].iloc[0]
    assert title.startswith("stale read:") and mine.key.iloc[0] in title
    late = (visible - read) / 1000
    assert f"{late:.1f} s after that read" in title or f"{visible - read:.0f} ms after that read" in title
    assert [lbl.get_text() for lbl in ax.get_yticklabels()][0] == "client"
    appended = mine.loc[mine.event == "append", "time"].iloc[0]
    applied = mine.loc[mine.event == "process", "time"].iloc[0]
    ahead = ((t.event == "process") & (t.component == "profile-writer-0") & (t.time > appended) & (t.time < applied))
    assert f"the writer had handled {int(ahead.sum())} other records first" in title
    plt.close("all")


def test_stale_read_timeline_of_a_sync_update_says_the_read_saw_the_change():
    import matplotlib.pyplot as plt

    r = run("sync", 1, users=20)
    title = sk.plots.stale_read_timeline(r).get_title()
    assert "saw the change" in title and "stale" not in title
    with pytest.raises(sk.ConfigError, match="update_id"):
        sk.plots.stale_read_timeline(r, "update-9999")
    plt.close("all")


def test_lag_and_reads_counts_the_stale_reads_of_the_report():
    import matplotlib.pyplot as plt

    for design in DESIGNS:
        r = run(design, 2, users=60)
        ax = sk.plots.lag_and_reads(r)
        title = ax.get_title()
        labels = [t.get_text() for t in ax.get_legend().get_texts()]
        if r.report.stale_reads:
            assert title.startswith(f"{r.report.stale_reads} of {r.report.reads} reads were stale")
        else:
            assert title.startswith(f"none of {r.report.reads} reads was stale")
        # the legend names only the kinds of read that happened
        assert ("stale read (old profile)" in labels) == (r.report.stale_reads > 0), labels
        assert ("read saw the change" in labels) == (r.report.stale_reads < r.report.reads), labels
    with pytest.raises(sk.ConfigError):
        sk.plots.lag_and_reads(sk.scenarios.request_response("rpc", requests=5))
    plt.close("all")


def test_stale_reads_vs_lag_titles_the_range_of_the_stale_design_and_refuses_unknown_axes():
    import matplotlib.pyplot as plt

    df = sk.sweep("profile_update", {"backlog": [0, 600], "design": list(DESIGNS)}, seeds=1, users=60)
    ax = sk.plots.stale_reads_vs_lag(df, by="backlog")
    assert ax.get_title().startswith("async:") and "sync: no stale read at any lag" in ax.get_title()
    assert ax.get_xlabel().endswith("(s)")
    with pytest.raises(sk.ConfigError, match="x="):
        sk.plots.stale_reads_vs_lag(df, x="latency")
    with pytest.warns(DeprecationWarning, match="delay_mean"):
        old = sk.plots.stale_reads_vs_lag(df, x="consumer_delay_mean", by="backlog")
    assert old.get_title() == ax.get_title()
    plt.close("all")


def test_a_producer_that_gives_up_is_an_error_answer_not_a_crash_and_the_update_may_still_land():
    # 15 s a network leg: every produce request outlives request_timeout (30 s), the producer gives up at
    # delivery_timeout; the API answers the user with an error (found by tests/test_fuzz_scenB.py)
    r = run("async", users=20, network_latency=15001)
    failed = r.trace[r.trace.event == "request_failed"]
    assert len(failed) == 20 and failed.detail.str.contains("gave up").all()
    assert r.report.reads == 0 and not (r.trace.event == "responded").any()
    # indefinite: the appends happened, only the answers were too slow, so the updates are applied anyway
    assert r.report.unapplied == 0 and (r.trace.event == "append").any()
