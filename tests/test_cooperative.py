"""KIP-429's cooperative sticky assignment and KIP-345's static members, checked against Kafka's own test cases."""

from collections import Counter

import pytest
from hypothesis import given
from hypothesis import strategies as st

import simkit as sk
from simkit.assignors import assign_cooperative_sticky as sticky

T = "topic"


def tps(*partitions, topic=T):
    return [(topic, p) for p in partitions]


# -- the assignor: Kafka's CooperativeStickyAssignorTest / AbstractStickyAssignorTest cases -----------------
def test_a_partition_claimed_by_two_members_goes_to_nobody_until_both_revoked_it_equal_shares():
    # CooperativeStickyAssignorTest.testAllConsumersHaveOwnedPartitionInvalidatedWhenClaimedByMultipleConsumers
    # InSameGenerationWithEqualPartitionsPerConsumer
    got = sticky(["consumer1", "consumer2", "consumer3"], {T: 3},
                 {"consumer1": tps(0, 1), "consumer2": tps(0, 2), "consumer3": []})
    assert got == {"consumer1": tps(1), "consumer2": tps(2), "consumer3": []}


def test_a_partition_claimed_by_two_members_goes_to_nobody_until_both_revoked_it_unequal_shares():
    # ...WithUnequalPartitionsPerConsumer: 4 partitions, consumer1 keeps 1 and takes the free 3
    got = sticky(["consumer1", "consumer2", "consumer3"], {T: 4},
                 {"consumer1": tps(0, 1), "consumer2": tps(0, 2), "consumer3": []})
    assert got == {"consumer1": tps(1, 3), "consumer2": tps(2), "consumer3": []}


def test_owners_keep_their_partitions_and_a_new_member_gets_the_unowned_one_at_once():
    # CooperativeStickyAssignorTest.testAssignorWithOldVersionSubscriptions (the owned partitions as given)
    got = sticky(["consumer1", "consumer2", "consumer3"], {T: 3}, {"consumer1": tps(0), "consumer2": tps(1)})
    assert got == {"consumer1": tps(0), "consumer2": tps(1), "consumer3": tps(2)}


def test_scaling_out_moves_a_partition_in_two_rounds_and_keeps_the_rest_where_it_was():
    # AbstractStickyAssignorTest.testAddRemoveConsumerOneTopic under the cooperative assignor
    first = sticky(["consumer1"], {T: 3})
    assert first == {"consumer1": tps(0, 1, 2)}
    round1 = sticky(["consumer1", "consumer2"], {T: 3}, first)
    assert round1 == {"consumer1": tps(0, 1), "consumer2": []}       # t2 is revoked, not yet handed over
    round2 = sticky(["consumer1", "consumer2"], {T: 3}, round1)
    assert round2 == {"consumer1": tps(0, 1), "consumer2": tps(2)}
    # consumer2 leaves: its partition goes back to consumer1 in one round (nobody live owns it)
    assert sticky(["consumer1"], {T: 3}, {"consumer1": tps(0, 1)}) == {"consumer1": tps(0, 1, 2)}


def test_a_fresh_group_is_dealt_out_in_partition_order():
    assert sticky(["c1", "c2", "c3"], {T: 6}) == {"c1": tps(0, 3), "c2": tps(1, 4), "c3": tps(2, 5)}


owned_st = st.integers(1, 6).flatmap(lambda n: st.tuples(
    st.just(n), st.integers(1, 20), st.lists(st.integers(0, n - 1), min_size=20, max_size=20)))


@given(owned_st)
def test_two_rounds_reach_a_balanced_assignment_and_nothing_moves_inside_one_round(case):
    members_n, partitions, owner_of = case
    members = [f"m{i}" for i in range(members_n)]
    owned = {m: [] for m in members}
    for p in range(partitions):
        owned[members[owner_of[p]]].append((T, p))
    rounds = 0
    while True:
        got = sticky(members, {T: partitions}, owned)
        flat = [tp for parts in got.values() for tp in parts]
        assert len(flat) == len(set(flat))
        # KIP-429: no partition is assigned to a new member in the round its old owner revokes it
        for m, parts in got.items():
            for tp in parts:
                assert not any(tp in owned[o] for o in members if o != m)
        revoked = any(set(owned[m]) - set(got[m]) for m in members)
        owned, rounds = got, rounds + 1
        if not revoked:
            break
        assert rounds <= 2
    counts = Counter(len(p) for p in owned.values())
    assert sorted(tps_ for parts in owned.values() for tps_ in parts) == tps(*range(partitions))
    assert max(counts) - min(counts) <= 1


# -- the group and its consumers ------------------------------------------------------------------------------
def setup(assignor, partitions=4):
    w = sk.World(seed=3)
    b = sk.Broker(w)
    b.create_topic("t", partitions)
    g = sk.ConsumerGroup(w, b, "g", assignor=assignor, session_timeout=300)
    return w, b, g


