"""Commit policies, crashes, groups and replay: who loses and who repeats, from the mechanism alone."""

import time

import pytest

import simkit as sk

N = 200


def world_with_records(n=N, partitions=1, seed=1, at=0):
    """A topic that receives ``n`` records at time ``at`` (ms)."""
    w = sk.World(seed=seed)
    b = sk.Broker(w)
    b.create_topic("t", partitions)
    p = sk.Producer(w, b, partitioner="round_robin")

    def source():
        yield w.env.timeout(at)
        for i in range(n):
            p.send("t", msg_id=i)

    w.env.process(source())
    return w, b


def consume(commit, *, crash_at=None, schedule=(), workers=None, n=N, until=60_000):
    w, b = world_with_records(n)
    c = sk.Consumer(w, b, "consumer", "t", group="g", commit=commit, processing_time=100,
                    auto_commit_interval=1000, session_timeout=500, restart_delay=100,
                    auto_offset_reset="earliest", workers=workers, crash_schedule=schedule)
    if crash_at is not None:
        c.crash_at(crash_at)
    w.run(until=until)
    t = w.trace.to_frame()
    return sk.checks.lost(t), sk.checks.duplicates(t), t


def test_librdkafka_auto_commit_loses_what_was_committed_but_not_processed():
    lost, _, t = consume("auto", crash_at=2550)
    assert (t.event == "crash").sum() == 1
    # the timer committed offset 200 at t=1000 while ~10 records were done: the rest is gone
    assert lost.count == N - 25


def test_java_auto_commit_on_poll_is_safe_while_processing_is_synchronous():
    lost, dup, _ = consume("auto_on_poll", crash_at=2550)
    assert lost.count == 0
    assert dup.count == 25  # the batch was not committed yet: it all comes again


def test_java_auto_commit_on_poll_with_a_worker_pool_loses_records():
    lost, _, _ = consume("auto_on_poll", crash_at=2550, workers=2)
    assert lost.count > 0


def test_commit_before_processing_is_at_most_once():
    lost, dup, _ = consume("before_processing", crash_at=2550)
    assert lost.count == N - 25 and dup.count == 0


def test_commit_after_processing_is_at_least_once():
    lost, dup, _ = consume("after_processing", schedule=[(10, "after_process")])
    assert lost.count == 0
    assert dup.count == 1 and dup.examples == (10,)


def test_no_crash_no_anomaly_for_every_policy():
    for policy in sk.COMMIT_POLICIES:
        lost, dup, _ = consume(policy)
        assert (lost.count, dup.count) == (0, 0), policy


def test_crashed_member_is_removed_after_session_timeout_and_its_partitions_move():
    w, b = world_with_records(40, partitions=2, at=10)  # both members joined before records arrive
    a = sk.Consumer(w, b, "a", "t", group="g", commit="after_processing", processing_time=50,
                    session_timeout=3000, auto_offset_reset="earliest", restart_delay=10**9)
    sk.Consumer(w, b, "b", "t", group="g", commit="after_processing", processing_time=50,
                session_timeout=3000, auto_offset_reset="earliest")
    a.crash_at(300)
    w.run(until=20_000)
    t = w.trace.to_frame()
    leave = t[(t.event == "leave")]
    assert len(leave) == 1 and leave.time.iloc[0] == pytest.approx(3300)
    assert sk.checks.lost(t).count == 0
    # after the move, b takes over partition 0 from a's last committed offset
    a_commits = t[(t.event == "commit") & (t.component == "a")]
    taken = t[(t.event == "process") & (t.component == "b") & (t.partition == 0)]
    assert taken.time.min() >= 3300
    assert taken.offset.min() == a_commits.offset.max()


def test_more_consumers_than_partitions_leaves_some_idle():
    w, b = world_with_records(10, partitions=2)
    cs = [sk.Consumer(w, b, f"c{i}", "t", group="g", auto_offset_reset="earliest") for i in range(4)]
    w.run(until=1000)
    assert sorted(len(c.assignment()) for c in cs) == [0, 0, 1, 1]


