"""Partitioning against Kafka's own reference values."""

import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

import simkit as sk
from simkit.partitioners import RoundRobinPartitioner, StickyPartitioner, resolve_partitioner, to_positive

# Apache Kafka, clients/src/test/java/org/apache/kafka/common/utils/UtilsTest.java, testMurmur2
KAFKA_MURMUR2 = {
    b"21": -973932308,
    b"foobar": -790332482,
    b"a-little-bit-long-string": -985981536,
    b"a-little-bit-longer-string": -1486304829,
    b"lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8": -58897971,
    bytes([ord("a"), ord("b"), ord("c")]): 479470107,
}


@pytest.mark.parametrize("key,expected", list(KAFKA_MURMUR2.items()))
def test_murmur2_matches_kafka_utils_test(key, expected):
    assert sk.murmur2(key) == expected


def test_partition_for_is_to_positive_murmur2_modulo():
    # Kafka's BuiltInPartitioner.partitionForKey: Utils.toPositive(Utils.murmur2(keyBytes)) % numPartitions
    for key, h in KAFKA_MURMUR2.items():
        for n in (1, 3, 12, 50):
            assert sk.partition_for(key, n) == (h & 0x7FFFFFFF) % n
    assert sk.partition_for(b"foobar", 50) == 16  # 1357151166 % 50


def test_str_keys_are_utf8_like_kafkas_string_serializer():
    assert sk.partition_for("foobar", 7) == sk.partition_for(b"foobar", 7)
    assert sk.partition_for("clé", 7) == sk.partition_for("clé".encode("utf-8"), 7)


def test_to_positive_clears_the_sign_bit_not_abs():
    assert to_positive(-2**31) == 0
    assert to_positive(-1) == 2**31 - 1


@given(st.binary(max_size=64), st.integers(1, 500))
def test_partition_in_range(key, n):
    assert 0 <= sk.partition_for(key, n) < n


def test_round_robin_cycles_and_ignores_keys():
    p = RoundRobinPartitioner()
    assert [p("same-key", 3) for _ in range(7)] == [0, 1, 2, 0, 1, 2, 0]


def test_sticky_stays_until_a_batch_is_sent_and_is_deterministic():
    def picks(seed):
        p = StickyPartitioner(random.Random(seed))
        out = []
        for _ in range(4):
            out.append([p(None, 5) for _ in range(3)])
            p.new_batch()
        return out

    a = picks(1)
    assert all(len(set(batch)) == 1 for batch in a)
    assert all(a[i][0] != a[i + 1][0] for i in range(3))
    assert a == picks(1)


def test_default_partitioner_uses_murmur2_for_keys():
    p = resolve_partitioner("key", random.Random(0))
    assert p("foobar", 50) == 16


def test_custom_partitioner_is_checked():
    p = resolve_partitioner(lambda key, n: n, random.Random(0))
    with pytest.raises(sk.ConfigError, match="partitioner"):
        p("k", 3)


@pytest.mark.parametrize("bad", ["hash", 3, None])
def test_unknown_partitioner_lists_known_ones(bad):
    with pytest.raises(sk.ConfigError, match="round_robin"):
        resolve_partitioner(bad, random.Random(0))


@pytest.mark.parametrize("key,n,param", [(1, 3, "key"), ("k", 0, "partitions"), ("k", True, "partitions")])
def test_partition_for_bad_input(key, n, param):
    with pytest.raises(sk.ConfigError, match=param):
        sk.partition_for(key, n)
