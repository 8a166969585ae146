"""Partitioners against reference values published with Apache Kafka and with other Kafka clients.

Sources of the expected values (none are computed with simkit's own code):

* Apache Kafka, clients/src/test/java/org/apache/kafka/common/utils/UtilsTest.java, testMurmur2
* librdkafka (confluentinc/librdkafka), src/rdmurmur2.c, unittest_murmur2:
  ``java_murmur2_results``, hashes the Java client gives (written as hex int32)
* kafka-python (dpkp/kafka-python), test/test_partitioner.py, test_murmur2_java_compatibility:
  partitions out of 1000 "compared with output from Kafka's Partitioner"
* Apache Kafka, clients/src/test/java/org/apache/kafka/clients/producer/RoundRobinPartitionerTest.java,
  UniformStickyPartitionerTest.java and internals/BuiltInPartitionerTest.java for behaviour.
"""

import itertools
import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

import simkit as sk
from simkit.partitioners import (
    KeyPartitioner,
    RoundRobinPartitioner,
    StickyPartitioner,
    consistent_partition,
    murmur2,
    partition_for,
    resolve_partitioner,
    to_positive,
)

# Apache Kafka, clients/src/test/java/org/apache/kafka/common/utils/UtilsTest.java, testMurmur2
KAFKA_UTILS_TEST_MURMUR2 = {
    b"21": -973932308,
    b"foobar": -790332482,
    b"a-little-bit-long-string": -985981536,
    b"a-little-bit-longer-string": -1486304829,
    b"lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8": -58897971,
    bytes([ord("a"), ord("b"), ord("c")]): 479470107,
}


def _int32(x: int) -> int:
    """Read a C ``const int32_t`` hex literal as the signed value Java returns."""
    return x - (1 << 32) if x & 0x80000000 else x


# librdkafka, src/rdmurmur2.c, unittest_murmur2: keysToTest / java_murmur2_results.
# "1234"+1.. and "PreAmble..."+1.. are the same strings with leading characters dropped,
# so together they exercise every tail length (0, 1, 2 and 3 leftover bytes).
_UNALIGNED = b"PreAmbleWillBeRemoved,ThePrePartThatIs"
LIBRDKAFKA_JAVA_MURMUR2 = {
    b"kafka": _int32(0xD067CF64),
    b"giberish123456789": _int32(0x8F552B0C),
    b"1234": _int32(0x9FC97B14),
    b"234": _int32(0xE7C009CA),
    b"34": _int32(0x873930DA),
    b"4": _int32(0x5A4B5CA1),
    _UNALIGNED: _int32(0x78424F1C),
    _UNALIGNED[1:]: _int32(0x4A62B377),
    _UNALIGNED[2:]: _int32(0xE0E4E09E),
    _UNALIGNED[3:]: _int32(0x62B8B43F),
    b"": _int32(0x106E08D9),
}

# kafka-python, test/test_partitioner.py, test_murmur2_java_compatibility (1000 partitions)
KAFKA_PYTHON_PARTITIONS_OF_1000 = {
    b"": 681, b"a": 524, b"ab": 434, b"abc": 107, b"123456789": 566, b"\x00 ": 742,
}


@pytest.mark.parametrize("key,expected", list(KAFKA_UTILS_TEST_MURMUR2.items()))
def test_murmur2_matches_kafka_utils_test(key, expected):
    assert murmur2(key) == expected
    assert sk.murmur2(key) == expected


@pytest.mark.parametrize("key,expected", list(LIBRDKAFKA_JAVA_MURMUR2.items()))
def test_murmur2_matches_librdkafka_java_results(key, expected):
    assert murmur2(key) == expected


def test_murmur2_takes_bytes_bytearray_and_memoryview():
    for key, expected in KAFKA_UTILS_TEST_MURMUR2.items():
        assert murmur2(bytearray(key)) == expected
        assert murmur2(memoryview(key)) == expected


def test_murmur2_refuses_a_str():
    with pytest.raises(sk.ConfigError, match="data"):
        murmur2("foobar")


