"""Out-of-order delivery: keys keep one user's changes in order, retries can still reorder, hot keys cost."""

import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

import simkit as sk
from simkit.scenarios.ordering import DESIGNS, HOT_USER, cross_type_inversions, wrong_final

SEEDS = range(5)
SMALL = dict(users=60)


@given(seed=st.integers(0, 10_000), partitions=st.integers(1, 8), consumers=st.integers(1, 6))
def test_key_partitioning_with_an_idempotent_producer_never_reorders(seed, partitions, consumers):
    res = sk.scenarios.ordering("key", partitions, consumers, seed=seed, **SMALL)
    r = res.report
    assert res.params["idempotent"] is True  # Kafka's default
    assert r.out_of_order == 0 and r.wrong_final == 0 and r.duplicates == 0 and r.lost == 0, r
    assert r.retries > 0 or r.leader_elections == 0  # the blips did make the producer retry


@pytest.mark.parametrize("consumers", [2, 3])
def test_round_robin_with_two_or_more_consumers_reorders_a_users_changes(consumers):
    for seed in SEEDS:
        r = sk.scenarios.ordering("round_robin", 6, consumers, seed=seed).report
        assert r.out_of_order > 0 and r.wrong_final > 0, (seed, r)
        assert r.lost == 0 and r.duplicates == 0, (seed, r)


def test_retries_with_several_in_flight_and_no_idempotence_reorder_within_a_partition():
    for seed in SEEDS:
        res = sk.scenarios.ordering("key", partitions=1, consumers=1, seed=seed, idempotent=False,
                                    max_in_flight=5, response_cuts=0)
        assert res.report.out_of_order > 0, seed
        # one partition, one consumer: the log itself is out of order, and each late change was retried
        t = res.trace
        for mid in res.checks["out_of_order"].examples:
            key = t.loc[(t.event == "send") & (t.msg_id == mid), "key"].iloc[0]
            appends = list(t.loc[(t.event == "append") & (t.key == key), "msg_id"])
            sends = list(t.loc[(t.event == "send") & (t.key == key), "msg_id"])
            assert appends != sends
            sent_at = t.loc[(t.event == "send") & (t.msg_id == mid), "time"].iloc[0]
            appended_at = t.loc[(t.event == "append") & (t.msg_id == mid), "time"].iloc[0]
            retried = t[(t.event == "retry") & (t.time >= sent_at) & (t.time <= appended_at)]
            assert len(retried) > 0, mid


def test_one_request_in_flight_keeps_order_without_idempotence():
    for seed in SEEDS:
        r = sk.scenarios.ordering("key", seed=seed, idempotent=False, max_in_flight=1).report
        assert r.out_of_order == 0 and r.wrong_final == 0, (seed, r)


def test_a_lost_answer_rewrites_an_old_email_after_a_newer_one_without_idempotence():
    # only response cuts: the broker wrote the change, the producer never heard, the retry writes it again later
    finals = 0
    for seed in SEEDS:
        r = sk.scenarios.ordering("key", partitions=1, consumers=1, seed=seed, idempotent=False,
                                  leader_elections=0).report
        assert r.duplicates > 0 and r.out_of_order == 0, (seed, r)
        finals += r.wrong_final
    assert finals > 0


def test_designs_see_the_same_users_and_the_same_faults_under_one_seed():
    a = sk.scenarios.ordering("round_robin", seed=3).trace
    b = sk.scenarios.ordering("key", seed=3).trace
    for ev in ("send", "broker_down", "link_down"):
        ta, tb = a[a.event == ev], b[b.event == ev]
        assert list(ta.msg_id) == list(tb.msg_id) and list(ta.time) == list(tb.time), ev


def test_wrong_final_reads_last_write_wins_from_the_trace():
    rows = pd.DataFrame({
        "event": ["send", "send", "send", "send", "email_set", "email_set", "email_set"],
        "key": ["a", "a", "b", "b", "a", "a", "b"],
        "msg_id": ["a/0", "a/1", "b/0", "b/1", "a/1", "a/0", "b/1"],
    })
    found = wrong_final(rows)
    assert found.count == 1 and found.examples == ("a/1",)


def test_hot_key_fills_one_partition_and_a_finer_key_spreads_it():
    for seed in range(3):
        key = sk.scenarios.hot_keys("key", share=0.3, seed=seed)
        fine = sk.scenarios.hot_keys("fine_key", share=0.3, seed=seed)
        assert fine.report.max_partition_share < key.report.max_partition_share - 0.1, seed
        assert fine.report.max_lag < key.report.max_lag / 3, seed
        assert key.report.hot_user_partitions == 1 and fine.report.hot_user_partitions > 1
        # the hot user's partition is the one that falls behind, as the trace's lag shows
        lag = key.series["lag"]
        assert lag.loc[lag.lag.idxmax(), "partition"] == sk.partition_for(HOT_USER, 6)


def test_a_finer_key_keeps_per_key_order_and_gives_up_cross_type_order():
    for seed in range(3):
        key = sk.scenarios.hot_keys("key", seed=seed).report
        fine = sk.scenarios.hot_keys("fine_key", seed=seed).report
        assert key.out_of_order == 0 and fine.out_of_order == 0
        assert key.cross_type_inversions == 0 and fine.cross_type_inversions > 0, seed


def test_cross_type_inversions_fold_fine_keys_to_the_user():
    rows = pd.DataFrame({
        "event": ["send", "send", "processed", "processed"],
        "key": ["u:email", "u:address", "u:address", "u:email"],
        "msg_id": [1, 2, 2, 1],
    })
    assert sk.checks.out_of_order(rows).count == 0
    assert cross_type_inversions(rows).count == 1


def test_no_hot_user_means_no_hot_partition():
    r = sk.scenarios.hot_keys("key", share=0.0, seed=1).report
    assert r.max_partition_share < 0.3 and r.max_lag < 100


@pytest.mark.parametrize("kwargs,param", [
    (dict(partitioner="hash"), "partitioner"),
    (dict(partitioner="key", partitions=0), "partitions"),
    (dict(partitioner="key", consumers=0), "consumers"),
    (dict(partitioner="key", users=0), "users"),
    (dict(partitioner="key", updates=0), "updates"),
    (dict(partitioner="key", seed="x"), "seed"),
    (dict(partitioner="key", max_in_flight=0), "max_in_flight"),
    (dict(partitioner="key", retries=-1), "retries"),
    (dict(partitioner="key", idempotent=True, max_in_flight=6), "max_in_flight"),
    (dict(partitioner="key", idempotent="yes"), "idempotent"),
    (dict(partitioner="key", leader_elections=-1), "leader_elections"),
    (dict(partitioner="key", request_timeout=0), "request_timeout"),
])
def test_bad_ordering_input_is_a_config_error(kwargs, param):
    with pytest.raises(sk.ConfigError, match=param):
        sk.scenarios.ordering(**kwargs)


def test_unknown_design_lists_the_known_ones():
    with pytest.raises(sk.ConfigError) as err:
        sk.scenarios.ordering("sticky")
    assert all(d in str(err.value) for d in DESIGNS)


@pytest.mark.parametrize("kwargs,param", [
    (dict(key_design="round_robin"), "key_design"),
    (dict(key_design="key", share=1.5), "share"),
    (dict(key_design="key", share=-0.1), "share"),
    (dict(key_design="key", users=1), "users"),
    (dict(key_design="key", partitions=0), "partitions"),
])
def test_bad_hot_key_input_is_a_config_error(kwargs, param):
    with pytest.raises(sk.ConfigError, match=param):
        sk.scenarios.hot_keys(**kwargs)
