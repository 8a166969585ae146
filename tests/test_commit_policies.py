"""Commit policies as classes: one class per policy, a registry of names, and room for a new one."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

import simkit as sk
from simkit.commit_policies import COMMIT_POLICIES, POLICIES, CommitPolicy, resolve_policy


def test_every_policy_name_maps_to_the_class_that_carries_that_name():
    assert COMMIT_POLICIES == tuple(POLICIES) == sk.COMMIT_POLICIES
    for name, cls in POLICIES.items():
        assert issubclass(cls, CommitPolicy) and cls.name == name
        assert resolve_policy(name) is cls


def test_an_unknown_policy_is_a_config_error_that_lists_the_names():
    with pytest.raises(sk.ConfigError) as err:
        resolve_policy("sometimes")
    assert all(name in str(err.value) for name in COMMIT_POLICIES)
    with pytest.raises(sk.ConfigError):
        resolve_policy(CommitPolicy)  # the base class commits nothing: not a policy of its own


class CommitEveryTenth(CommitPolicy):
    """A learner's own policy: commit synchronously after every tenth record handled."""

    name = "every_tenth"

    def __init__(self, consumer):
        super().__init__(consumer)
        self.count = 0

    def processed(self, record):
        self.count += 1
        if self.count % 10:
            return super().processed(record)
        return self.consumer.commit({(record.topic, record.partition): record.offset + 1})


def test_a_new_policy_is_a_new_class_passed_as_commit():
    w = sk.World(seed=1)
    b = sk.Broker(w)
    b.create_topic("t", 1)
    p = sk.Producer(w, b)
    for i in range(35):
        p.send("t", msg_id=i)
    c = sk.Consumer(w, b, "c", "t", commit=CommitEveryTenth, auto_offset_reset="earliest")
    w.run(until=1000)
    t = w.trace.to_frame()
    assert c.commit_policy == "every_tenth"
    assert t[t.event == "commit"].offset.tolist() == [10, 20, 30]


def one_partition(n=100, seed=1):
    w = sk.World(seed=seed)
    b = sk.Broker(w)
    b.create_topic("t", 1)
    p = sk.Producer(w, b)
    for i in range(n):
        p.send("t", msg_id=i)
    return w, b


def storing(record, ctx):
    ctx.record("side_effect", record)
    ctx.store_offsets(record)


def crash_mid_batch(commit, handler):
    """10 ms a record, auto commit every 100 ms, one crash at 255 ms while the batch is half done."""
    w, b = one_partition()
    c = sk.Consumer(w, b, "c", "t", handler, commit=commit, processing_time=10, auto_commit_interval=100,
                    max_poll_records=50, auto_offset_reset="earliest", session_timeout=50, restart_delay=10)
    c.crash_at(255)
    w.run(until=5000)
    t = w.trace.to_frame()
    return sk.checks.lost(t, delivered="side_effect"), sk.checks.duplicates(t, "side_effect"), t


def test_store_offsets_loses_nothing_where_auto_loses_what_the_timer_committed_early():
    def effect(record, ctx):
        ctx.record("side_effect", record)

    lost, dup, _ = crash_mid_batch("auto", effect)
    assert lost.count > 0
    # the batch of 50 was stored at hand-over and committed at 100 and 200 ms; 25 were done at 255 ms
    assert lost.count == 50 - 25
    lost, dup, t = crash_mid_batch("store_offsets", storing)
    assert lost.count == 0
    # what was done after the last timer commit before the crash comes again, and nothing else
    committed = t[(t.event == "commit") & (t.time < 255)].offset.max()
    assert 0 < dup.count == 25 - committed
    assert (t.event == "store_offset").sum() >= 100


def test_store_offsets_commits_only_what_the_application_stored():
    w, b = one_partition(10)

    def store_the_even_ones(record, ctx):
        if record.offset % 2 == 0:
            ctx.store_offsets(record)

    sk.Consumer(w, b, "c", "t", store_the_even_ones, commit="store_offsets", auto_commit_interval=100,
                auto_offset_reset="earliest")
    w.run(until=1000)
    t = w.trace.to_frame()
    assert t[t.event == "commit"].offset.tolist() == [9]  # after offset 8, the last one stored


def test_storing_offsets_under_an_automatic_store_policy_is_a_config_error():
    w, b = one_partition(1)
    c = sk.Consumer(w, b, "c", "t", commit="auto", auto_offset_reset="earliest")
    w.run(until=10)
    rec = b.log_of("t", 0).records[0]
    with pytest.raises(sk.ConfigError, match="store_offsets"):
        c.store_offsets(rec)
    with pytest.raises(sk.ConfigError, match="store_offsets"):
        c.store_offsets(rec, offsets={("t", 0): 1})


