"""The replicated cluster: ISR, high watermark, acks, failover, truncation and unclean election."""

import pytest

import simkit as sk
from simkit.scenarios.replication import final_logs

#: how long a follower's fetch takes in most tests below
FETCH = sk.uniform(2, 8)


def _run(acks, *, seed=0, crashes=(), n=200, gap=2.0, delay=FETCH, min_isr=2, unclean=False,
         lag_max=30000, until=3000, retries=2**31 - 1, rf=3):
    """Send ``n`` records ``gap`` ms apart to a 3-broker cluster; return (world, cluster, fates by msg_id)."""
    world = sk.World(seed)
    cluster = sk.Cluster(world, 3, replication_factor=rf, min_insync_replicas=min_isr, replication_delay=delay,
                         unclean_leader_election=unclean, replica_lag_time_max=lag_max)
    cluster.create_topic("t", 1)
    producer = sk.Producer(world, cluster, "p", acks=acks, latency=1, retries=retries, request_timeout=500,
                           delivery_timeout=20000)
    fates = {}

    def app():
        for i in range(n):
            yield world.env.timeout(gap)
            producer.produce("t", i, key=str(i), msg_id=i,
                             on_delivery=lambda err, off, i=i: fates.__setitem__(i, (err, off)))

    world.env.process(app())
    for broker, start, duration in crashes:
        cluster.crash(broker, start, duration)
    world.run(until)
    return world, cluster, fates


def _lost_acknowledged(world, cluster, fates):
    leader = cluster.partition_state("t", 0)["leader"]
    final = set(final_logs(world.trace.to_frame())[(f"broker-{leader}", "t", 0)])
    return {i for i, (err, _off) in fates.items() if err is None} - final


def test_acks_1_loses_acknowledged_records_when_the_leader_dies_before_its_followers_fetch():
    # followers fetch every 20 ms, the last time at 100 ms: what the leader acknowledged after is on it alone
    world, cluster, fates = _run(1, crashes=[(0, 111, 500)], delay=20)
    lost = _lost_acknowledged(world, cluster, fates)
    assert lost, "records acknowledged by the leader alone vanish with the failover"
    assert all(fates[i][0] is None for i in lost)
    truncated = set(world.trace.to_frame().query("event == 'truncate' and component == 'broker-0'").msg_id)
    assert lost <= truncated, "what is lost is what the old leader truncated when it came back"


@pytest.mark.parametrize("seed", range(4))
def test_acks_all_with_min_insync_2_loses_no_acknowledged_record_at_failover(seed):
    world, cluster, fates = _run("all", seed=seed, crashes=[(0, 151, 700)])
    assert len(fates) == 200 and all(err is None for err, _ in fates.values())
    assert not _lost_acknowledged(world, cluster, fates)
    assert (world.trace.to_frame().event == "leader_elected").sum() == 1


def test_acks_all_answers_only_after_every_in_sync_replica_has_the_record():
    world = sk.World(0)
    cluster = sk.Cluster(world, 3, replication_delay=10, min_insync_replicas=1)
    cluster.create_topic("t", 1)
    producer = sk.Producer(world, cluster, "p", acks="all")
    done = producer.send("t", "v", key="k")
    world.run(until=done)
    trace = world.trace.to_frame()
    copies = trace[trace.event == "replicate"]
    assert set(copies.component) == {"broker-1", "broker-2"}
    assert world.now >= copies.time.max() > 0
    assert cluster.high_watermark("t", 0) == 1


def test_acks_1_answers_at_the_leaders_append_before_any_follower_has_it():
    world = sk.World(0)
    cluster = sk.Cluster(world, 3, replication_delay=10)
    cluster.create_topic("t", 1)
    done = sk.Producer(world, cluster, "p", acks=1).send("t", "v", key="k")
    world.run(until=done)
    assert world.now == 0 and done.value == 0
    assert cluster.high_watermark("t", 0) == 0, "no follower has it yet, so consumers cannot see it"
    assert cluster.fetch("t", 0, 0, 10) == []
    world.run(until=50)
    assert [r.value for r in cluster.fetch("t", 0, 0, 10)] == ["v"]


def test_too_few_in_sync_replicas_refuse_acks_all_with_not_enough_replicas():
    world, cluster, fates = _run("all", crashes=[(1, 50, 2000), (2, 50, 2000)], retries=0, n=100)
    trace = world.trace.to_frame()
    refused = trace[(trace.event == "rejected") & trace.detail.str.startswith("NOT_ENOUGH_REPLICAS", na=False)]
    assert len(refused) > 0
    errors = {i: type(err).__name__ for i, (err, _) in fates.items() if err is not None}
    assert set(errors.values()) == {"NotEnoughReplicas", "NotEnoughReplicasAfterAppend"}
    # the few waiting for the followers when they died were written, the ones after were refused unwritten
    appended = set(trace[trace.event == "append"].msg_id)
    assert {i for i, e in errors.items() if e == "NotEnoughReplicasAfterAppend"} <= appended
    assert not {i for i, e in errors.items() if e == "NotEnoughReplicas"} & appended
    assert cluster.partition_state("t", 0)["isr"] == [0, 1, 2], "both followers caught up and came back"