def test_seek_to_beginning_replays_every_record():
    w, b = world_with_records(30)
    c = sk.Consumer(w, b, "c", "t", group="g", commit="after_processing", auto_offset_reset="earliest")

    def replay():
        yield w.env.timeout(1000)
        c.seek_to_beginning()

    w.env.process(replay())
    w.run(until=5000)
    dup = sk.checks.duplicates(w.trace.to_frame())
    assert dup.count == 30


def test_group_reset_offsets_to_a_time():
    w = sk.World(seed=1)
    b = sk.Broker(w)
    b.create_topic("t", 1)
    p = sk.Producer(w, b)

    def source():
        for i in range(10):
            p.send("t", msg_id=i)
            yield w.env.timeout(100)

    w.env.process(source())
    w.run(until=2000)
    g = sk.ConsumerGroup(w, b, "g")
    g.reset_offsets("t", time=450)
    assert g.committed_offset("t", 0) == 5


def test_a_handler_that_raises_names_the_message():
    w, b = world_with_records(5)

    def handler(record):
        raise KeyError("email")

    sk.Consumer(w, b, "c", "t", handler, auto_offset_reset="earliest")
    with pytest.raises(sk.ExerciseError, match="KeyError.*message 0"):
        w.run(until=1000)


def test_a_handler_that_raises_with_on_error_crash_loops_on_the_poison_message():
    w, b = world_with_records(5)

    def handler(record):
        if record.msg_id == 2:
            raise ValueError("poison")

    sk.Consumer(w, b, "c", "t", handler, commit="after_processing", on_error="crash", auto_offset_reset="earliest",
                restart_delay=100, session_timeout=50)
    w.run(until=2000)
    t = w.trace.to_frame()
    assert (t.event == "crash").sum() >= 5
    assert set(t[t.event == "processed"].msg_id) == {0, 1}


def test_handler_crash_points_are_declared_and_checked():
    w, b = world_with_records(5)

    def handler(record, ctx):
        ctx.crash_point("between_steps")

    handler.crash_points = ("between_steps",)
    c = sk.Consumer(w, b, "c", "t", handler, commit="after_processing", auto_offset_reset="earliest",
                    crash_schedule=[(2, "between_steps")], session_timeout=50, restart_delay=10)
    assert "between_steps" in c.crash_plan.points
    w.run(until=2000)
    t = w.trace.to_frame()
    assert t[t.event == "crash"].detail.tolist() == ["between_steps"]


@pytest.mark.parametrize("param,value", [
    ("commit", "sometimes"), ("max_poll_records", 0), ("workers", 0), ("auto_offset_reset", "middle"),
    ("crash_rate", 1.5), ("processing_time", "slow"), ("on_error", "ignore"), ("crash_points", "ab"),
    ("retry_backoff", float("nan")), ("start", float("inf")), ("auto_commit_interval", float("nan")),
    ("max_poll_interval", -5), ("client", "java8"), ("commit", object),
])
def test_bad_consumer_settings_are_config_errors(param, value):
    w, b = world_with_records(1)
    with pytest.raises(sk.ConfigError, match=param):
        sk.Consumer(w, b, "c", "t", **{param: value})


def test_unknown_commit_policy_lists_the_known_ones():
    w, b = world_with_records(1)
    with pytest.raises(sk.ConfigError) as err:
        sk.Consumer(w, b, "c", "t", commit="manual")
    for policy in sk.COMMIT_POLICIES:
        assert policy in str(err.value)


