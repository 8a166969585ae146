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
    short = 1 - g.latency_p99.to_numpy()[-1] / p99_theory[-1]
    assert (close[:-1] < 0.05).all() and short > 0.1  # at 95 % busy the text says the p99 falls short


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


def test_03_about_one_crash_in_three_loses_a_sign_up_and_the_lost_are_publish_then_commits_ghosts():
    runs = sk.compare("publish", ["dual_write"], seeds=10, crash_rate=0.05, relay_crash_rate=0.05, messages=200)
    assert (runs.lost > 0).all() and 0.2 < runs.lost.sum() / runs.crashes.sum() < 0.5
    for seed in (0, 3):
        dual = sk.scenarios.publish("dual_write", crash_rate=0.05, messages=200, seed=seed).checks["lost"]
        ptc = sk.scenarios.publish("publish_then_commit", crash_rate=0.05, messages=200, seed=seed).checks["ghosts"]
        assert dual.count == ptc.count > 0 and sorted(dual.examples) == sorted(ptc.examples)


def test_03_a_dead_relay_fails_no_request_and_leaves_most_events_waiting():
    r = sk.scenarios.publish("outbox", messages=200, seed=3, relay_dies_at=3000, alert_lag=50, alert_age=2000).report
    assert r.failed_requests == 0 and r.lost == 0 and r.pending > r.requests / 2


def test_03_while_the_broker_is_down_the_outbox_answers_in_milliseconds_and_drains_afterwards():
    dual = sk.scenarios.publish("dual_write", messages=200, seed=3, broker_outage=(3000, 2500)).report
    box = sk.scenarios.publish("outbox", messages=200, seed=3, broker_outage=(3000, 2500)).report
    assert box.latency_p99 < 20 and dual.latency_p99 > 1000
    assert box.pending == 0 and box.failed_requests == 0


def test_03_a_relay_crashing_often_repeats_about_one_row_per_three_crashes():
    r = sk.scenarios.publish("outbox", relay_crash_rate=0.3, seed=3).report
    assert 0.2 < r.duplicates / r.relay_crashes < 0.5


def test_04_the_timer_loses_several_records_per_crash_and_the_commit_after_the_work_repeats_at_most_one():
    auto = sk.scenarios.consume("auto", crash_rate=0.03, seed=1).report
    after = sk.scenarios.consume("after_processing", crash_rate=0.03, seed=1).report
    stored = sk.scenarios.consume("store_offsets", crash_rate=0.03, seed=1).report
    assert auto.lost > 1.5 * auto.crashes
    assert after.lost == 0 and 0 < after.duplicates <= after.crashes
    assert stored.lost == 0 and stored.duplicates > after.duplicates
    assert after.commits == after.processed and stored.commits < after.commits / 5


def test_04_a_5_ms_synchronous_commit_about_doubles_the_wait_and_costs_a_third_of_the_throughput():
    def run(design, commit_latency):
        return sk.scenarios.consume(design, crash_rate=0.0, commit_latency=commit_latency, seed=1).report

    fast, slow = run("after_processing", 0), run("after_processing", 5)
    assert 1.7 < slow.latency_mean / fast.latency_mean < 2.3
    assert 0.6 < (slow.processed / slow.duration) / (fast.processed / fast.duration) < 0.72
    timer, timer_slow = run("store_offsets", 0), run("store_offsets", 5)
    assert abs(timer_slow.latency_mean / timer.latency_mean - 1) < 0.02


def test_04_the_worker_pool_loses_most_and_auto_on_poll_repeats_more_than_after_processing():
    designs = ["auto", "auto_on_poll", "auto_on_poll_pool", "before_processing", "after_processing"]
    runs = sk.compare("consume", designs, seeds=10, crash_rate=0.03)
    g = runs.groupby("design")[["lost", "duplicates", "crashes"]]
    worst, mean = g.max(), g.mean()
    assert set(worst.index[worst.lost == 0]) == {"auto_on_poll", "after_processing"}
    assert mean.lost.idxmax() == "auto_on_poll_pool"
    per_crash = g.sum().duplicates / g.sum().crashes
    assert per_crash["auto_on_poll"] > per_crash["after_processing"]