def feed(w, b, every=5, n=400):
    p = sk.Producer(w, b, "p", partitioner="key")

    def go():
        for i in range(n):
            yield w.env.timeout(every)
            p.send("t", value="v", key=f"k{i}", msg_id=i)
    w.env.process(go())


@pytest.mark.parametrize("assignor", ["range", "cooperative_sticky"])
def test_a_member_joining_the_group_gets_partitions_and_nothing_is_lost(assignor):
    w, b, g = setup(assignor)
    feed(w, b)
    for i, start in enumerate((0, 500)):
        sk.Consumer(w, b, f"c{i}", "t", lambda r, ctx: ctx.record("side_effect", r), group=g, start=start,
                    commit="after_processing", processing_time=2, max_poll_records=10)
    w.run(until=4000)
    t = w.trace.to_frame()
    assert sk.checks.lost(t, delivered="side_effect").count == 0
    assert g.assignment.get(next(m for m in g.members if m.startswith("c1")))  # the newcomer owns something


def test_cooperative_members_keep_consuming_while_the_group_rebalances_where_eager_ones_give_up_everything():
    for assignor in ("range", "cooperative_sticky"):
        w, b, g = setup(assignor)
        feed(w, b)
        # c0 owns all four partitions; c1 joins at 500 ms while c0 is inside a 200 ms batch
        for i, start in enumerate((0, 500)):
            sk.Consumer(w, b, f"c{i}", "t", None, group=g, commit="after_processing", processing_time=10,
                        max_poll_records=20, start=start)
        w.run(until=3000)
        t = w.trace.to_frame()
        revokes = t[(t.event == "revoke") & (t.component == "c0")].detail.tolist()
        assigns = t[(t.event == "assign") & (t.time >= 500)].time
        c0_work = t[(t.component == "c0") & (t.event == "process")].time
        if assignor == "range":
            # eager: it gave up all four at once, and one round settled it
            assert revokes == [str([("t", p) for p in range(4)])] and g.generation == 2
        else:
            # cooperative: it gave up only the two that moved, and kept working between the two rounds
            final = g.assignment[next(m for m in g.members if m.startswith("c1"))]
            assert revokes == [str(final)] and len(final) == 2 and g.generation == 3
            assert ((c0_work > assigns.min()) & (c0_work < assigns.max())).any()


def test_a_static_member_that_restarts_within_the_session_timeout_gets_its_partitions_back_without_a_rebalance():
    w, b, g = setup("range")
    feed(w, b)
    c0 = sk.Consumer(w, b, "c0", "t", None, group=g, commit="after_processing", processing_time=2,
                     group_instance_id="host-0", restart_delay=100)
    sk.Consumer(w, b, "c1", "t", None, group=g, commit="after_processing", processing_time=2,
                group_instance_id="host-1")
    w.run(until=500)
    before = (g.generation, sorted(g.assignment[c0.member_id]))
    c0.crash_at(600)
    w.run(until=2000)
    assert c0.member_id.endswith(".2")
    assert (g.generation, sorted(g.assignment[c0.member_id])) == before  # same generation, same partitions


def test_a_dynamic_member_that_restarts_rejoins_as_a_new_member_and_the_group_waits_for_the_old_session():
    w, b, g = setup("range")
    feed(w, b)
    c0 = sk.Consumer(w, b, "c0", "t", None, group=g, commit="after_processing", processing_time=2,
                     restart_delay=100)
    sk.Consumer(w, b, "c1", "t", None, group=g, commit="after_processing", processing_time=2)
    w.run(until=500)
    gen = g.generation
    c0.crash_at(600)
    w.run(until=2000)
    # the restart at 700 ms starts a rebalance that waits for the dead member until its session ends at 900 ms
    assert g.generation == gen + 1
    t = w.trace.to_frame()
    assigned = t[(t.event == "assign") & (t.time > 600)].time
    assert assigned.min() == pytest.approx(900)


def test_a_static_member_that_stays_away_past_the_session_timeout_is_removed():
    w, b, g = setup("range")
    c0 = sk.Consumer(w, b, "c0", "t", None, group=g, group_instance_id="host-0", restart_delay=1000)
    sk.Consumer(w, b, "c1", "t", None, group=g, group_instance_id="host-1")
    w.run(until=100)
    gen = g.generation
    c0.crash_at(200)
    w.run(until=800)
    assert g.generation == gen + 1 and len(g.members) == 1


@pytest.mark.parametrize("bad", ["", 3, b"x"])
def test_group_instance_id_is_checked(bad):
    w, b, g = setup("range")
    with pytest.raises(sk.ConfigError) as err:
        sk.Consumer(w, b, "c0", "t", None, group=g, group_instance_id=bad)
    assert err.value.param == "group_instance_id"