def test_a_rebalance_waits_for_members_to_rejoin_so_joining_members_repeat_nothing():
    # Kafka's eager protocol: the group stands still until every member rejoins from poll(),
    # so a member half-way through a batch finishes and commits before its partition moves
    w, b = world_with_records(60, partitions=3)
    for i, start in enumerate((0, 150, 151)):
        sk.Consumer(w, b, f"c{i}", "t", group="g", commit="after_processing", processing_time=20,
                    max_poll_records=10, auto_offset_reset="earliest", start=start)
    w.run(until=10_000)
    t = w.trace.to_frame()
    assert sk.checks.lost(t).count == 0 and sk.checks.duplicates(t).count == 0
    assigns = t[t.event == "assign"]
    assert assigns.time.max() > 151  # the last generation formed only when c0 came back to poll
    assert not (t.event == "commit_failed").any()


def closing(commit, *, how="close", at=505, handler=None):
    """One consumer, 10 ms a record, auto commit every 1000 ms; closed, stopped or crashed at ``at`` ms."""
    w, b = world_with_records(100)
    c = sk.Consumer(w, b, "c", "t", handler, group="g", commit=commit, processing_time=10, max_poll_records=20,
                    auto_commit_interval=1000, session_timeout=3000, auto_offset_reset="earliest")
    if how == "crash":
        c.crash_at(at)
    else:
        def later():
            yield w.env.timeout(at)
            getattr(c, how)()

        w.env.process(later())
    w.run(until=10_000)
    t = w.trace.to_frame()
    return t[t.event == "commit"], t[t.event == "leave"], t


def test_close_commits_the_stored_offsets_and_leaves_at_once_as_librdkafka_does():
    commits, leave, t = closing("auto")
    # the batch in hand (records 40-59, done at 600 ms) is finished, then committed, then the member leaves
    assert commits.offset.tolist() == [60] and commits.time.tolist() == [600]
    assert leave.time.tolist() == [600] and "closed" in leave.detail.iloc[0]
    assert not (t.event == "crash").any()


def test_close_with_store_offsets_commits_what_the_handler_stored():
    def store(record, ctx):
        ctx.store_offsets(record)

    commits, _, _ = closing("store_offsets", handler=store)
    assert commits.offset.tolist() == [60]


def test_close_of_the_java_client_commits_its_position():
    commits, leave, _ = closing("auto_on_poll")
    assert commits.offset.tolist() == [60] and leave.time.tolist() == [600]


def test_a_crash_at_the_same_instant_commits_nothing_and_leaves_only_after_the_session_timeout():
    commits, leave, _ = closing("auto", how="crash")
    assert commits[commits.time < 505 + 3000].empty  # it restarts later and carries on
    assert leave.time.tolist() == [505 + 3000]


def test_stop_leaves_at_once_mid_record_and_commits_nothing():
    commits, leave, t = closing("auto", how="stop")
    assert commits.empty and leave.time.tolist() == [505]
    assert t[t.event == "processed"].offset.max() == 49  # record 50 was abandoned half done


def test_close_of_a_manual_policy_commits_nothing_more_than_it_did():
    commits, leave, _ = closing("after_processing")
    assert commits.offset.max() == 60 and (commits.time <= 600).all() and leave.time.tolist() == [600]


def killed(kill_rate, seed=3, until=60_000):
    """After-processing commits that take 30 ms, for 10 ms of work: kills strike the commits 3 times in 4."""
    w, b = world_with_records(10_000, seed=seed)
    sk.Consumer(w, b, "c", "t", group="g", commit="after_processing", processing_time=10, commit_latency=30,
                session_timeout=5, restart_delay=5, auto_offset_reset="earliest", kill_rate=kill_rate)
    w.run(until=until)
    return w.trace.to_frame()


def test_kills_strike_each_step_in_proportion_to_its_duration():
    t = killed(kill_rate=5)
    kills = t[t.event == "crash"].detail
    during = kills.value_counts()
    busy = during.get("kill:commit", 0) + during.get("kill:handler", 0)
    assert busy > 150
    assert 0.65 < during.get("kill:commit", 0) / busy < 0.85
    assert kills.str.startswith("kill:").all()