def test_07_without_a_registry_only_removing_and_renaming_break_the_old_reader_and_every_failure_is_parked():
    for change in ["add_optional_field", "add_required_field", "remove_field", "rename_field"]:
        r = sk.scenarios.schema_drift(change, registry=None, seed=0).report
        breaks = change in ("remove_field", "rename_field")
        assert (r.decode_failures > 0) == breaks and r.dead_lettered == r.decode_failures and r.lost == 0


def test_07_backward_and_forward_are_mirror_images_full_passes_only_the_optional_field_and_no_mode_a_rename():
    changes = ["add_optional_field", "add_required_field", "remove_field", "rename_field"]
    refused = {mode: {c for c in changes
                      if sk.scenarios.schema_drift(c, registry=mode, seed=0).report.rejected_registrations > 0}
               for mode in ("BACKWARD", "FORWARD", "FULL")}
    assert refused == {"BACKWARD": {"add_required_field", "rename_field"},
                       "FORWARD": {"remove_field", "rename_field"},
                       "FULL": {"add_required_field", "remove_field", "rename_field"}}


def test_07_backward_with_the_producer_first_refuses_nothing_and_breaks_the_old_reader_and_ci_names_the_two():
    from simkit.scenarios.schema_drift import schema_contract_check

    trap = sk.scenarios.schema_drift("remove_field", registry="BACKWARD", upgrade_order="producer_first", seed=0)
    assert trap.report.rejected_registrations == 0 and trap.report.decode_failures > 0
    checked = schema_contract_check()
    assert set(checked[checked.problems != ""].change) == {"remove_field", "rename_field"}


def _outage(design, **kw):
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        return sk.scenarios.outage(design, **kw)


def test_09_all_async_fails_the_orders_of_the_outages_first_two_seconds_and_lets_the_last_one_through():
    run = _outage("all_async", seed=1)
    t = run.trace
    placed = t[t.event == "request"].set_index("msg_id").time
    failed = placed[placed.index.isin(t[t.event == "request_failed"].msg_id)]
    assert failed.min() >= 3000 and failed.max() < 5400  # the last retry's backoff can pass the timeout
    last_second = placed[(placed >= 5400) & (placed < 6000)]
    assert len(last_second) > 10 and not last_second.index.isin(failed.index).any()


def test_09_direct_publish_fails_nothing_and_loses_events_the_outbox_loses_none_and_drains_in_about_a_second():
    direct, outbox = _outage("direct_publish", seed=1).report, _outage("sync_core_outbox", seed=1).report
    assert direct.failed_requests == 0 and direct.lost > 50
    assert outbox.failed_requests == 0 and outbox.lost == 0 and 100 < outbox.outbox_lag_max < 200
    assert 500 < outbox.drain_ms < 1500


def test_09_an_outage_within_the_timeout_costs_nothing_each_second_beyond_loses_a_seconds_orders():
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        df = sk.sweep("outage", {"design": ["direct_publish", "sync_core_outbox"],
                                 "outage_ms": [500, 2000, 3500, 5000]}, seeds=3)
    m = df.groupby(["design", "outage_ms"])[["lost", "drain_ms"]].mean()
    lost = m.loc["direct_publish"].lost
    assert lost[500] == 0 and lost.is_monotonic_increasing
    per_second = (lost[5000] - lost[2000]) / 3.0
    assert 0.7 * 50 < per_second < 1.3 * 50  # orders arrive at about 50 a second
    drain = m.loc["sync_core_outbox"].drain_ms
    assert (m.loc["sync_core_outbox"].lost == 0).all()
    assert all(0.25 < drain[ms] / ms < 0.45 for ms in (2000, 3500, 5000))


def test_10_the_rollback_leaves_dozens_charged_and_the_saga_none_while_shipping_some_orders_the_outage_hit():
    rollback, saga = (sk.scenarios.order_workflow(d, seed=1) for d in ("rollback", "saga"))
    assert rollback.report.inconsistent >= 24 and rollback.report.charged_no_shipment > 0
    assert saga.report.inconsistent == 0 and saga.report.refunds > 0
    t = rollback.trace
    met = set(t[(t.event == "call_failed") & (t.detail == "carrier: unavailable")].msg_id)
    ends = saga.trace[saga.trace.msg_id.isin(met)].event.value_counts()
    assert ends.get("OrderCancelled", 0) > 0 and ends.get("OrderCompleted", 0) > 0


