"""Assignors against Apache Kafka's own tests and javadoc examples, and their invariants.

Expected assignments are copied from (Apache Kafka):

* clients/src/test/java/org/apache/kafka/clients/consumer/RangeAssignorTest.java
* clients/src/test/java/org/apache/kafka/clients/consumer/RoundRobinAssignorTest.java
* the class javadoc of clients/src/main/java/org/apache/kafka/clients/consumer/RangeAssignor.java
  and RoundRobinAssignor.java

Only the cases simkit models are used: every member subscribes to every topic, no racks.
Cases with static members (group.instance.id) are used only where the instance ids sort
in the same order as the member ids, so the expected result is the same without them.
"""

from collections import Counter

import pytest
from hypothesis import given
from hypothesis import strategies as st

import simkit as sk
from simkit.assignors import (
    ASSIGNORS,
    assign_cooperative_sticky,
    assign_range,
    assign_round_robin,
    resolve_assignor,
)


def parse(kafka_style: str) -> list[tuple[str, int]]:
    """'t1-0, t1-1' (the strings AbstractPartitionAssignorTest.verifyRackAssignment compares) -> pairs."""
    if not kafka_style:
        return []
    out = []
    for item in kafka_style.split(", "):
        topic, part = item.rsplit("-", 1)
        out.append((topic, int(part)))
    return sorted(out)


def tps(*pairs: tuple[str, int]) -> list[tuple[str, int]]:
    return sorted(pairs)


# -- RangeAssignor ---------------------------------------------------------------------

RANGE_CASES = [
    # RangeAssignorTest.testOneConsumerNoTopic / testOneConsumerNonexistentTopic
    (["consumer1"], {}, {"consumer1": []}),
    # RangeAssignorTest.testOneConsumerOneTopic
    (["consumer1"], {"topic1": 3}, {"consumer1": tps(("topic1", 0), ("topic1", 1), ("topic1", 2))}),
    # RangeAssignorTest.testOneConsumerMultipleTopics (setupPartitionsPerTopicWithTwoTopics(1, 2))
    (["consumer1"], {"topic1": 1, "topic2": 2},
     {"consumer1": tps(("topic1", 0), ("topic2", 0), ("topic2", 1))}),
    # RangeAssignorTest.testTwoConsumersOneTopicOnePartition
    (["consumer1", "consumer2"], {"topic1": 1}, {"consumer1": [("topic1", 0)], "consumer2": []}),
    # RangeAssignorTest.testTwoConsumersOneTopicTwoPartitions
    (["consumer1", "consumer2"], {"topic1": 2}, {"consumer1": [("topic1", 0)], "consumer2": [("topic1", 1)]}),
    # RangeAssignorTest.testTwoConsumersTwoTopicsSixPartitions
    (["consumer1", "consumer2"], {"topic1": 3, "topic2": 3},
     {"consumer1": tps(("topic1", 0), ("topic1", 1), ("topic2", 0), ("topic2", 1)),
      "consumer2": tps(("topic1", 2), ("topic2", 2))}),
    # RangeAssignorTest.testStaticMemberRangeAssignmentPersistent (instance1..3 sort like consumer1..3)
    (["consumer1", "consumer2", "consumer3", "consumer4"], {"topic1": 5, "topic2": 4},
     {"consumer1": tps(("topic1", 0), ("topic1", 1), ("topic2", 0)),
      "consumer2": tps(("topic1", 2), ("topic2", 1)),
      "consumer3": tps(("topic1", 3), ("topic2", 2)),
      "consumer4": tps(("topic1", 4), ("topic2", 3))}),
    # ... and its second half: dynamic member 4 replaced by dynamic member 5
    (["consumer1", "consumer2", "consumer3", "consumer5"], {"topic1": 5, "topic2": 4},
     {"consumer1": tps(("topic1", 0), ("topic1", 1), ("topic2", 0)),
      "consumer2": tps(("topic1", 2), ("topic2", 1)),
      "consumer3": tps(("topic1", 3), ("topic2", 2)),
      "consumer5": tps(("topic1", 4), ("topic2", 3))}),
    # RangeAssignor javadoc: C0, C1; t0, t1 with 3 partitions each
    (["C0", "C1"], {"t0": 3, "t1": 3},
     {"C0": tps(("t0", 0), ("t0", 1), ("t1", 0), ("t1", 1)), "C1": tps(("t0", 2), ("t1", 2))}),
    # RangeAssignor javadoc: after a rolling bounce C0 -> C3, C1 -> C2, the order of ids flips
    (["C3", "C2"], {"t0": 3, "t1": 3},
     {"C2": tps(("t0", 0), ("t0", 1), ("t1", 0), ("t1", 1)), "C3": tps(("t0", 2), ("t1", 2))}),
]