def test_acks_1_is_still_accepted_by_a_leader_alone():
    _world, _cluster, fates = _run(1, crashes=[(1, 50, 2000), (2, 50, 2000)], retries=0, n=100)
    assert all(err is None for err, _ in fates.values())


def test_a_follower_that_cannot_keep_up_leaves_the_isr_and_returns_once_caught_up():
    world, cluster, _fates = _run(1, delay=400, lag_max=300, n=500, gap=1.0, until=3000, min_isr=1)
    trace = world.trace.to_frame()
    shrinks, expands = trace[trace.event == "isr_shrink"], trace[trace.event == "isr_expand"]
    assert len(shrinks) >= 2 and shrinks.time.min() < 500
    assert len(expands) >= 2 and expands.time.min() > shrinks.time.min()
    assert cluster.partition_state("t", 0)["isr"] == [0, 1, 2]


def test_high_watermark_never_passes_what_an_in_sync_follower_has():
    _world, cluster, _ = _run(1, n=50, until=60)
    state = cluster.partition_state("t", 0)
    assert state["high_watermark"] <= min(state["end_offsets"][b] for b in state["isr"])
    assert len(cluster.fetch("t", 0, 0, 10_000)) == state["high_watermark"]


def test_replicas_agree_after_the_old_leader_truncates_to_the_new_leaders_log():
    world, _cluster, _ = _run(1, crashes=[(0, 101, 500)], delay=20)
    logs = final_logs(world.trace.to_frame())
    assert logs[("broker-0", "t", 0)] == logs[("broker-1", "t", 0)] == logs[("broker-2", "t", 0)]


def _unclean(unclean):
    # broker 2 is down first and leaves the ISR; then brokers 0 and 1 die together; broker 2 returns first
    return _run("all", unclean=unclean, crashes=[(2, 40, 400), (0, 200, 800), (1, 200, 800)], n=400, until=4000)


def test_unclean_election_lets_an_out_of_sync_replica_lead_and_loses_acknowledged_records():
    world, cluster, fates = _unclean(True)
    trace = world.trace.to_frame()
    elected = trace[trace.event == "leader_elected"].detail.tolist()
    assert any("broker-2" in d and "unclean" in d for d in elected)
    assert len(_lost_acknowledged(world, cluster, fates)) > 50


def test_clean_election_waits_for_an_in_sync_replica_and_loses_nothing():
    world, cluster, fates = _unclean(False)
    trace = world.trace.to_frame()
    assert not trace[trace.event == "leader_elected"].detail.str.contains("unclean").any()
    assert (trace.detail == "no leader").sum() > 0, "while no in-sync replica lives, produce is refused"
    assert not _lost_acknowledged(world, cluster, fates)


def test_one_seed_gives_one_history():
    a = _run(1, seed=3, crashes=[(0, 101, 500)])[0].trace.to_frame()
    b = _run(1, seed=3, crashes=[(0, 101, 500)])[0].trace.to_frame()
    assert a.equals(b)


@pytest.mark.parametrize("kwargs, param", [
    ({"replication_factor": 4}, "replication_factor"),
    ({"min_insync_replicas": 4}, "min_insync_replicas"),
    ({"replication_delay": 0}, "replication_delay"),
    ({"replica_lag_time_max": -1}, "replica_lag_time_max"),
    ({"unclean_leader_election": "yes"}, "unclean_leader_election"),
])
def test_bad_cluster_settings_raise_a_config_error_naming_them(kwargs, param):
    with pytest.raises(sk.ConfigError) as err:
        sk.Cluster(sk.World(0), 3, **kwargs)
    assert err.value.param == param


def test_crashing_a_broker_that_does_not_exist_is_a_config_error():
    cluster = sk.Cluster(sk.World(0), 3)
    with pytest.raises(sk.ConfigError) as err:
        cluster.crash(3, 10, 10)
    assert err.value.param == "broker"


def test_after_an_unclean_election_the_batch_after_the_last_acknowledged_fails_at_once():
    # the new leader lacks sequences the producer saw acknowledged: Kafka's client fails that batch
    # with OutOfOrderSequence and bumps its epoch (KIP-360) instead of retrying it until delivery.timeout.ms
    world, _cluster, fates = _unclean(True)
    assert len(fates) == 400, "every record's fate is known long before the 20 s delivery timeout"
    failed = {type(err).__name__ for err, _ in fates.values() if err is not None}
    assert "OutOfOrderSequence" in failed
    assert (world.trace.to_frame().event == "send_failed").sum() < 100


def test_overlapping_crashes_of_one_broker_keep_it_down_until_the_last_ends():
    world, cluster, _ = _run(1, crashes=[(0, 100, 200), (0, 200, 300)], n=50, until=400)
    assert cluster.brokers_down[0], "the second window still holds broker-0 down at 400 ms"
    trace = world.trace.to_frame()
    assert (trace.event == "broker_down").sum() == 1 and (trace.event == "broker_up").sum() == 0


def test_one_broker_without_replicas_answers_acks_1_and_all_alike():
    def run(acks):
        world = sk.World(4)
        broker = sk.Broker(world)
        broker.create_topic("t", 2)
        producer = sk.Producer(world, broker, "p", acks=acks, idempotent=False, latency=sk.uniform(1, 3))
        for i in range(50):
            producer.send("t", i, key=str(i))
        world.run()
        return world.trace.to_frame()

    assert run("all").equals(run(1))