def simkit_killed_run(policy, *, records=300, kills=3, seed=1):
    """simkit's run of :func:`realclient.killed_consumer_run`: the same records, work, batches and kills.

    Each kill strikes 100 to 600 ms after the incarnation handled its first record; the
    process is back 400 ms later (a Python process starting), and the dead member leaves
    the group after the 3000 ms session timeout, as the real consumer's does.
    """
    w = sk.World(seed=seed)
    b = sk.Broker(w)
    b.create_topic("work", 1)
    p = sk.Producer(w, b)
    for i in range(records):
        p.send("work", msg_id=i)
    first = {}

    def work(record, ctx):
        ctx.record("side_effect", record)
        first.setdefault(c.incarnation, ctx.now)
        if policy == "store_offsets":
            ctx.store_offsets(record)

    c = sk.Consumer(w, b, "c", "work", work, commit=policy, processing_time=10, max_poll_records=20,
                    auto_commit_interval=100, session_timeout=3000, restart_delay=400, auto_offset_reset="earliest")
    rng = w.rng("test/kills")

    def killer():
        for incarnation in range(1, kills + 1):
            while incarnation not in first:  # the next incarnation has handled its first record
                yield w.env.timeout(1)
            yield w.env.timeout(100 + 500 * rng.random())
            c.crash("kill")

    w.env.process(killer())
    w.run(until=120_000)
    t = w.trace.to_frame()
    assert (t.event == "crash").sum() == kills
    return sk.checks.lost(t, delivered="side_effect").count, sk.checks.duplicates(t, "side_effect").count


@pytest.mark.realclient
@pytest.mark.slow
@pytest.mark.parametrize("policy", ["auto", "before_processing", "after_processing", "store_offsets"])
def test_killing_a_real_consumer_loses_and_repeats_as_simkit_says(policy):
    # What is compared: records never handled and handlings repeated, per SIGKILL of a real
    # confluent-kafka consumer process (3 kills, 300 records of 10 ms, polls of 20, auto commit every
    # 100 ms) and of simkit's consumer at the same settings. The real kill instants follow the wall
    # clock, so the counts are compared by direction (who loses, who repeats) and order of magnitude.
    from realclient import killed_consumer_run

    kills = 3
    real_lost, real_repeated = killed_consumer_run(policy, kills=kills)
    runs = [simkit_killed_run(policy, kills=kills, seed=seed) for seed in range(1, 6)]
    sim_lost = sum(lost for lost, _ in runs) / len(runs)
    sim_repeated = sum(repeated for _, repeated in runs) / len(runs)
    if policy in ("after_processing", "store_offsets"):
        assert real_lost == sim_lost == 0
    else:
        assert real_lost > 0 and sim_lost > 0
        assert 0.2 < real_lost / sim_lost < 5
    if policy == "before_processing":
        assert real_repeated == sim_repeated == 0
    if policy == "after_processing":
        assert real_repeated <= kills and sim_repeated <= kills  # at most the record in hand, per kill
    if policy == "store_offsets":
        assert real_repeated > 0 and sim_repeated > 0  # what was done since the last timer commit
        assert 0.2 < real_repeated / sim_repeated < 5


def run_under_kills(policy, seed, kill_rate, consumers, partitions, client=None, messages=80):
    w = sk.World(seed=seed)
    b = sk.Broker(w)
    b.create_topic("t", partitions)
    p = sk.Producer(w, b)
    handler = storing if policy == "store_offsets" else (lambda record, ctx: ctx.record("side_effect", record))
    for i in range(consumers):
        sk.Consumer(w, b, f"c{i}", "t", handler, group="g", client=client, commit=policy,
                    processing_time=sk.exponential(5),
                    max_poll_records=10, auto_commit_interval=30, session_timeout=50, restart_delay=20,
                    auto_offset_reset="earliest", kill_rate=kill_rate)
    rng = w.rng("arrivals")

    def source():
        for i in range(messages):
            p.send("t", key=f"k{i}", msg_id=i)
            yield w.env.timeout(rng.expovariate(0.1))

    w.env.process(source())
    w.run(until=60_000)
    return w.trace.to_frame()


@given(seed=st.integers(0, 10**6), kill_rate=st.floats(0.5, 5), topology=st.sampled_from([(1, 1), (2, 2), (2, 3)]),
       policy=st.sampled_from(["after_processing", "store_offsets", "auto_on_poll", "before_processing"]),
       client=st.sampled_from([None, "java", "librdkafka"]))
def test_under_kills_at_random_instants_each_policy_keeps_its_promise(seed, kill_rate, topology, policy, client):
    consumers, partitions = topology
    t = run_under_kills(policy, seed, kill_rate, consumers, partitions, client)
    assert (t.event == "crash").sum() >= 5  # the kills asked for really struck
    lost = sk.checks.lost(t, delivered="side_effect").count
    repeated = sk.checks.duplicates(t, "side_effect").count
    if policy == "before_processing":
        assert repeated == 0  # at most once
    else:
        assert lost == 0  # at least once (auto_on_poll: while each batch is handled before the next poll)