# AbstractPartitionAssignorTest.verifyRackAssignment names the members consumer0, consumer1, ...
RANGE_NON_RACK_AWARE_CASES = [
    # RangeAssignorTest.testRackAwareAssignmentWithUniformSubscription (non-rack-aware expectation)
    ({"t1": 6, "t2": 7, "t3": 2},
     ["t1-0, t1-1, t2-0, t2-1, t2-2, t3-0", "t1-2, t1-3, t2-3, t2-4, t3-1", "t1-4, t1-5, t2-5, t2-6"]),
    # RangeAssignorTest.testRackAwareAssignmentWithUniformPartitions
    ({"t1": 5, "t2": 5, "t3": 5},
     ["t1-0, t1-1, t2-0, t2-1, t3-0, t3-1", "t1-2, t1-3, t2-2, t2-3, t3-2, t3-3", "t1-4, t2-4, t3-4"]),
    # RangeAssignorTest.testRackAwareAssignmentWithCoPartitioning (second part: all subscribe to all)
    ({"t1": 6, "t2": 6, "t3": 2, "t4": 2},
     ["t1-0, t1-1, t2-0, t2-1, t3-0, t4-0", "t1-2, t1-3, t2-2, t2-3, t3-1, t4-1", "t1-4, t2-4", "t1-5, t2-5"]),
    # RangeAssignorTest.testCoPartitionedAssignmentWithSameSubscription (t7..t9 do not exist)
    ({"t1": 6, "t2": 6, "t3": 2, "t4": 2, "t5": 4, "t6": 4},
     ["t1-0, t1-1, t2-0, t2-1, t3-0, t4-0, t5-0, t5-1, t6-0, t6-1",
      "t1-2, t1-3, t2-2, t2-3, t3-1, t4-1, t5-2, t6-2",
      "t1-4, t1-5, t2-4, t2-5, t5-3, t6-3"]),
]


@pytest.mark.parametrize("members,topics,expected", RANGE_CASES)
def test_range_matches_kafka(members, topics, expected):
    assert assign_range(members, topics) == expected


@pytest.mark.parametrize("topics,expected", RANGE_NON_RACK_AWARE_CASES)
def test_range_matches_kafka_non_rack_aware_expectations(topics, expected):
    members = [f"consumer{i}" for i in range(len(expected))]
    got = sk.assign_range(members, topics)
    assert got == {m: parse(s) for m, s in zip(members, expected)}


# -- RoundRobinAssignor ----------------------------------------------------------------

