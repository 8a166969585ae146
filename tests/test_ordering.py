"""Out-of-order delivery: keys keep one user's changes in order, retries can still reorder, hot keys cost."""

import matplotlib.pyplot as plt
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

import simkit as sk
from simkit.scenarios.ordering import DESIGNS, stale_writes, wrong_final

SEEDS = range(5)
SMALL = dict(users=60)


@given(seed=st.integers(0, 10_000), partitions=st.integers(1, 8), consumers=st.integers(1, 6))
def test_key_partitioning_with_an_idempotent_producer_never_reorders(seed, partitions, consumers):
    res = sk.scenarios.ordering("key", partitions=partitions, consumers=consumers, seed=seed, **SMALL)
    r = res.report
    assert res.params["idempotent"] is True  # Kafka's default
    assert r.out_of_order == 0 and r.wrong_final == 0 and r.duplicates == 0 and r.lost == 0, r
    assert r.retries > 0 or r.elections == 0  # the blips did make the producer retry


@pytest.mark.parametrize("consumers", [2, 3])
def test_round_robin_with_two_or_more_consumers_reorders_a_users_changes(consumers):
    for seed in SEEDS:
        r = sk.scenarios.ordering("round_robin", partitions=6, consumers=consumers, seed=seed).report
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


@pytest.mark.parametrize("kwargs,param", [
    (dict(design="hash"), "design"),
    (dict(design="key", partitions=0), "partitions"),
    (dict(design="key", consumers=0), "consumers"),
    (dict(design="key", users=0), "users"),
    (dict(design="key", updates=0), "updates"),
    (dict(design="key", seed="x"), "seed"),
    (dict(design="key", max_in_flight=0), "max_in_flight"),
    (dict(design="key", producer_retries=-1), "producer_retries"),
    (dict(design="key", idempotent=True, max_in_flight=6), "max_in_flight"),
    (dict(design="key", idempotent="yes"), "idempotent"),
    (dict(design="key", leader_elections=-1), "leader_elections"),
    (dict(design="key", request_timeout=0), "request_timeout"),
])
def test_bad_ordering_input_is_a_config_error(kwargs, param):
    with pytest.raises(sk.ConfigError, match=param):
        sk.scenarios.ordering(**kwargs)


def test_a_burst_rate_too_low_for_any_run_is_a_config_error():
    with pytest.raises(sk.ConfigError, match="burst_rate"):
        sk.scenarios.ordering("key", burst_rate=1e-12)


def test_the_old_partitioner_and_retries_keywords_and_positional_order_still_work_and_warn():
    new = sk.scenarios.ordering("round_robin", partitions=3, consumers=2, seed=4, users=30, producer_retries=5)
    with pytest.warns(DeprecationWarning, match="design="):
        by_keyword = sk.scenarios.ordering(partitioner="round_robin", partitions=3, consumers=2, seed=4, users=30,
                                           producer_retries=5)
    with pytest.warns(DeprecationWarning, match="producer_retries="):
        old_retries = sk.scenarios.ordering("round_robin", partitions=3, consumers=2, seed=4, users=30, retries=5)
    with pytest.warns(DeprecationWarning, match="partitions="):
        positional = sk.scenarios.ordering("round_robin", 3, 2, 4, users=30, producer_retries=5)
    assert new.report == by_keyword.report == old_retries.report == positional.report
    with pytest.warns(DeprecationWarning, match="elections"):
        assert new.report.leader_elections == new.report.elections


def test_unknown_design_lists_the_known_ones():
    with pytest.raises(sk.ConfigError) as err:
        sk.scenarios.ordering("by_magic")
    assert all(d in str(err.value) for d in DESIGNS)


# -- stale writes: an older change applied after a newer one, first time or repeated ----------------
def test_stale_writes_count_repeats_that_out_of_order_misses():
    rows = pd.DataFrame({
        "event": ["send", "send", "email_set", "email_set", "email_set", "email_set"],
        "key": ["a", "a", "a", "a", "a", "a"],
        "msg_id": ["a/0", "a/1", "a/0", "a/1", "a/0", "a/1"],  # a batch of both, written twice
    })
    assert sk.checks.out_of_order(rows, "email_set").count == 0
    found = stale_writes(rows)
    assert found.count == 1 and found.examples == ("a/0",)
    assert wrong_final(rows).count == 0  # the repeat's newer change put the right address back


def test_a_lost_answer_shows_as_a_stale_write_and_idempotence_removes_it():
    for seed in SEEDS:
        loose = sk.scenarios.ordering("key", partitions=1, consumers=1, seed=seed, idempotent=False,
                                      leader_elections=0).report
        safe = sk.scenarios.ordering("key", partitions=1, consumers=1, seed=seed, leader_elections=0).report
        assert loose.stale_writes >= loose.out_of_order
        assert safe.stale_writes == 0 and safe.duplicates == 0 and safe.wrong_final == 0, (seed, safe)
    # a wrong final address needs a stale write
    for seed in SEEDS:
        r = sk.scenarios.ordering("key", partitions=1, consumers=1, seed=seed, idempotent=False).report
        assert r.wrong_final == 0 or r.stale_writes > 0, (seed, r)


