"""The trace: rows in, a DataFrame with the documented columns out, names as categoricals."""

import pandas as pd

import simkit as sk


def test_rows_come_out_in_order_with_the_documented_columns():
    trace = sk.Trace()
    trace.record(1.5, "producer", "send", "t", 0, -1, "k", "m1")
    trace.record(2.0, "broker", "append", "t", 0, 0, "k", "m1", detail="x")
    frame = trace.to_frame()
    assert list(frame.columns) == list(sk.COLUMNS) and len(trace) == 2
    assert list(frame.event) == ["send", "append"] and list(frame.offset) == [-1, 0]
    assert frame.loc[1, "detail"] == "x" and pd.isna(frame.loc[0, "detail"])


def test_names_are_categoricals_and_none_stays_missing():
    trace = sk.Trace()
    trace.record(0.0, "c", "crash")
    frame = trace.to_frame()
    assert isinstance(frame["component"].dtype, pd.CategoricalDtype) and pd.isna(frame.loc[0, "topic"])


def test_the_frame_follows_new_rows():
    trace = sk.Trace()
    trace.record(0.0, "a", "send")
    assert len(trace.to_frame()) == 1
    trace.record(1.0, "a", "send")
    assert len(trace.to_frame()) == 2


def test_every_core_event_is_explained():
    for name, meaning in sk.EVENTS.items():
        assert isinstance(meaning, str) and len(meaning) > 10, name


def test_compact_columns_give_back_exactly_what_was_recorded():
    trace = sk.Trace()
    trace.record(0.5, "p", "send", "t", 40_000, 2**31 - 1, ("user", 1), 7)  # a partition past 2 bytes
    trace.record(1.0, "p", "send", "t", 1, -1, None, None, detail=3)
    trace.record(2.0, "p", "send", None, -1, -1, None, 8, detail=[1, 2])  # an unhashable detail
    trace.record(3.0, "q", "fetch", None, -1, -1, None, "m-9", detail=True)  # ids turn into objects
    frame = trace.to_frame()
    assert frame.partition.tolist() == [40_000, 1, -1, -1] and frame.offset[0] == 2**31 - 1
    assert frame.msg_id.tolist() == [7, None, 8, "m-9"] and frame.key[0] == ("user", 1)
    assert frame.detail.tolist() == [None, 3, [1, 2], True] and frame.topic.tolist()[:2] == ["t", "t"]
    assert pd.isna(frame.topic[2]) and list(frame.component.cat.categories) == ["p", "q"]


def test_columns_read_a_trace_and_its_frame_alike():
    trace = sk.Trace()
    for i in range(6):
        trace.record(float(i), "p", "send" if i % 2 else "append", "t", i % 3, i, None, i if i != 3 else None)
    for source in (trace, trace.to_frame()):
        ids, times, parts = sk.trace.columns(source, ("msg_id", "time", "partition"), "send", with_id=True)
        assert ids.tolist() == [1, 5] and times.tolist() == [1.0, 5.0] and parts.tolist() == [1, 2]
        (comp,) = sk.trace.columns(source, ("component",), ["append"])
        assert comp.tolist() == ["p"] * 3


def test_a_column_comes_out_as_a_plain_list_with_missing_ids_as_none():
    trace = sk.Trace()
    trace.record(0.0, "producer", "send", "t", 0, -1, "k", 7)
    trace.record(1.0, "consumer", "crash")
    assert trace.column("msg_id") == [7, None] and trace.column("event") == ["send", "crash"]
    assert trace.column("topic") == ["t", None] and trace.column("time") == [0.0, 1.0]