ROUND_ROBIN_CASES = [
    # RoundRobinAssignorTest.testOneConsumerNoTopic
    (["consumer"], {}, {"consumer": []}),
    # RoundRobinAssignorTest.testOneConsumerOneTopic
    (["consumer"], {"topic": 3}, {"consumer": tps(("topic", 0), ("topic", 1), ("topic", 2))}),
    # RoundRobinAssignorTest.testOneConsumerMultipleTopics
    (["consumer"], {"topic1": 1, "topic2": 2}, {"consumer": tps(("topic1", 0), ("topic2", 0), ("topic2", 1))}),
    # RoundRobinAssignorTest.testTwoConsumersOneTopicOnePartition
    (["consumer1", "consumer2"], {"topic": 1}, {"consumer1": [("topic", 0)], "consumer2": []}),
    # RoundRobinAssignorTest.testTwoConsumersOneTopicTwoPartitions
    (["consumer1", "consumer2"], {"topic": 2}, {"consumer1": [("topic", 0)], "consumer2": [("topic", 1)]}),
    # RoundRobinAssignorTest.testTwoDynamicConsumersTwoTopicsSixPartitions
    (["consumer1", "consumer2"], {"topic1": 3, "topic2": 3},
     {"consumer1": tps(("topic1", 0), ("topic1", 2), ("topic2", 1)),
      "consumer2": tps(("topic1", 1), ("topic2", 0), ("topic2", 2))}),
    # RoundRobinAssignorTest.testStaticMemberRoundRobinAssignmentPersistent (instances sort like ids)
    (["consumer1", "consumer2", "consumer3", "consumer4"], {"topic1": 3, "topic2": 3},
     {"consumer1": tps(("topic1", 0), ("topic2", 1)), "consumer2": tps(("topic1", 1), ("topic2", 2)),
      "consumer3": [("topic1", 2)], "consumer4": [("topic2", 0)]}),
    (["consumer1", "consumer2", "consumer3", "consumer5"], {"topic1": 3, "topic2": 3},
     {"consumer1": tps(("topic1", 0), ("topic2", 1)), "consumer2": tps(("topic1", 1), ("topic2", 2)),
      "consumer3": [("topic1", 2)], "consumer5": [("topic2", 0)]}),
    # RoundRobinAssignorTest.testStaticMemberRoundRobinAssignmentPersistentAfterMemberIdChanges
    # (expectedInstanceAssignment; instance1..3 belong to consumer1..3)
    (["consumer1", "consumer2", "consumer3"], {"topic1": 5, "topic2": 5},
     {"consumer1": tps(("topic1", 0), ("topic1", 3), ("topic2", 1), ("topic2", 4)),
      "consumer2": tps(("topic1", 1), ("topic1", 4), ("topic2", 2)),
      "consumer3": tps(("topic1", 2), ("topic2", 0), ("topic2", 3))}),
    # RoundRobinAssignor javadoc: C0, C1; t0, t1 with 3 partitions each
    (["C0", "C1"], {"t0": 3, "t1": 3},
     {"C0": tps(("t0", 0), ("t0", 2), ("t1", 1)), "C1": tps(("t0", 1), ("t1", 0), ("t1", 2))}),
    # RoundRobinAssignor javadoc: C0, C1, C2; t0, t1 with 3 partitions each
    (["C0", "C1", "C2"], {"t0": 3, "t1": 3},
     {"C0": tps(("t0", 0), ("t1", 0)), "C1": tps(("t0", 1), ("t1", 1)), "C2": tps(("t0", 2), ("t1", 2))}),
    # ... and after the rolling bounce C0 -> C5, C1 -> C3, C2 -> C4
    (["C5", "C3", "C4"], {"t0": 3, "t1": 3},
     {"C3": tps(("t0", 0), ("t1", 0)), "C4": tps(("t0", 1), ("t1", 1)), "C5": tps(("t0", 2), ("t1", 2))}),
]


@pytest.mark.parametrize("members,topics,expected", ROUND_ROBIN_CASES)
def test_round_robin_matches_kafka(members, topics, expected):
    assert assign_round_robin(members, topics) == expected


# -- shared behaviour ------------------------------------------------------------------

@pytest.mark.parametrize("assign", [assign_range, assign_round_robin])
def test_members_are_sorted_by_id_not_by_arrival(assign):
    topics = {"topic1": 3, "topic2": 3}
    assert assign(["consumer2", "consumer1"], topics) == assign(["consumer1", "consumer2"], topics)


def test_member_order_is_javas_string_order():
    # Java's String.compareTo compares UTF-16 code units: U+FF5E sorts after U+10000
    # (a surrogate pair starting 0xD800), the reverse of Python's code-point order.
    high_bmp, astral = "\uff5e", "\U00010000"
    got = assign_range([high_bmp, astral], {"t": 2})
    assert got[astral] == [("t", 0)] and got[high_bmp] == [("t", 1)]


@pytest.mark.parametrize("assign", [assign_range, assign_round_robin])
def test_more_members_than_partitions_leaves_members_idle(assign):
    got = assign(["a", "b", "c", "d"], {"t": 2})
    assert got == {"a": [("t", 0)], "b": [("t", 1)], "c": [], "d": []}


def test_no_members_no_assignment():
    assert assign_range([], {"t": 3}) == {}
    assert assign_round_robin([], {"t": 3}) == {}


members_st = st.lists(st.text("abcdefgh0123456789-", min_size=1, max_size=8), min_size=1, max_size=9, unique=True)
topics_st = st.dictionaries(st.text("xyz.", min_size=1, max_size=3), st.integers(1, 12), min_size=0, max_size=5)


@given(members_st, topics_st)
def test_every_partition_is_assigned_exactly_once(members, topics):
    for assign in (assign_range, assign_round_robin):
        got = assign(members, topics)
        assert set(got) == set(members)
        flat = [tp for parts in got.values() for tp in parts]
        assert Counter(flat) == Counter((t, p) for t, n in topics.items() for p in range(n))
        assert all(parts == sorted(parts) for parts in got.values())


