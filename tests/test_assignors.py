"""Assignors against Kafka's own tests, and their invariants."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

import simkit as sk


def test_range_two_consumers_two_topics_six_partitions():
    # clients/src/test/java/org/apache/kafka/clients/consumer/RangeAssignorTest.java
    # testTwoConsumersTwoTopicsSixPartitions
    got = sk.assign_range(["consumer1", "consumer2"], {"topic1": 3, "topic2": 3})
    assert got == {
        "consumer1": [("topic1", 0), ("topic1", 1), ("topic2", 0), ("topic2", 1)],
        "consumer2": [("topic1", 2), ("topic2", 2)],
    }


def test_round_robin_two_consumers_two_topics_six_partitions():
    # clients/src/test/java/org/apache/kafka/clients/consumer/RoundRobinAssignorTest.java
    # testTwoConsumersTwoTopicsSixPartitions
    got = sk.assign_round_robin(["consumer1", "consumer2"], {"topic1": 3, "topic2": 3})
    assert got == {
        "consumer1": [("topic1", 0), ("topic1", 2), ("topic2", 1)],
        "consumer2": [("topic1", 1), ("topic2", 0), ("topic2", 2)],
    }


def test_members_are_sorted_by_id_as_kafka_does():
    # the order the members are given in does not matter, only their sorted ids
    a = sk.assign_range(["consumer2", "consumer1"], {"t": 3})
    assert a["consumer1"] == [("t", 0), ("t", 1)] and a["consumer2"] == [("t", 2)]


def test_more_members_than_partitions_leaves_members_idle():
    got = sk.assign_range(["a", "b", "c"], {"t": 2})
    assert got == {"a": [("t", 0)], "b": [("t", 1)], "c": []}


members_st = st.lists(st.text("abcdefgh0123456789-", min_size=1, max_size=8), min_size=1, max_size=8, unique=True)
topics_st = st.dictionaries(st.text("xyz", min_size=1, max_size=3), st.integers(1, 12), min_size=1, max_size=4)


@given(members_st, topics_st)
def test_every_partition_is_assigned_exactly_once(members, topics):
    for assign in (sk.assign_range, sk.assign_round_robin):
        got = assign(members, topics)
        assert set(got) == set(members)
        flat = [tp for parts in got.values() for tp in parts]
        assert sorted(flat) == sorted((t, p) for t, n in topics.items() for p in range(n))
        assert all(parts == sorted(parts) for parts in got.values())


@given(members_st, topics_st)
def test_round_robin_is_balanced_within_one(members, topics):
    counts = [len(v) for v in sk.assign_round_robin(members, topics).values()]
    assert max(counts) - min(counts) <= 1


@pytest.mark.parametrize("members,topics,param", [
    (["a", "a"], {"t": 1}, "members"), ([""], {"t": 1}, "members"), (["a"], {"t": 0}, "topics"),
    ("a", {"t": 1}, "members"),
])
def test_bad_input(members, topics, param):
    with pytest.raises(sk.ConfigError, match=param):
        sk.assign_range(members, topics)


def test_unknown_assignor_lists_known_ones():
    from simkit.assignors import resolve_assignor
    with pytest.raises(sk.ConfigError, match="round_robin"):
        resolve_assignor("sticky")
