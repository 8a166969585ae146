"""What lesson 18's text says, asserted on the runs and the checklist it shows (a drifting finding fails here).

Each test names the section whose sentence it keeps true; the lesson's own code is read from its text twin
where it matters (the calls it makes are the ones below, with the same arguments).
"""

from __future__ import annotations

import math
import re
from pathlib import Path

import numpy as np
import pytest

import simkit as sk

TEXT = (Path(__file__).resolve().parents[1] / "notebooks" / "text" / "18-when-eda-fits.py").read_text()
DESIGNS = ["direct_calls", "events"]
OUTAGE = (4000, 1000)


@pytest.fixture(scope="module")
def calm():
    return {d: sk.scenarios.add_consumer(d, seed=1) for d in DESIGNS}


@pytest.fixture(scope="module")
def down():
    return {d: sk.scenarios.add_consumer(d, seed=1, outage=OUTAGE) for d in DESIGNS}


@pytest.fixture(scope="module")
def seeds():
    return sk.compare("add_consumer", DESIGNS, seeds=10, outage=OUTAGE, progress=False)


def test_the_lesson_makes_the_runs_this_test_checks():
    assert 'sk.scenarios.add_consumer(d, seed=1) for d in DESIGNS' in TEXT
    assert 'sk.scenarios.add_consumer(d, seed=1, outage=(4000, 1000)) for d in DESIGNS' in TEXT
    assert 'sk.compare("add_consumer", DESIGNS, seeds=10, outage=(4000, 1000), progress=False)' in TEXT


# -- sections 1 to 3: the checklist and the cases ------------------------------------------------
def test_2_the_lesson_asks_for_a_call_on_every_case_and_names_only_the_three_leanings():
    calls = re.search(r"my_calls = \{(.*?)\}", TEXT, re.DOTALL).group(1)
    assert re.findall(r'"(\w+)": ""', calls) == list(sk.fit.CASES)
    assert set(re.findall(r'`"(\w+)"`', TEXT.split("my_calls")[0])) >= set(sk.fit.LEANINGS)


def test_2_checkout_answers_directly_and_publishes_afterwards():
    assert sk.fit.CASES["checkout"].verdict.leaning == "call_then_events"


def test_2_price_lookup_is_another_team_and_still_leans_to_no_broker():
    case = sk.fit.CASES["price_lookup"]
    assert case.answers["teams"] and case.verdict.leaning == "no_broker"


def test_2_the_kit_often_leans_away_from_a_broker():
    leanings = [c.verdict.leaning for c in sk.fit.CASES.values()]
    assert leanings.count("no_broker") >= len(leanings) / 3


def test_3_the_case_of_your_own_leans_to_events_and_lists_the_costs_with_their_lessons():
    v = sk.fit.lean(teams=True, asynchronous=True, fan_out=False, replay=True)
    assert v.leaning == "events" and all(re.search(r"lessons? \d\d", c) for c in v.costs)
    assert "sk.fit.lean(teams=True, asynchronous=True, fan_out=False, replay=True)" in TEXT


# -- section 4: a team nobody planned for --------------------------------------------------------
def test_4_the_story_600_sign_ups_about_one_every_10_ms_and_crm_at_3_s(calm):
    run = calm["events"]
    t = run.trace
    times = t[t.event == "request"].time
    assert run.report.requests == 600 and 8 < times.max() / 600 < 12
    assert run.params["joins_at"] == 3000 and np.isclose(run.params["new_handling_time"].mean, 1.0)


def test_4_crm_starts_about_300_behind_and_catches_up_in_a_few_hundred_ms_closer_to_300_than_30_or_3000(
        calm, seeds):
    r = calm["events"].report
    assert 270 <= r.new_reader_lag_max <= 330
    catch_up = seeds[seeds.design == "events"].caught_up_at - 3000
    assert catch_up.between(math.sqrt(30 * 300), math.sqrt(300 * 3000)).all()  # nearer 300 ms on a log scale
    assert catch_up.between(100, 999).all()  # "a few hundred milliseconds"


def test_4_the_sign_up_service_changed_once_for_direct_calls_and_never_for_events(calm, seeds):
    assert calm["direct_calls"].report.producer_changes == 1 and calm["events"].report.producer_changes == 0
    by = seeds.groupby("design").producer_changes
    assert (by.min() == by.max()).all() and by.max().to_dict() == {"direct_calls": 1, "events": 0}


