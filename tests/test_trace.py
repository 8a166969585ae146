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
