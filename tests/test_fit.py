"""Lesson 18's parts: the add_consumer scenario (a team added later) and the when-do-events-fit checklist."""

from __future__ import annotations

import itertools
import math

import matplotlib
import numpy as np
import pytest

import simkit as sk
from simkit.scenarios.add_consumer import NEW_TEAM, behind_series

matplotlib.use("Agg")

SEEDS = range(6)
OUTAGE = (4000, 1000)


def run(design, seed=0, **kw):
    return sk.scenarios.add_consumer(design, seed=seed, **kw)


# -- the scenario: events ------------------------------------------------------------------------
@pytest.mark.parametrize("seed", SEEDS)
def test_with_events_the_new_group_needs_no_producer_change_and_handles_every_sign_up(seed):
    r = run("events", seed).report
    assert r.producer_changes == 0 and r.failed_calls == 0
    assert r.new_reader_handled == r.requests == 600 and r.new_reader_missed == 0


@pytest.mark.parametrize("seed", SEEDS)
def test_with_events_the_new_group_starts_at_offset_0_of_every_partition(seed):
    res = run("events", seed)
    t = res.trace
    first = t[(t.component == NEW_TEAM) & (t.event == "process")].groupby("partition")["offset"].min()
    assert len(first) == res.params["partitions"] and (first == 0).all()
    assert t[(t.component == NEW_TEAM)].time.min() >= res.params["joins_at"]


@pytest.mark.parametrize("seed", SEEDS)
def test_with_events_the_new_group_starts_the_whole_history_behind_and_catches_up(seed):
    res = run("events", seed)
    r, t = res.report, res.trace
    history = int(((t.event == "request") & (t.time <= res.params["joins_at"])).sum())
    crm = res.series["behind"][res.series["behind"].team == NEW_TEAM]
    assert crm.behind.iloc[0] == history and r.new_reader_lag_max >= history
    assert res.params["joins_at"] < r.caught_up_at < t[t.event == "request"].time.max()
    handled = t[(t.component == NEW_TEAM) & (t.event == "side_effect") & (t.time <= r.caught_up_at)]
    assert handled.msg_id.nunique() == ((t.event == "request") & (t.time <= r.caught_up_at)).sum()


@pytest.mark.parametrize("seed", SEEDS)
def test_with_events_an_outage_of_one_team_fails_nothing_and_its_backlog_drains(seed):
    res = run("events", seed, outage=OUTAGE)
    r = res.report
    assert r.failed_calls == 0 and r.downstream_missed == 0 and r.latency_p99 < 20
    email = res.series["behind"][res.series["behind"].team == "email"]
    assert email.behind.max() > 50 and email.behind.iloc[-1] == 0


def test_a_new_reader_slower_than_the_arrivals_catches_up_only_after_they_stop():
    res = run("events", 1, new_handling_time=12)
    last_signup = res.trace[res.trace.event == "request"].time.max()
    assert res.report.new_reader_missed == 0 and res.report.caught_up_at > last_signup


# -- the scenario: direct calls ------------------------------------------------------------------
@pytest.mark.parametrize("seed", SEEDS)
def test_with_direct_calls_the_producer_is_redeployed_and_crm_misses_every_sign_up_before_it(seed):
    res = run("direct_calls", seed)
    r, t = res.report, res.trace
    deployed = t[(t.component == "signup") & (t.event == "deployed")]
    assert r.producer_changes == len(deployed) == 1 and deployed.time.iloc[0] == res.params["joins_at"]
    before = int(((t.event == "request") & (t.time < deployed.time.iloc[0])).sum())
    assert before > 0 and r.new_reader_missed == before and r.new_reader_handled == r.requests - before
    assert math.isnan(r.caught_up_at)


@pytest.mark.parametrize("seed", SEEDS)
def test_with_direct_calls_every_call_into_the_outage_times_out_and_that_sign_up_never_reaches_email(seed):
    res = run("direct_calls", seed, outage=OUTAGE)
    r, t = res.report, res.trace
    failed = t[t.event == "call_failed"]
    assert r.failed_calls == len(failed) > 0 and r.downstream_missed == r.failed_calls
    assert failed.detail.str.startswith("email:").all()
    sent = failed.time - res.params["call_timeout"]  # when each timed-out call left
    assert (sent >= OUTAGE[0] - 3).all() and (sent <= OUTAGE[0] + OUTAGE[1]).all()
    assert r.latency_p99 > res.params["call_timeout"]
    assert not set(failed.msg_id) & set(t[(t.component == "email") & (t.event == "side_effect")].msg_id)


