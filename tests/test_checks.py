"""Checkers are pure functions of a trace: here, hand-written traces with known anomalies."""

import pandas as pd
import pytest

import simkit as sk
from simkit import checks


def trace(rows):
    t = sk.Trace()
    for row in rows:
        t.record(*row)
    return t.to_frame()


SEND = [(i, "producer", "send", "t", 0, -1, k, m) for i, (k, m) in enumerate(
    [("u1", "a"), ("u1", "b"), ("u2", "c"), ("u1", "d")])]


def test_lost_names_the_missing_messages():
    t = trace(SEND + [(10, "c", "processed", "t", 0, 0, "u1", "a"), (11, "c", "processed", "t", 0, 2, "u2", "c")])
    lost = checks.lost(t)
    assert (lost.count, lost.examples, lost.valid) == (2, ("b", "d"), False)


def test_duplicates_counts_messages_and_extra_executions():
    t = trace(SEND + [(10 + i, "c", "processed", "t", 0, 0, "u1", m) for i, m in enumerate("aabaaa")])
    dup = checks.duplicates(t)
    assert dup.count == 1 and dup.examples == ("a",) and "4 extra" in dup.detail


def test_out_of_order_counts_per_key_inversions_on_first_delivery():
    # u1 sent a, b, d; handled b, a, d, then a again (a redelivery is not an inversion)
    rows = [(10, "c", "processed", "t", 0, 1, "u1", "b"), (11, "c", "processed", "t", 0, 0, "u1", "a"),
            (12, "c", "processed", "t", 0, 2, "u2", "c"), (13, "c", "processed", "t", 0, 3, "u1", "d"),
            (14, "c", "processed", "t", 0, 0, "u1", "a")]
    ooo = checks.out_of_order(trace(SEND + rows))
    assert ooo.count == 1 and ooo.examples == ("a",)


def test_latencies_from_first_send_to_first_processed():
    rows = [(5, "c", "processed", "t", 0, 0, "u1", "a"), (9, "c", "processed", "t", 0, 0, "u1", "a")]
    lat = checks.latencies(trace(SEND + rows))
    assert lat.to_dict() == {"a": 5.0}


def test_lag_committed_and_processed():
    rows = [(1, "b", "append", "t", 0, 0, None, "a"), (2, "b", "append", "t", 0, 1, None, "b"),
            (3, "c", "processed", "t", 0, 0, None, "a"), (4, "c", "commit", "t", 0, 1, None, None),
            (5, "c", "processed", "t", 0, 1, None, "b"), (6, "c", "commit", "t", 0, 2, None, None)]
    t = trace(rows)
    by_commit = checks.lag(t, "t", by="committed")
    assert by_commit.lag.tolist() == [1, 2, 1, 0] and by_commit.time.tolist() == [1, 2, 4, 6]
    by_work = checks.lag(t, "t", by="processed")
    assert by_work.lag.tolist() == [1, 2, 1, 0]
    sampled = checks.lag(t, "t", by="committed", every=2.0)
    assert sampled.time.tolist() == [0, 2, 4, 6] and sampled.lag.tolist() == [0, 2, 1, 0]
    with pytest.raises(sk.ConfigError, match="by"):
        checks.lag(t, by="offsets")


def test_an_empty_trace_is_valid_everywhere():
    t = trace([])
    assert checks.lost(t).valid and checks.duplicates(t).valid and checks.out_of_order(t).valid
    assert isinstance(checks.lag(t), pd.DataFrame)
