"""What a lesson's text says about its runs, asserted on the runs themselves (a drifting finding fails here).

Functions a lesson defines (its own systems, its `explore`) are read from the lesson's text twin, so the
test checks the code the learner runs, not a copy of it.
"""

from pathlib import Path

import pytest

import simkit as sk

TEXT = Path(__file__).resolve().parents[1] / "notebooks" / "text"


def lesson_function(lesson: str, name: str):
    """The function ``name`` as defined in the lesson's text twin (its source, run in a fresh namespace)."""
    source = (TEXT / f"{lesson}.py").read_text()
    start = source.index(f"def {name}(")
    end = source.index("\n\n\n", start)
    namespace = {"sk": sk}
    exec(compile(source[start:end], f"{lesson}.py", "exec"), namespace)
    return namespace[name]


@pytest.fixture(scope="module")
def shop():
    return lesson_function("14-build-your-own-system", "shop")


def test_14_a_calm_shop_ships_every_order_once_in_order_and_analytics_sees_them_all(shop):
    r = shop().report
    assert (r.produced, r.unshipped, r.duplicates, r.out_of_order, r.analytics_missed) == (300, 0, 0, 0, 0)


def test_14_crashes_with_commit_after_processing_repeat_orders_and_skip_none(shop):
    r = shop(crash_rate=0.05).report
    assert r.crashes > 5 and r.duplicates > 0 and r.unshipped == 0


def test_14_kafkas_default_session_timeout_stalls_the_crashed_members_partitions(shop):
    r = shop(crash_rate=0.05, session_timeout=45_000).report
    assert r.crashes >= 1 and r.unshipped > r.produced / 2


def test_14_a_late_reader_from_latest_misses_about_three_seconds_of_orders_and_from_earliest_none(shop):
    df = sk.compare(shop, ["earliest", "latest"], seeds=6)
    missed = df.groupby("design")["analytics_missed"]
    assert missed.max()["earliest"] == 0
    assert 100 <= missed.min()["latest"] and missed.max()["latest"] <= 200  # 3 s at 50 orders a second


def test_14_the_later_analytics_joins_from_latest_the_more_it_misses(shop):
    missed = [shop("latest", joins_at=s * 1000).report.analytics_missed for s in (0.5, 1.5, 2.5, 3.5, 4.5, 5.5)]
    assert missed == sorted(missed) and len(set(missed)) == len(missed)


def test_03_with_steady_traffic_the_lag_and_age_alarms_fire_within_moments_of_each_other():
    dead = sk.scenarios.publish("outbox", messages=200, seed=3, relay_dies_at=3000, alert_lag=50, alert_age=2000)
    alerts = dead.trace[dead.trace.event == "alert"]
    lag_at = alerts[alerts.detail.str.startswith("outbox_lag")].time.min()
    age_at = alerts[alerts.detail.str.startswith("outbox_age")].time.min()
    assert abs(lag_at - age_at) <= 200


def test_09_all_async_fails_about_two_in_three_orders_placed_during_the_outage():
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        run = sk.scenarios.outage("all_async", seed=1)
    trace = run.trace
    requests = trace[trace.event == "request"]
    during = set(requests[(requests.time >= 3000) & (requests.time < 6000)].msg_id)
    failed = set(trace[trace.event == "request_failed"].msg_id)
    assert failed <= during and 0.55 <= len(failed) / len(during) <= 0.75


def test_12_simulated_means_match_mm1_within_a_few_percent_and_the_p99_up_to_90_percent_busy():
    import warnings

    import numpy as np

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        loads = sk.sweep("throughput", {"arrival_rate": [0.3, 0.5, 0.7, 0.8, 0.9, 0.95]}, seeds=5,
                         service_rate=1.0, messages=20_000)
    g = loads.groupby("arrival_rate")[["latency_mean", "theory_latency_mean", "latency_p99"]].mean()
    assert (abs(g.latency_mean / g.theory_latency_mean - 1) < 0.03).all()
    p99_theory = np.log(100) / (1.0 - g.index.to_numpy())
    close = abs(g.latency_p99.to_numpy() / p99_theory - 1)
    assert (close[:-1] < 0.05).all() and close[-1] > 0.1  # at 95 % busy the text says the p99 falls short


def test_01_sync_has_no_stale_reads_while_its_writer_is_about_as_far_behind_and_the_answer_about_as_fast():
    slow = sk.scenarios.profile_update("async", seed=1).report
    fast = sk.scenarios.profile_update("sync", seed=1).report
    assert (slow.users, slow.reads) == (200, 200) and slow.stale_reads > 20
    assert fast.stale_reads == 0
    assert abs(fast.lag_max - slow.lag_max) <= 0.1 * slow.lag_max
    assert 0.5 < fast.response_p50 / slow.response_p50 < 2


def test_01_about_half_the_reads_are_stale_when_records_wait_about_the_think_time_and_nearly_all_at_a_few_times():
    lagged = sk.sweep("profile_update", {"backlog": [0, 300, 600], "design": ["async"]}, seeds=2)
    means = lagged.groupby("backlog")[["delay_mean", "stale_read_rate"]].mean()
    assert means.loc[0, "stale_read_rate"] < 0.05
    assert 0.5 < means.loc[300, "delay_mean"] / 800 < 2 and 0.3 < means.loc[300, "stale_read_rate"] < 0.7
    assert means.loc[600, "delay_mean"] > 2 * 800 and means.loc[600, "stale_read_rate"] > 0.85


def test_02_every_percentile_is_worse_through_the_broker():
    a = sk.scenarios.request_response("rpc", seed=1).report
    b = sk.scenarios.request_response("broker", seed=1).report
    assert all(b[f] > a[f] for f in ("latency_mean", "latency_p50", "latency_p95", "latency_p99"))


def test_02_one_hop_a_bit_over_100_ms_eight_nearly_a_second_and_the_p99_grows_by_more_than_the_mean():
    chains = sk.sweep("call_chain", {"hops": [1, 8], "design": ["sync_chain"]}, seeds=3)
    m = chains.groupby("hops")[["latency_mean", "latency_p99"]].mean()
    assert 100 < m.latency_mean[1] < 150 and 800 < m.latency_mean[8] < 1100 and m.latency_p99[8] > 1500
    assert m.latency_p99[8] - m.latency_p99[1] > m.latency_mean[8] - m.latency_mean[1]