def test_10_row_changes_carry_fewer_records_than_steps_and_miss_about_one_receipt_in_six_facts_miss_none():
    rows = sk.scenarios.facts_vs_crud("row_changes", seed=1).report
    facts = sk.scenarios.facts_vs_crud("business_facts", seed=1).report
    assert rows.published < 3 * rows.orders == facts.published
    assert rows.missed_receipts > 0 and rows.missed_tracking == 0 == facts.missed_receipts == facts.missed_tracking
    assert facts.reaction_p50 > rows.reaction_p50
    by_poll = sk.sweep("facts_vs_crud", {"design": ["row_changes", "business_facts"],
                                         "poll_interval": [100, 500, 2000]}, seeds=6)
    m = by_poll.groupby(["design", "poll_interval"])["missed_receipts"].mean()
    assert 0 < m["row_changes", 100] < m["row_changes", 500] < m["row_changes", 2000]
    assert 1 / 9 < m["row_changes", 500] / 200 < 1 / 4  # "about one receipt in six"
    assert (m["business_facts"] == 0).all() and (by_poll.missed_tracking == 0).all()


def test_11_services_serve_the_same_requests_with_more_parts_and_a_tail_that_grows_faster_than_the_median():
    mono = sk.scenarios.deployment("monolith", seed=1).report
    svc = sk.scenarios.deployment("services", seed=1).report
    assert (mono.requests, mono.notifications_sent, mono.failed_requests) == \
        (svc.requests, svc.notifications_sent, svc.failed_requests)
    assert (mono.infrastructure_parts, svc.infrastructure_parts) == (3, 18)
    assert svc.latency_p99 / mono.latency_p99 > 2 * svc.latency_p50 / mono.latency_p50


def test_11_a_broker_outage_fails_only_services_and_a_billing_database_outage_fails_the_monolith_more():
    def failed(design, **kw):
        df = sk.compare("deployment", [design], seeds=8, **kw)
        return df.failed_requests.mean(), df.affected_boundaries.mean()

    assert failed("monolith", broker_outage=(1000, 2000)) == (0, 0)
    svc_failed, svc_hit = failed("services", broker_outage=(1000, 2000))
    assert svc_failed > 0 and svc_hit < 5  # only the boundaries that publish
    mono_failed, mono_hit = failed("monolith", db_outage=("billing", 1000, 2000))
    svc_failed, svc_hit = failed("services", db_outage=("billing", 1000, 2000))
    assert mono_failed > svc_failed > 0 and mono_hit > svc_hit


def test_12_near_saturation_one_seeds_mean_latency_is_twice_anothers():
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        loads = sk.sweep("throughput", {"arrival_rate": [0.95]}, seeds=5, service_rate=1.0, messages=20_000)
    assert loads.latency_mean.max() / loads.latency_mean.min() >= 2


def test_12_three_partitions_keep_at_most_three_consumers_busy_and_two_saturate_one_of_them():
    def run(n):
        r = sk.scenarios.throughput("round_robin", arrival_rate=1.8, service_rate=1.0, partitions=3, consumers=n,
                                    messages=1_000, seed=1)
        return r.report, r.series["utilisation"]

    (one, _), (two, split) = run(1), run(2)
    assert one.utilisation_max > 0.99 and two.utilisation_max > 0.99
    assert sorted(split.partitions) == [1, 2] and split.utilisation.min() < 0.7
    three, four, six = (run(n)[0] for n in (3, 4, 6))
    assert (three.idle_consumers, four.idle_consumers, six.idle_consumers) == (0, 1, 3)
    assert three.utilisation_max < 0.8 and three.latency_p99 == four.latency_p99 == six.latency_p99
    assert one.latency_p99 > two.latency_p99 > 10 * three.latency_p99


def test_12_half_busy_means_about_2_ms_and_two_consumers_at_1_8_per_ms_are_each_about_90_percent_busy():
    half = sk.scenarios.throughput("round_robin", arrival_rate=0.5, service_rate=1.0, messages=3_000, seed=1).report
    assert abs(half.utilisation_max - 0.5) < 0.05 and 1.8 < half.latency_mean < 2.3
    near = sk.scenarios.throughput("round_robin", arrival_rate=1.8, service_rate=1.0, partitions=2, consumers=2,
                                   messages=2_000, seed=1, commit="after_processing")
    assert near.series["utilisation"].utilisation.between(0.85, 0.97).all()