def test_4_with_direct_calls_crm_stays_as_far_behind_as_it_started(calm):
    b = calm["direct_calls"].series["behind"]
    crm = b[b.team == "crm"].behind
    assert math.isnan(calm["direct_calls"].report.caught_up_at)
    assert abs(crm.iloc[-1] - crm.iloc[0]) <= 10 and crm.min() >= crm.iloc[0] - 10


def test_4_each_team_in_the_chain_adds_a_round_trip_and_events_answer_after_the_broker_alone(calm):
    t = calm["direct_calls"].trace
    req = t[t.event == "request"].set_index("msg_id").time
    wait = (t[t.event == "responded"].set_index("msg_id").time - req).dropna()
    assert wait[req[wait.index] > 3000].mean() > wait[req[wait.index] < 3000].mean() + 2
    assert calm["direct_calls"].report.latency_p50 > 2 * calm["events"].report.latency_p50


# -- section 5: a team is down -------------------------------------------------------------------
def test_5_the_calm_p99s_are_about_19_and_6_ms(calm):
    assert 17 <= calm["direct_calls"].report.latency_p99 <= 21
    assert 4 <= calm["events"].report.latency_p99 <= 8


def test_5_with_direct_calls_each_call_in_the_outage_waits_200_ms_and_its_sign_up_never_reaches_email(down):
    run = down["direct_calls"]
    r = run.report
    assert run.params["call_timeout"] == 200 and r.failed_calls > 0 and r.downstream_missed == r.failed_calls
    assert r.latency_p99 >= 200
    email = run.series["behind"][run.series["behind"].team == "email"].behind
    assert email.iloc[-1] == r.downstream_missed  # the red line rises and stays


def test_5_with_events_the_sign_up_service_does_not_notice_and_the_backlog_drains(down, calm):
    run = down["events"]
    r = run.report
    assert r.failed_calls == 0 and r.downstream_missed == 0
    assert r.latency_p99 == pytest.approx(calm["events"].report.latency_p99, rel=0.2)
    email = run.series["behind"][run.series["behind"].team == "email"].behind
    assert email.max() > 50 and email.iloc[-1] == 0


def test_5_the_followed_sign_up_is_answered_within_milliseconds_and_emailed_after_the_restart(down):
    follow = down["direct_calls"].checks["downstream_missed"].examples[0]
    t = down["events"].trace
    rows = t[t.msg_id == follow]
    asked = rows[rows.event == "request"].time.iloc[0]
    answered = rows[rows.event == "responded"].time.iloc[0]
    handled = rows[rows.event == "side_effect"].set_index("component").time
    assert OUTAGE[0] <= asked <= OUTAGE[0] + OUTAGE[1] and answered - asked < 20
    assert handled["billing"] - asked < 20 and handled["crm"] - asked < 20
    restart = t[(t.component == "email") & (t.event == "restart")].time.iloc[0]
    assert handled["email"] > restart >= OUTAGE[0] + OUTAGE[1]


# -- section 6: over many seeds ------------------------------------------------------------------
def test_6_on_every_seed_events_lose_nothing_and_direct_calls_lose_the_history_and_the_outage(seeds):
    ev, dc = seeds[seeds.design == "events"], seeds[seeds.design == "direct_calls"]
    assert len(ev) == len(dc) == 10
    assert (ev.new_reader_missed == 0).all() and (ev.downstream_missed == 0).all() and (ev.failed_calls == 0).all()
    assert (dc.new_reader_missed > 0).all() and (dc.failed_calls > 0).all()
    assert (dc.downstream_missed == dc.failed_calls).all()


# -- section 7 and the Try it yourself ------------------------------------------------------------
def test_7_a_crm_slower_than_the_arrivals_catches_up_only_once_they_stop():
    fast = sk.scenarios.add_consumer("events", seed=1, new_handling_time=8)
    slow = sk.scenarios.add_consumer("events", seed=1, new_handling_time=12)
    last = slow.trace[slow.trace.event == "request"].time.max()
    assert slow.report.caught_up_at > last and slow.report.new_reader_missed == 0
    assert fast.report.caught_up_at < slow.report.caught_up_at
