"""Replay: resetting a consumer group's offsets reprocesses the right records, with or without harm."""

from __future__ import annotations

import pytest

import simkit as sk
from simkit.scenarios.replay import DESIGNS, replay

SEEDS = range(3)


def _reset_time(r):
    t = r.trace
    return t.loc[(t.event == "seek") & (t.detail == "reset offsets"), "time"].iloc[0]


def _handled_again(r):
    """Messages handled after the reset that had been handled before it, straight from the processed rows."""
    t, at = r.trace, _reset_time(r)
    done = t[t.event == "processed"]
    return set(done.loc[done.time < at, "msg_id"]) & set(done.loc[done.time >= at, "msg_id"])


def _appended_before_reset(r):
    t, at = r.trace, _reset_time(r)
    app = t[(t.event == "append") & (t.time < at)][["msg_id", "partition", "offset"]]
    sent = t[t.event == "send"].set_index("msg_id")["time"]
    return app.assign(sent=app.msg_id.map(sent))


@pytest.mark.parametrize("seed", SEEDS)
def test_reset_to_earliest_reprocesses_every_record_the_group_had_read(seed):
    r = replay("idempotent", reset_to="earliest", seed=seed)
    before = set(_appended_before_reset(r).msg_id)
    assert _handled_again(r) == before
    assert r.report.reprocessed == len(before) > 0


@pytest.mark.parametrize("seed", SEEDS)
def test_reset_to_a_time_reprocesses_the_records_produced_since_then(seed):
    r = replay("idempotent", reset_to="time", reset_time=700, seed=seed)
    app = _appended_before_reset(r)
    # Kafka's offsetsForTimes goes by the record's timestamp, the time it was produced
    assert _handled_again(r) == set(app.loc[app.sent >= 700, "msg_id"])
    assert r.report.reprocessed == int((app.sent >= 700).sum()) > 0


@pytest.mark.parametrize("offset", [0, 15, 40])
def test_reset_to_an_offset_reprocesses_from_that_offset_in_every_partition(offset):
    r = replay("idempotent", reset_to=offset, seed=0)
    app = _appended_before_reset(r)
    assert _handled_again(r) == set(app.loc[app.offset >= offset, "msg_id"])


def test_reset_to_latest_reprocesses_nothing():
    r = replay("non_idempotent", reset_to="latest", seed=0)
    assert r.report.reprocessed == 0 == r.report.side_effects_repeated
    assert r.report.unrepaired == r.report.bug_handled > 0


@pytest.mark.parametrize("seed", SEEDS)
def test_a_non_idempotent_replay_repeats_its_side_effects_and_double_counts(seed):
    r = replay("non_idempotent", reset_to="earliest", seed=seed)
    assert r.report.side_effects_repeated == r.report.reprocessed > 0
    assert r.report.emails_sent == r.report.processed + r.report.reprocessed
    assert r.report.projection_correct == 0


@pytest.mark.parametrize("reset_to", ["earliest", "time"])
@pytest.mark.parametrize("seed", SEEDS)
def test_an_idempotent_replay_repeats_no_side_effect_and_repairs_the_projection(reset_to, seed):
    r = replay("idempotent", reset_to=reset_to, seed=seed)
    assert r.report.side_effects_repeated == 0
    assert r.report.emails_ignored == r.report.reprocessed > 0  # the provider recognised every repeat
    assert r.report.unrepaired == 0
    assert r.report.projection_correct == 1 and r.report.wrong_balances == 0


@pytest.mark.parametrize("reset_time", [700, 900, 1200])
def test_a_replay_that_starts_after_the_bug_repairs_only_what_it_reprocesses(reset_time):
    r = replay("idempotent", reset_to="time", reset_time=reset_time, seed=1)  # the bug went live at 600 ms
    t = r.trace
    assert r.report.unrepaired > 0
    done = t[t.event == "processed"]
    buggy = set(done.loc[done.component == "projection-v2", "msg_id"])
    unrepaired = buggy - set(done.loc[done.component == "projection-v3", "msg_id"])
    amounts = t[t.event == "payment_received"].set_index("msg_id")["detail"]
    unrepaired_refunds = [m for m in unrepaired if amounts[m] < 0]
    # a wrong balance remains exactly when a refund counted by the bug was not reprocessed
    assert r.report.projection_correct == int(not unrepaired_refunds)


def test_rebuilding_fixes_a_non_idempotent_projection_but_not_its_emails():
    r = replay("non_idempotent", reset_to="earliest", rebuild=True, seed=0)
    assert r.report.projection_correct == 1
    assert r.report.side_effects_repeated == r.report.reprocessed > 0
    partial = replay("non_idempotent", reset_to="time", rebuild=True, seed=0)
    assert partial.report.projection_correct == 0  # emptied, then only the recent part rebuilt


def test_deploys_alone_repeat_nothing():
    r = replay("non_idempotent", reset_to="latest", seed=2)
    assert sk.checks.duplicates(r.trace, "processed").count == 0


def test_replay_writes_only_documented_events_and_is_deterministic():
    for design in DESIGNS:
        a, b = replay(design, seed=5), replay(design, seed=5)
        assert set(a.trace.event) <= set(sk.EVENTS)
        assert a.trace.equals(b.trace)


@pytest.mark.parametrize("kwargs", [
    dict(design="exactly_once"), dict(reset_to="yesterday"), dict(reset_to=-1), dict(reset_to=True),
    dict(bug_at=800, fix_at=500), dict(rebuild="yes"), dict(refund_share=2), dict(reset_time=-3),
    dict(messages=0),
])
def test_bad_parameters_are_config_errors(kwargs):
    args = dict(design="idempotent") | kwargs
    with pytest.raises(sk.ConfigError):
        replay(**args)


def test_a_bad_processing_time_is_a_config_error_at_the_call_not_a_type_error_from_inside_simpy():
    with pytest.raises(sk.ConfigError, match="processing_time"):
        replay("idempotent", processing_time=-1)


def test_the_old_handler_kind_keyword_and_positional_order_still_work_and_warn():
    new = replay("idempotent", reset_to="time", messages=80, seed=3)
    with pytest.warns(DeprecationWarning, match="design="):
        by_keyword = replay(handler_kind="idempotent", reset_to="time", messages=80, seed=3)
    with pytest.warns(DeprecationWarning, match="reset_to="):
        positional = replay("idempotent", "time", 80, 3)
    assert new.report == by_keyword.report == positional.report
    assert new.params["design"] == "idempotent" and new.params["reset_time"] == new.params["bug_at"] > 0


def test_every_design_runs_under_compare():
    df = sk.compare("replay", DESIGNS, seeds=1, messages=60)
    assert list(df.design) == list(DESIGNS) and (df.produced == 60).all()

