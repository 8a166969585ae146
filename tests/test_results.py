"""A Report is plain, read-only numbers; a RunResult carries the trace, report, params, checks and series."""

import pytest

import simkit as sk


def test_a_report_reads_as_a_mapping_and_as_attributes_and_is_read_only():
    r = sk.Report(lost=0, duplicates=3, latency_p99=1.5)
    assert r["duplicates"] == r.duplicates == 3 and dict(r) == r.to_dict()
    with pytest.raises(AttributeError):
        r.lost = 1
    with pytest.raises(AttributeError, match="no field 'losst'"):
        r.losst


def test_a_report_holds_only_plain_numbers():
    with pytest.raises(TypeError):
        sk.Report(lost=True)
    with pytest.raises(TypeError):
        sk.Report(lost="3")


def test_a_run_result_shows_its_trace_as_a_dataframe():
    run = sk.scenarios.publish("dual_write", messages=5, seed=1)
    assert list(run.trace.columns) == list(sk.COLUMNS) and run.params["messages"] == 5
    assert "publish" in repr(run) and run.seed == 1


def test_a_result_without_a_trace_says_so():
    bare = sk.RunResult("x", 0, {}, sk.Report(lost=0))
    with pytest.raises(AttributeError, match="no trace"):
        bare.trace