# -- the ordering lesson's figures ------------------------------------------------------------------
def test_inversion_pair_reads_the_deciding_inversion_from_the_trace():
    rr = sk.scenarios.ordering("round_robin", seed=1, leader_elections=0, response_cuts=0)
    t = rr.trace
    for example in rr.checks["wrong_final"].examples:
        user = example.split("/")[0]
        pair = sk.plots.inversion_pair(t, key=user)
        assert pair["key"] == user and pair["stale_final"] and not pair["repeat"]
        assert pair["older_sent"] < pair["newer_sent"] and pair["newer_applied"] < pair["older_applied"]
        # the stale application is the user's last one: it decided the final address
        applied = t[(t.event == "email_set") & (t.key == user)]
        assert applied.msg_id.iloc[-1] == pair["older"] and applied.time.iloc[-1] == pair["older_applied"]
    with pytest.raises(ValueError):
        sk.plots.inversion_pair(sk.scenarios.ordering("key", seed=1, users=20).trace, key="user-1")


def test_inversion_pair_tells_a_retried_copy_from_a_first_delivery():
    loose = sk.scenarios.ordering("key", partitions=1, consumers=1, seed=1, idempotent=False, max_in_flight=5)
    pairs = [sk.plots.inversion_pair(loose.trace, key=u.split("/")[0]) for u in loose.checks["wrong_final"].examples]
    assert any(p["repeat"] for p in pairs) and any(not p["repeat"] for p in pairs)
    t = loose.trace
    for p in pairs:
        copies = t[(t.event == "email_set") & (t.msg_id == p["older"])]
        assert (len(copies) > 1) == p["repeat"]


def test_inversion_timeline_titles_the_pair_and_draws_both():
    rr = sk.scenarios.ordering("round_robin", seed=1, leader_elections=0, response_cuts=0)
    user = rr.checks["wrong_final"].examples[0].split("/")[0]
    pair = sk.plots.inversion_pair(rr.trace, key=user)
    ax = sk.plots.inversion_timeline(rr, key=user)
    title = ax.get_title()
    older, newer = pair["older"].split("/")[1], pair["newer"].split("/")[1]
    assert user in title and f"{older} before {newer}" in title and "older address" in title
    labels = ax.get_legend_handles_labels()[1]
    assert f"{pair['older']} (sent first)" in labels and f"{pair['newer']} (sent second)" in labels
    keyed = sk.scenarios.ordering("key", seed=1, users=20)
    ax = sk.plots.inversion_timeline(keyed)
    assert ax.get_title().startswith("stale_writes = 0 in this run:") and "harmless" in ax.get_title()
    plt.close("all")


def test_inversion_bars_label_units_and_take_colours_for_settings():
    df = pd.DataFrame({"producer": ["a", "a", "b", "b"], "stale_writes": [2, 4, 0, 0],
                       "wrong_final": [1, 1, 0, 0], "produced": [600] * 4})
    ax = sk.plots.inversion_bars(df, by="producer", metrics=("stale_writes", "wrong_final"),
                                 colors={"a": "#d62728", "b": "#2ca02c"})
    assert "a: 3 of 600 older changes applied after a newer one" in ax.get_title() and "b: none" in ax.get_title()
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["stale_writes (changes)", "wrong_final (users)"]
    assert matplotlib_colors(ax.patches[0]) == "#d62728" and matplotlib_colors(ax.patches[1]) == "#2ca02c"
    plt.close("all")


def matplotlib_colors(patch):
    from matplotlib.colors import to_hex
    return to_hex(patch.get_facecolor())


def test_sticky_fills_bigger_batches_than_round_robin_and_still_splits_a_users_changes():
    # KIP-480: keyless records stay on one partition until its batch leaves, so the same records make
    # fewer, fuller batches (counted from the trace: appends at one instant to one partition are a batch)
    calm = dict(partitions=6, consumers=3, seed=1, leader_elections=0, response_cuts=0)
    batches = {}
    for design in ("round_robin", "sticky"):
        r = sk.scenarios.ordering(design, **calm)
        a = r.trace[r.trace.event == "append"]
        batches[design] = a.groupby(["time", "partition"]).size()
        assert r.report.wrong_final > 0  # one user's changes still land on several partitions
    assert len(batches["sticky"]) < len(batches["round_robin"])
    assert batches["sticky"].mean() > batches["round_robin"].mean()


def test_a_sticky_producer_keeps_filling_its_open_batch_while_requests_are_in_flight():
    world = sk.World(0)
    broker = sk.Broker(world)
    broker.create_topic("t", 4)
    producer = sk.Producer(world, broker, "p", partitioner="sticky", max_in_flight=1, batch_size=16, latency=5)

    def burst(env):
        for i in range(9):  # the first goes at once; the other 8 wait behind it, in one partition's batch
            producer.send("t", None, i)
        yield env.timeout(0)

    world.env.process(burst(world.env))
    world.run(until=1000)
    sends = world.trace.to_frame()
    parts = sends[sends.event == "send"].partition.to_list()
    assert len(set(parts[1:])) == 1 and parts[1] != parts[0]


def test_batch_sizes_titles_each_designs_batch_count_from_the_trace():
    calm = dict(partitions=6, consumers=3, seed=1, leader_elections=0, response_cuts=0)
    runs = {d: sk.scenarios.ordering(d, **calm) for d in ("round_robin", "sticky")}
    ax = sk.plots.batch_sizes(runs)
    for design, r in runs.items():
        n = len(sk.plots.batches(r))
        assert f"{design}: {n} batches" in ax.get_title()
        assert sum(p.get_height() for p in ax.patches if p.get_facecolor()[:3] == ax.patches[0].get_facecolor()[:3]
                   ) > 0
    assert int(sum(sk.plots.batches(runs["sticky"]))) == runs["sticky"].report.produced
    plt.close("all")