@given(members_st, topics_st)
def test_round_robin_counts_differ_by_at_most_one(members, topics):
    # RoundRobinAssignor javadoc: with identical subscriptions "the partition ownership counts
    # will be within a delta of exactly one across all consumers".
    counts = [len(v) for v in assign_round_robin(members, topics).values()]
    assert max(counts) - min(counts) <= 1


@given(members_st, topics_st)
def test_range_is_balanced_per_topic_and_favours_the_first_members(members, topics):
    # RangeAssignor javadoc: per topic, partitions / consumers each, "the first few consumers
    # will have one extra partition"; ranges are contiguous.
    got = assign_range(members, topics)
    ordered = sorted(members)
    for topic, n in topics.items():
        per_member = [[p for t, p in got[m] if t == topic] for m in ordered]
        sizes = [len(ps) for ps in per_member]
        assert max(sizes) - min(sizes) <= 1
        assert sizes == sorted(sizes, reverse=True)
        assert [p for ps in per_member for p in ps] == list(range(n))


def test_range_can_be_unbalanced_across_topics():
    # Why round robin exists: 2 members, 4 topics of 1 partition -> the first gets all 4.
    topics = {f"t{i}": 1 for i in range(4)}
    assert [len(v) for v in assign_range(["a", "b"], topics).values()] == [4, 0]
    assert [len(v) for v in assign_round_robin(["a", "b"], topics).values()] == [2, 2]


# -- bad input -------------------------------------------------------------------------

@pytest.mark.parametrize("members,topics,param", [
    (["a", "a"], {"t": 1}, "members"),
    ([""], {"t": 1}, "members"),
    ([1], {"t": 1}, "members"),
    ("a", {"t": 1}, "members"),
    (None, {"t": 1}, "members"),
    (["a"], {"t": 0}, "topics"),
    (["a"], {"t": -1}, "topics"),
    (["a"], {"t": True}, "topics"),
    (["a"], {"t": 1.0}, "topics"),
    (["a"], {"": 1}, "topics"),
    (["a"], {3: 1}, "topics"),
    (["a"], [("t", 1)], "topics"),
])
@pytest.mark.parametrize("assign", [assign_range, assign_round_robin])
def test_bad_input_names_the_parameter(assign, members, topics, param):
    with pytest.raises(sk.ConfigError, match=param):
        assign(members, topics)


def test_resolve_assignor():
    assert ASSIGNORS == {"range": assign_range, "round_robin": assign_round_robin,
                         "cooperative_sticky": assign_cooperative_sticky}
    assert resolve_assignor("range") is assign_range
    assert resolve_assignor("round_robin") is assign_round_robin


@pytest.mark.parametrize("bad", ["sticky", "roundrobin", "", None, 3])
def test_unknown_assignor_lists_known_ones(bad):
    with pytest.raises(sk.ConfigError, match="assignor") as err:
        resolve_assignor(bad)
    assert "'range'" in str(err.value) and "'round_robin'" in str(err.value)


@pytest.mark.realclient
@pytest.mark.slow
@pytest.mark.parametrize("strategy,ours,members,topics", [
    ("range", assign_range, 2, ["orders"]),
    ("range", assign_range, 3, ["orders", "payments"]),
    ("roundrobin", assign_round_robin, 3, ["orders", "payments"]),
    ("roundrobin", assign_round_robin, 5, ["orders"]),
    # a group whose members all join in the first round: the sticky assignor deals from nothing owned
    ("cooperative-sticky", assign_cooperative_sticky, 2, ["orders"]),
    ("cooperative-sticky", assign_cooperative_sticky, 3, ["orders", "payments"]),
])
def test_assignors_give_what_librdkafkas_group_leader_gives(strategy, ours, members, topics):
    # librdkafka's rdkafka_range_assignor.c, rdkafka_roundrobin_assignor.c and rdkafka_sticky_assignor.c follow
    # the Java assignors; the member ids are the ones the mock cluster's coordinator handed out
    from realclient import MOCK_PARTITIONS, group_assignments

    theirs = group_assignments(strategy, members, topics)
    expected = ours(list(theirs), {t: MOCK_PARTITIONS for t in topics})
    assert theirs == expected
