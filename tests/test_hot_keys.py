"""Hot keys: one user's traffic piles onto one partition when keyed by user; a finer key spreads it."""

import matplotlib.pyplot as plt
import pandas as pd
import pytest

import simkit as sk
from simkit.scenarios.hot_keys import DESIGNS, HOT_USER, cross_type_inversions


def test_hot_key_fills_one_partition_and_a_finer_key_spreads_it():
    for seed in range(3):
        key = sk.scenarios.hot_keys("key", share=0.3, seed=seed)
        fine = sk.scenarios.hot_keys("fine_key", share=0.3, seed=seed)
        assert fine.report.partition_share_max < key.report.partition_share_max - 0.1, seed
        assert fine.report.lag_max < key.report.lag_max / 3, seed
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
    assert r.partition_share_max < 0.3 and r.lag_max < 100


@pytest.mark.parametrize("kwargs,param", [
    (dict(design="round_robin"), "design"),
    (dict(design="key", share=1.5), "share"),
    (dict(design="key", share=-0.1), "share"),
    (dict(design="key", users=1), "users"),
    (dict(design="key", partitions=0), "partitions"),
])
def test_bad_hot_key_input_is_a_config_error(kwargs, param):
    with pytest.raises(sk.ConfigError, match=param):
        sk.scenarios.hot_keys(**kwargs)


def test_consumers_vs_partitions_counts_idle_members():
    df = sk.sweep("throughput", {"consumers": [2, 3, 5]}, seeds=2, arrival_rate=0.5, service_rate=1.0,
                  partitions=3, messages=300)
    assert list(df.groupby("consumers")["idle_consumers"].max()) == [0, 0, 2]
    left, right = sk.plots.consumers_vs_partitions(df)
    assert "3 partitions keep at most 3 consumers busy" in left.get_title()
    assert "other 2 of 5 sit idle" in left.get_title() and "ms" in right.get_ylabel()
    plt.close("all")


def test_the_old_key_design_keyword_positional_order_and_field_names_still_work_and_warn():
    new = sk.scenarios.hot_keys("fine_key", share=0.2, seed=2, messages=500)
    with pytest.warns(DeprecationWarning, match="design="):
        by_keyword = sk.scenarios.hot_keys(key_design="fine_key", share=0.2, seed=2, messages=500)
    with pytest.warns(DeprecationWarning, match="share="):
        positional = sk.scenarios.hot_keys("fine_key", 0.2, 2, messages=500)
    assert new.report == by_keyword.report == positional.report
    with pytest.warns(DeprecationWarning, match="lag_max"):
        assert new.report.max_lag == new.report.lag_max
    with pytest.warns(DeprecationWarning, match="partition_share_max"):
        assert new.report.max_partition_share == new.report.partition_share_max


def test_every_design_runs_under_compare():
    df = sk.compare("hot_keys", DESIGNS, seeds=1, messages=300)
    assert list(df.design) == list(DESIGNS) and (df.produced == 300).all()


def test_hot_key_plots_state_the_busiest_partition_and_the_worst_lag():
    hot = {d: sk.scenarios.hot_keys(d, share=0.3, seed=1, messages=1000) for d in DESIGNS}
    ax = sk.plots.partition_load(hot)
    assert "busiest partition" in ax.get_title() and "fine_key" in ax.get_title()
    ax = sk.plots.partition_lag(hot)
    worst = int(hot["key"].series["lag"]["lag"].max())
    assert f"key {worst}" in ax.get_title()
    plt.close("all")



@pytest.mark.parametrize("design", DESIGNS)
def test_the_traffic_actor_alone_keys_as_the_design_says_and_sends_the_hot_users_types_in_turn(design):
    from simkit.scenarios.hot_keys import EVENT_TYPES, HotKeysParams, traffic

    world = sk.World(0)
    broker = sk.Broker(world)
    broker.create_topic("user-updates", 6)
    producer = sk.Producer(world, broker, "producer", partitioner="key")
    sent = world.env.event()
    world.env.process(traffic(world, producer, sent, HotKeysParams(design=design, share=0.5, messages=200)))
    world.run()
    sends = world.trace.to_frame().query("event == 'send'")
    hot = sends[sends.msg_id.str.startswith(f"{HOT_USER}/")]
    assert sent.triggered and len(sends) == 200 and 60 < len(hot) < 140
    types = [m.rsplit("/", 1)[1] for m in hot.msg_id]
    assert types == [EVENT_TYPES[i % len(EVENT_TYPES)] for i in range(len(types))]
    expected = [HOT_USER if design == "key" else f"{HOT_USER}:{t}" for t in types]
    assert list(hot.key) == expected