def test_with_direct_calls_a_calm_run_misses_nothing_for_the_teams_there_from_the_start():
    for seed in SEEDS:
        r = run("direct_calls", seed).report
        assert r.failed_calls == 0 and r.downstream_missed == 0


def test_a_team_that_arrives_after_the_last_sign_up_gets_nothing_by_calls_and_everything_by_events():
    late = {d: run(d, 2, joins_at=20_000).report for d in ("direct_calls", "events")}
    assert late["direct_calls"].new_reader_missed == 600 and late["direct_calls"].new_reader_handled == 0
    assert late["events"].new_reader_missed == 0 and late["events"].caught_up_at > 20_000


def test_direct_calls_answer_slower_than_events_and_slower_still_once_crm_is_called_too():
    res = run("direct_calls", 1)
    t = res.trace
    req = t[t.event == "request"].set_index("msg_id").time
    ans = t[t.event == "responded"].set_index("msg_id").time
    wait = (ans - req).dropna()
    before, after = wait[req[wait.index] < 3000], wait[req[wait.index] > 3000]
    assert after.mean() > before.mean() + 2  # one more round trip of 2 to 6 ms
    assert res.report.latency_p50 > 2 * run("events", 1).report.latency_p50


# -- determinism and the trace as the truth ------------------------------------------------------
@pytest.mark.parametrize("design", ["direct_calls", "events"])
def test_one_seed_one_history(design):
    a, b = run(design, 3, outage=OUTAGE), run(design, 3, outage=OUTAGE)
    assert dict(a.report) == pytest.approx(dict(b.report), nan_ok=True)
    assert a.trace.equals(b.trace)
    assert not run(design, 4).trace.equals(run(design, 3).trace)


def test_the_behind_series_is_recomputed_from_the_trace_alone():
    res = run("events", 1, outage=OUTAGE)
    again = behind_series(res.trace, res.params["joins_at"], res.report.duration)
    assert again.equals(res.series["behind"])


def test_every_reported_field_is_declared_and_in_the_glossary():
    entry = sk.scenarios.SCENARIOS["add_consumer"]
    assert set(run("events").report) == set(entry.fields)
    assert sk.glossary.unknown(entry.fields) == []


# -- bad input -----------------------------------------------------------------------------------
@pytest.mark.parametrize("kwargs, param", [
    ({"joins_at": 700_000}, "joins_at"),
    ({"joins_at": -1}, "joins_at"),
    ({"outage": (4000,)}, "outage"),
    ({"outage": (4000, 0)}, "outage"),
    ({"signups": 0}, "signups"),
    ({"call_timeout": 0}, "call_timeout"),
    ({"new_handling_time": "slow"}, "new_handling_time"),
    ({"partitions": 0}, "partitions"),
    ({"max_time": math.inf}, "max_time"),
])
def test_bad_input_is_a_config_error_naming_the_parameter(kwargs, param):
    with pytest.raises(sk.ConfigError) as err:
        run("events", **kwargs)
    assert err.value.param == param


def test_an_unknown_design_names_the_designs():
    with pytest.raises(sk.ConfigError, match="direct_calls"):
        run("webhooks")


# -- the figure ----------------------------------------------------------------------------------
def test_the_figure_draws_one_line_per_design_and_states_who_caught_up():
    runs = {d: run(d, 1) for d in ("direct_calls", "events")}
    ax = sk.plots.behind_over_time(runs)
    assert len(ax.get_lines()) == 3  # two designs and the arrival mark
    title = ax.get_title()
    missed = runs["direct_calls"].report.new_reader_missed
    assert missed > 0 and f"direct_calls: crm never caught up, {missed} sign-ups never reached it" in title
    assert f"events: crm caught up {runs['events'].report.caught_up_at - 3000:.0f} ms after it arrived" in title
    email = sk.plots.behind_over_time({d: run(d, 1, outage=OUTAGE) for d in runs}, team="email")
    assert "events: email" in email.get_title() and "0 at the end" in email.get_title()
    with pytest.raises(sk.ConfigError, match="team"):
        sk.plots.behind_over_time(runs, team="marketing")
    matplotlib.pyplot.close("all")