def test_kill_rate_is_kills_per_second_of_simulated_time():
    t = killed(kill_rate=2, until=100_000)
    # about 200 kills in 100 s; a kill that finds the consumer down (restarting) does nothing
    assert 150 < (t.event == "crash").sum() < 230


def test_one_seed_one_history_with_kills():
    a, b = killed(kill_rate=5, until=5000), killed(kill_rate=5, until=5000)
    assert a.equals(b)
    assert not a.equals(killed(kill_rate=5, seed=4, until=5000))


@pytest.mark.parametrize("value", [-1, float("nan"), float("inf"), "often", True])
def test_a_bad_kill_rate_is_a_config_error(value):
    w, b = world_with_records(1)
    with pytest.raises(sk.ConfigError, match="kill_rate"):
        sk.Consumer(w, b, "c", "t", kill_rate=value)


def test_client_defaults_come_from_the_clients_table_unless_given():
    w, b = world_with_records(1)
    java = sk.Consumer(w, b, "java", "t", group="g1", client="java")
    rdkafka = sk.Consumer(w, b, "rdkafka", "t", group="g2", client="librdkafka")
    plain = sk.Consumer(w, b, "plain", "t", group="g3")
    given = sk.Consumer(w, b, "given", "t", group="g4", client="librdkafka", commit="after_processing",
                        max_poll_records=50)
    assert (java.commit_policy, java.max_poll_records) == ("auto_on_poll", 500)
    assert (rdkafka.commit_policy, rdkafka.max_poll_records) == ("auto", 1)
    assert (plain.commit_policy, plain.max_poll_records, plain.auto_commit_interval) == ("auto", 500, 5000)
    assert (given.commit_policy, given.max_poll_records) == ("after_processing", 50)
    with pytest.raises(sk.ConfigError, match="client"):
        sk.Consumer(w, b, "bad", "t", client="kafka-python")


def slow_member(max_poll_interval, *, commit="after_processing"):
    """Two members on two partitions; c0 takes 3000 ms over record 5 of its partition."""
    w, b = world_with_records(40, partitions=2, at=10)

    def handler(record, ctx):
        if record.partition == 0 and record.offset == 5:
            yield ctx.env.timeout(3000)

    common = dict(group="g", commit=commit, processing_time=10, auto_offset_reset="earliest",
                  max_poll_records=10, max_poll_interval=max_poll_interval)
    sk.Consumer(w, b, "c0", "t", handler, **common)
    sk.Consumer(w, b, "c1", "t", **common)
    w.run(until=20_000)
    return w.trace.to_frame()


def test_a_member_that_polls_too_late_is_evicted_and_its_work_delivered_again_while_it_finishes():
    t = slow_member(1000)
    evicted = t[(t.event == "leave") & t.detail.str.contains("max_poll_interval")]
    assert len(evicted) == 1 and evicted.detail.iloc[0].startswith("c0.1")
    # c0 polled last at 10 ms and handed over its batch: it is evicted 1000 ms later
    assert evicted.time.iloc[0] == pytest.approx(1010)
    slow_done = t[(t.event == "processed") & (t.component == "c0") & (t.offset == 5) & (t.partition == 0)]
    taken = t[(t.event == "process") & (t.component == "c1") & (t.partition == 0)]
    # c1 reads partition 0 again from c0's last commit while the zombie is still inside record 5
    assert taken.time.min() < slow_done.time.iloc[0]
    assert taken.offset.min() == 5
    # the zombie's commit after record 5 is refused: the generation it belongs to is gone
    refused = t[(t.event == "commit_failed") & (t.component == "c0")]
    assert len(refused) >= 1 and (refused.detail == "rebalanced: generation is stale").all()
    assert sk.checks.duplicates(t).count >= 1 and sk.checks.lost(t).count == 0
    # and c0 comes back as a new member at its next poll
    assert (t[(t.event == "join")].detail == "c0.2").any()