def _java_murmur2(data: bytes) -> int:
    """A literal transliteration of Kafka's Utils.murmur2 (Utils.java) in signed Java ints.

    Written separately from simkit's version (signed bytes masked with & 0xff, ``+`` not
    ``|``, ``>>>`` as an unsigned shift, wrap after every int operation) to cross-check it.
    """
    def i(x):  # wrap to a Java int
        x &= 0xFFFFFFFF
        return x - (1 << 32) if x >= 1 << 31 else x

    def ushr(x, n):  # Java's >>>
        return (x & 0xFFFFFFFF) >> n

    signed = [b - 256 if b > 127 else b for b in data]  # Java bytes are signed
    length = len(signed)
    m, r = i(0x5BD1E995), 24
    h = i(i(0x9747B28C) ^ length)
    for j in range(length // 4):
        i4 = j * 4
        k = i((signed[i4] & 0xFF) + ((signed[i4 + 1] & 0xFF) << 8)
              + ((signed[i4 + 2] & 0xFF) << 16) + ((signed[i4 + 3] & 0xFF) << 24))
        k = i(k * m)
        k = i(k ^ ushr(k, r))
        k = i(k * m)
        h = i(h * m)
        h = i(h ^ k)
    tail = length % 4
    base = length & ~3
    if tail == 3:
        h = i(h ^ ((signed[base + 2] & 0xFF) << 16))
    if tail >= 2:
        h = i(h ^ ((signed[base + 1] & 0xFF) << 8))
    if tail >= 1:
        h = i(h ^ (signed[base] & 0xFF))
        h = i(h * m)
    h = i(h ^ ushr(h, 13))
    h = i(h * m)
    h = i(h ^ ushr(h, 15))
    return h


def test_transliteration_agrees_with_the_published_vectors():
    for key, expected in {**KAFKA_UTILS_TEST_MURMUR2, **LIBRDKAFKA_JAVA_MURMUR2}.items():
        assert _java_murmur2(key) == expected


@given(st.binary(max_size=80))
def test_murmur2_matches_a_literal_java_transliteration(data):
    h = murmur2(data)
    assert h == _java_murmur2(data)
    assert -(2**31) <= h < 2**31


@pytest.mark.parametrize("key,expected", list(KAFKA_PYTHON_PARTITIONS_OF_1000.items()))
def test_partition_for_matches_kafka_python_java_compatibility(key, expected):
    assert partition_for(key, 1000) == expected


def test_partition_for_is_to_positive_murmur2_modulo():
    # BuiltInPartitioner.partitionForKey: Utils.toPositive(Utils.murmur2(keyBytes)) % numPartitions,
    # applied to the hashes published in UtilsTest.testMurmur2.
    for key, h in {**KAFKA_UTILS_TEST_MURMUR2, **LIBRDKAFKA_JAVA_MURMUR2}.items():
        for n in (1, 2, 3, 6, 12, 50, 1000):
            assert partition_for(key, n) == (h & 0x7FFFFFFF) % n
    # worked by hand: -790332482 & 0x7fffffff = 2**31 - 790332482 = 1357151166; % 50 = 16
    assert partition_for(b"foobar", 50) == 16
    assert sk.partition_for("foobar", 50) == 16


def test_str_keys_are_utf8_like_kafkas_string_serializer():
    # clients/src/main/java/org/apache/kafka/common/serialization/StringSerializer.java:
    # encoding defaults to StandardCharsets.UTF_8
    for key, h in KAFKA_UTILS_TEST_MURMUR2.items():
        assert partition_for(key.decode("ascii"), 7) == (h & 0x7FFFFFFF) % 7
    assert partition_for("clé", 7) == partition_for("clé".encode(), 7)
    assert partition_for("clé", 1000) == partition_for(b"cl\xc3\xa9", 1000)


def test_to_positive_clears_the_sign_bit_not_abs():
    # Utils.toPositive: number & 0x7fffffff
    assert to_positive(-(2**31)) == 0
    assert to_positive(-1) == 2**31 - 1
    assert to_positive(479470107) == 479470107
    assert to_positive(-790332482) == 1357151166


@given(st.binary(max_size=64), st.integers(1, 500))
def test_partition_in_range_and_stable(key, n):
    p = partition_for(key, n)
    assert 0 <= p < n
    assert p == partition_for(key, n)  # DefaultPartitionerTest.testKeyPartitionIsStable


@pytest.mark.parametrize("key,n,param", [
    (1, 3, "key"), (1.5, 3, "key"), (("a",), 3, "key"),
    ("k", 0, "partitions"), ("k", -2, "partitions"), ("k", True, "partitions"), ("k", "3", "partitions"),
])
def test_partition_for_bad_input(key, n, param):
    with pytest.raises(sk.ConfigError, match=param):
        partition_for(key, n)


def test_int_key_tells_the_learner_to_pass_str_or_bytes():
    with pytest.raises(sk.ConfigError) as err:
        partition_for(42, 3)
    assert err.value.param == "key"
    assert "str" in str(err.value) and "bytes" in str(err.value)


# -- round robin -----------------------------------------------------------------------

def test_round_robin_cycles_and_ignores_keys():
    p = RoundRobinPartitioner()
    assert p.name == "round_robin"
    assert [p("same-key", 3) for _ in range(7)] == [0, 1, 2, 0, 1, 2, 0]
    assert [p(None, 2) for _ in range(3)] == [1, 0, 1]  # counter 7, 8, 9


def test_round_robin_counts_per_topic_like_kafka():
    # RoundRobinPartitionerTest.testRoundRobinWithKeyBytes: topicA has 3 partitions, topicB 1;
    # sending to topicB every 5th record does not disturb topicA's even 10/10/10 split.
    p = RoundRobinPartitioner()
    counts = {0: 0, 1: 0, 2: 0}
    for i in range(30):
        counts[p(b"key", 3, topic="topicA")] += 1
        if i % 5 == 0:
            assert p(b"key", 1, topic="topicB") == 0
    assert counts == {0: 10, 1: 10, 2: 10}


# -- sticky ----------------------------------------------------------------------------

def _sticky_runs(seed, batches=6, per_batch=4, partitions=5):
    p = StickyPartitioner(random.Random(seed))
    runs = []
    for _ in range(batches):
        runs.append([p(None, partitions) for _ in range(per_batch)])
        p.new_batch()
    return runs


def test_sticky_stays_until_a_batch_is_sent_then_moves_to_another_partition():
    runs = _sticky_runs(1)
    assert all(len(set(run)) == 1 for run in runs)
    firsts = [run[0] for run in runs]
    # StickyPartitionCache.nextPartition redraws until newPart != oldPart
    assert all(a != b for a, b in itertools.pairwise(firsts))


def test_sticky_is_deterministic_given_a_seeded_rng_and_leaves_global_random_alone():
    state = random.getstate()
    assert _sticky_runs(7) == _sticky_runs(7)
    assert random.getstate() == state
    assert len({str(_sticky_runs(seed, batches=10)) for seed in range(5)}) > 1


def test_sticky_ignores_keys_and_keeps_one_partition_per_topic():
    # UniformStickyPartitionerTest.testRoundRobinWithKeyBytes: the key is ignored, topics are
    # sticky independently, and a new batch on topic A switches A only.
    p = StickyPartitioner(random.Random(3))
    counts: dict[int, int] = {}
    part = None
    for i in range(30):
        part = p(b"key", 3, topic="TOPIC_A")
        counts[part] = counts.get(part, 0) + 1
        if i % 5 == 0:
            assert p(b"key", 1, topic="TOPIC_B") == 0
    old = part
    p.new_batch("TOPIC_A")
    p.new_batch("TOPIC_B")
    for i in range(60):
        part = p(b"key", 3, topic="TOPIC_A")
        counts[part] = counts.get(part, 0) + 1
        if i % 5 == 0:
            assert p(b"key", 1, topic="TOPIC_B") == 0  # one partition: nowhere else to go
    assert part != old
    assert counts == {old: 30, part: 60}


def test_sticky_with_one_partition_stays_on_it():
    # BuiltInPartitionerTest.testStickyPartitioning: "switching works even when there is one partition"
    p = StickyPartitioner(random.Random(0))
    for _ in range(10):
        assert p(None, 1) == 0
        p.new_batch()


def test_sticky_needs_an_injected_rng():
    with pytest.raises(sk.ConfigError, match="rng"):
        StickyPartitioner(None)  # type: ignore[arg-type]
    with pytest.raises(sk.ConfigError, match="rng"):
        resolve_partitioner("sticky", 42)  # type: ignore[arg-type]


# -- the default (key) partitioner -----------------------------------------------------

def test_default_partitioner_hashes_keys_and_sticks_keyless_records():
    p = resolve_partitioner("key", random.Random(0))
    assert isinstance(p, KeyPartitioner) and p.name == "key"
    assert p("foobar", 50) == 16
    for key, expected in KAFKA_PYTHON_PARTITIONS_OF_1000.items():
        assert p(key, 1000) == expected  # b"" is a key too, hashed like any other
    first = p(None, 4)
    assert [p(None, 4) for _ in range(5)] == [first] * 5
    p.new_batch()
    assert p(None, 4) != first
    assert isinstance(resolve_partitioner("default", random.Random(0)), KeyPartitioner)


def test_default_partitioner_refuses_int_keys():
    with pytest.raises(sk.ConfigError, match="key"):
        KeyPartitioner(random.Random(0))(7, 3)


# -- resolving and custom partitioners -------------------------------------------------

def test_resolve_known_names():
    rng = random.Random(0)
    assert isinstance(resolve_partitioner("round_robin", rng), RoundRobinPartitioner)
    sticky = resolve_partitioner("sticky", rng)
    assert isinstance(sticky, StickyPartitioner) and not isinstance(sticky, KeyPartitioner)
    assert sticky.name == "sticky"
    built = RoundRobinPartitioner()
    assert resolve_partitioner(built, rng) is built


@pytest.mark.parametrize("bad", ["hash", "Key", "", 3, None])
def test_unknown_partitioner_lists_known_ones(bad):
    with pytest.raises(sk.ConfigError) as err:
        resolve_partitioner(bad, random.Random(0))
    assert err.value.param == "partitioner"
    for name in ("key", "default", "round_robin", "sticky"):
        assert repr(name) in str(err.value)


def test_custom_partitioner_is_used():
    def first_letter(key, partitions):
        return ord(key[0]) % partitions

    p = resolve_partitioner(first_letter, random.Random(0))
    assert p.name == "first_letter"
    assert p("a", 4) == 97 % 4


@pytest.mark.parametrize("answer", [3, -1, 99, "1", 1.0, None, True])
def test_custom_partitioner_answers_are_checked(answer):
    def hot_key(key, partitions):
        return answer

    p = resolve_partitioner(hot_key, random.Random(0))
    with pytest.raises(sk.ConfigError, match="hot_key") as err:
        p("k", 3)
    assert "partitioner" in str(err.value) and "0 to 2" in str(err.value)


def test_custom_lambda_is_named_in_the_error():
    p = resolve_partitioner(lambda key, n: n, random.Random(0))
    with pytest.raises(sk.ConfigError, match="partitioner <lambda>"):
        p("k", 3)


# -- librdkafka's consistent_random, and both partitioners checked against the real client -----------

def test_consistent_partition_is_crc32_of_the_key_bytes():
    # CRC-32 check value of the ASCII digits 1..9 is 0xCBF43926 (the catalogue value of CRC-32/ISO-HDLC)
    assert consistent_partition(b"123456789", 2**31) == 0xCBF43926 % 2**31
    assert consistent_partition("123456789", 7) == 0xCBF43926 % 7
    assert consistent_partition("é", 100) == consistent_partition("é".encode("utf-8"), 100)


def test_consistent_random_puts_empty_and_missing_keys_on_the_sticky_partition():
    p = resolve_partitioner("consistent_random", random.Random(3))
    sticky = p(None, 6)
    assert p(b"", 6) == p("", 6) == sticky  # librdkafka: empty keys are treated as no key
    p.new_batch()
    assert p(None, 6) != sticky
    assert p(b"k", 6) == consistent_partition(b"k", 6)


def test_murmur2_random_is_the_java_placement_and_hashes_an_empty_key():
    p = resolve_partitioner("murmur2_random", random.Random(3))
    assert p(b"", 6) == partition_for(b"", 6)
    assert p("user-1", 12) == partition_for("user-1", 12)


def generated_keys(n=3000, seed=11):
    """ASCII, non-ASCII and binary keys of 1 to 40 bytes, as bytes."""
    rng = random.Random(seed)
    keys = []
    for i in range(n):
        kind = i % 3
        if kind == 0:
            keys.append(f"user-{rng.randrange(10**9)}".encode())
        elif kind == 1:
            keys.append("".join(chr(rng.choice([rng.randrange(32, 127), rng.randrange(0xA0, 0x3000)]))
                                for _ in range(rng.randrange(1, 12))).encode("utf-8"))
        else:
            keys.append(bytes(rng.randrange(256) for _ in range(rng.randrange(1, 40))))
    return keys


@pytest.mark.realclient
@pytest.mark.parametrize("name,ours", [("consistent_random", consistent_partition), ("murmur2_random", partition_for)])
def test_partitioners_choose_what_librdkafka_chooses_on_thousands_of_keys(name, ours):
    from realclient import MOCK_PARTITIONS, partitions_chosen

    keys = generated_keys()
    chosen = partitions_chosen(name, keys)
    assert len(chosen) == len(set(keys))
    mismatched = [k for k in keys if chosen[k] != ours(k, MOCK_PARTITIONS)]
    assert mismatched == []


@pytest.mark.realclient
def test_confluent_kafkas_default_partitioner_disagrees_with_the_java_one():
    from realclient import MOCK_PARTITIONS, partitions_chosen

    keys = generated_keys(600, seed=5)
    chosen = partitions_chosen("consistent_random", keys)
    java = sum(chosen[k] == partition_for(k, MOCK_PARTITIONS) for k in keys)
    assert java < 0.4 * len(keys)  # by chance about one in four agree, as with any two hashes