# -- the checklist -------------------------------------------------------------------------------
@pytest.mark.parametrize("teams, asynchronous, fan_out, replay", list(itertools.product([False, True], repeat=4)))
def test_the_rule_over_every_combination_of_answers(teams, asynchronous, fan_out, replay):
    v = sk.fit.lean(teams=teams, asynchronous=asynchronous, fan_out=fan_out, replay=replay)
    others = fan_out or replay
    expected = ("events" if asynchronous and (others or teams) else
                "call_then_events" if not asynchronous and others else "no_broker")
    assert v.leaning == expected
    assert len(v.reasons) == 4 and (v.costs == ()) == (expected == "no_broker")
    assert v.yes == tuple(n for n, a in zip(("teams", "asynchronous", "fan_out", "replay"),
                                            (teams, asynchronous, fan_out, replay)) if a)


def test_team_ownership_alone_does_not_make_a_question_into_an_event():
    assert sk.fit.lean(teams=True, asynchronous=False, fan_out=False, replay=False).leaning == "no_broker"
    assert sk.fit.lean(teams=True, asynchronous=True, fan_out=False, replay=False).leaning == "events"


def test_the_cases_lean_every_way_and_each_answer_has_a_reason():
    leanings = {name: c.verdict.leaning for name, c in sk.fit.CASES.items()}
    assert set(leanings.values()) == set(sk.fit.LEANINGS)
    for c in sk.fit.CASES.values():
        assert set(c.answers) == set(c.why) == {q.name for q in sk.fit.CHECKLIST}
        assert c.name in sk.fit.cases() and c.story.split()[0] in sk.fit.cases()
        assert c.verdict.leaning not in sk.fit.cases()  # the list to decide gives no answers away
    assert all(c.why[q] in sk.fit.explain(c.name) for c in sk.fit.CASES.values() for q in c.why)


def test_review_sets_your_calls_beside_the_kits():
    calls = {"checkout": "events", "nightly_report": "no_broker"}
    table = sk.fit.review(calls)
    assert list(table.index) == list(sk.fit.CASES)
    assert table.loc["checkout", "agree"] is False and table.loc["checkout", "kit"] == "call_then_events"
    assert table.loc["nightly_report", "agree"] is True and table.loc["audit_log", "agree"] is None
    assert table.loc["audit_log", "yours"] == "(no call)"


@pytest.mark.parametrize("call, param, match", [
    (lambda: sk.fit.lean(teams="yes", asynchronous=True, fan_out=True, replay=True), "teams", "True or False"),
    (lambda: sk.fit.lean(teams=True, asynchronous=True, fan_out=1, replay=True), "fan_out", "True or False"),
    (lambda: sk.fit.review({"chekout": "events"}), "calls", "did you mean 'checkout'"),
    (lambda: sk.fit.review({"checkout": "kafka"}), "calls['checkout']", "call_then_events"),
    (lambda: sk.fit.review(["checkout"]), "calls", "dict"),
    (lambda: sk.fit.explain("audit"), "case", "audit_log"),
])
def test_bad_answers_are_config_errors_naming_what_is_allowed(call, param, match):
    with pytest.raises(sk.ConfigError, match=match) as err:
        call()
    assert err.value.param == param


def test_lean_takes_every_answer_by_name():
    with pytest.raises(TypeError):
        sk.fit.lean(True, True, True, True)  # type: ignore[misc]
    with pytest.raises(TypeError):
        sk.fit.lean(teams=True)  # type: ignore[call-arg]


def test_behind_is_never_negative():
    for design in ("direct_calls", "events"):
        assert (np.asarray(run(design, 5, outage=OUTAGE).series["behind"].behind) >= 0).all()


def test_client_is_checked_and_a_librdkafka_reader_taking_one_record_a_poll_catches_up_later():
    with pytest.raises(sk.ConfigError) as err:
        run("events", client="kafka-python")
    assert err.value.param == "client" and "'librdkafka'" in str(err.value)
    java, rdk = run("events", 1), run("events", 1, client="librdkafka")
    assert java.params["client"] == "java" and rdk.report.new_reader_missed == 0
    assert rdk.report.caught_up_at > java.report.caught_up_at
    def catch_up_fetches(res):  # crm's polls while it reads the history
        t = res.trace
        return ((t.component == NEW_TEAM) & (t.event == "fetch") & (t.time <= java.report.caught_up_at)).sum()

    assert catch_up_fetches(rdk) > 2 * catch_up_fetches(java)