def test_without_max_poll_interval_a_slow_member_keeps_its_partitions():
    t = slow_member(None)
    assert not (t.event == "leave").any() and sk.checks.duplicates(t).count == 0


def test_both_clients_default_to_kafkas_five_minute_max_poll_interval():
    w, b = world_with_records(1)
    assert sk.Consumer(w, b, "j", "t", client="java").max_poll_interval == 300_000
    assert sk.Consumer(w, b, "r", "t", client="librdkafka").max_poll_interval == 300_000
    assert sk.Consumer(w, b, "s", "t").max_poll_interval is None
    with pytest.raises(sk.ConfigError, match="max_poll_interval"):
        sk.Consumer(w, b, "bad", "t", max_poll_interval=0)


@pytest.mark.realclient
def test_close_commits_stored_offsets_in_librdkafka_as_in_simkit():
    # a real confluent-kafka consumer with enable.auto.offset.store=false and a timer that never fires
    # in the test (60 s): it handles 10 records, stores the first 5, and closes; the group's committed
    # offset is then 5, which is what simkit's close() commits for the same steps
    from realclient import bootstrap, kafka, mock_producer

    ck = kafka()
    producer = mock_producer()
    for i in range(20):
        producer.produce("close", value=str(i).encode(), partition=0)
    assert producer.flush(10) == 0
    config = {"bootstrap.servers": bootstrap(producer), "group.id": "g", "enable.auto.commit": True,
              "enable.auto.offset.store": False, "auto.commit.interval.ms": 60000,
              "auto.offset.reset": "earliest", "log_level": 3}
    consumer = ck.Consumer(config)
    consumer.subscribe(["close"])
    handled = []
    deadline = time.monotonic() + 30
    while len(handled) < 10 and time.monotonic() < deadline:
        m = consumer.poll(0.2)
        if m is None or m.error():
            continue
        handled.append(m.offset())
        if m.offset() < 5:
            consumer.store_offsets(message=m)
    consumer.close()
    reader = ck.Consumer(config)
    (real,) = reader.committed([ck.TopicPartition("close", 0)], timeout=10)
    reader.close()

    w, b = world_with_records(20)

    def store_the_first_five(record, ctx):
        if record.offset < 5:
            ctx.store_offsets(record)

    c = sk.Consumer(w, b, "c", "t", store_the_first_five, group="g", commit="store_offsets", max_poll_records=10,
                    auto_commit_interval=60_000, auto_offset_reset="earliest", processing_time=1)

    def close_after_ten():
        yield w.env.timeout(5)
        c.close()

    w.env.process(close_after_ten())
    w.run(until=1000)
    t = w.trace.to_frame()
    assert handled == list(range(10))
    assert real.offset == 5 == t[t.event == "commit"].offset.max()


def test_with_librdkafkas_one_record_polls_auto_commit_loses_at_most_the_record_in_hand_per_crash():
    # confluent-kafka's poll() hands over one record at a time, so "auto" stores only that one;
    # with polls of 20 (consume(num_messages=20), or the Java client's batches) a crash loses the rest
    # of the batch the timer already committed
    def run(max_poll_records):
        w, b = world_with_records(300)
        sk.Consumer(w, b, "c", "t", group="g", client="librdkafka", max_poll_records=max_poll_records,
                    processing_time=10, auto_commit_interval=100, session_timeout=200, restart_delay=50,
                    auto_offset_reset="earliest", kill_rate=2)
        w.run(until=20_000)  # long enough for every record to be reached despite the kills
        t = w.trace.to_frame()
        return sk.checks.lost(t).count, int((t.event == "crash").sum())

    lost_one, kills_one = run(None)
    lost_batch, kills_batch = run(20)
    assert kills_one > 3 and kills_batch > 3
    assert lost_one <= kills_one  # the mechanism's bound: only the record in hand was stored unhandled
    assert lost_batch > lost_one + 10
