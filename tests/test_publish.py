"""The publishing lesson: dual write loses, publish-then-commit makes ghosts, the outbox only duplicates."""

import math

import matplotlib.pyplot as plt
import pytest
from hypothesis import given
from hypothesis import strategies as st

import simkit as sk
from simkit.scenarios.publish import DESIGNS, RELAY_POINTS, SERVICE_POINTS

CRASHED = (3, 11, 19)  # requests the schedules below crash


@pytest.mark.parametrize("point", SERVICE_POINTS["dual_write"])
def test_dual_write_loses_an_event_exactly_when_the_crash_falls_between_commit_and_publish(point):
    r = sk.scenarios.publish("dual_write", messages=40, seed=2, crash_schedule=[(n, point) for n in CRASHED])
    assert r.report.crashes == len(CRASHED)
    expected = len(CRASHED) if point == "between_commit_and_publish" else 0
    assert r.report.lost == expected
    assert r.report.ghosts == 0 and r.report.duplicates == 0
    if expected:
        assert set(r.checks["lost"].examples) == {f"signup-{n}" for n in CRASHED}


@pytest.mark.parametrize("point", SERVICE_POINTS["publish_then_commit"])
def test_publish_then_commit_makes_a_ghost_exactly_when_the_crash_falls_between_publish_and_commit(point):
    r = sk.scenarios.publish("publish_then_commit", messages=40, seed=2,
                             crash_schedule=[(n, point) for n in CRASHED])
    expected = len(CRASHED) if point == "between_publish_and_commit" else 0
    assert r.report.ghosts == expected
    assert r.report.lost == 0 and r.report.duplicates == 0
    if expected:
        assert set(r.checks["ghosts"].examples) == {f"signup-{n}" for n in CRASHED}


def test_publish_then_commit_makes_ghosts_when_the_database_refuses_the_commit():
    r = sk.scenarios.publish("publish_then_commit", messages=100, seed=3, db_outage=(1000, 800))
    assert r.report.ghosts > 0 and r.report.lost == 0
    assert r.report.ghosts == r.report.failed_requests  # every refused commit left its event behind
    t = r.trace
    ghost = r.checks["ghosts"].examples[0]
    rows = t[t.msg_id == ghost]
    assert "append" in set(rows.event) and "db_rejected" in set(rows.event)


def test_crashed_requests_are_answered_with_an_error_and_the_service_goes_on():
    r = sk.scenarios.publish("dual_write", messages=30, seed=1, crash_schedule=[(5, "before_commit")])
    t = r.trace
    failed = t[t.event == "request_failed"]
    assert failed.msg_id.tolist() == ["signup-5"] and "crashed" in failed.detail.iloc[0]
    assert ((t.component == "service") & (t.event == "restart")).sum() == 1
    assert r.report.succeeded == 29 and r.report.requests == 30


service_schedules = st.lists(st.tuples(st.integers(0, 39), st.sampled_from(SERVICE_POINTS["outbox"])), max_size=8)
relay_schedules = st.lists(st.tuples(st.integers(0, 60), st.sampled_from(RELAY_POINTS)), max_size=8)


@given(seed=st.integers(0, 10**6), service=service_schedules, relay=relay_schedules)
def test_outbox_never_loses_under_any_crash_schedule(seed, service, relay):
    r = sk.scenarios.publish("outbox", messages=40, seed=seed, crash_schedule=service,
                             relay_crash_schedule=relay)
    rep = r.report
    assert rep.lost == 0 and rep.ghosts == 0 and rep.pending == 0
    assert rep.published == rep.committed
    # only a relay crash between publish and mark can publish twice
    assert rep.extra_copies <= sum(1 for p in dict(relay).values() if p == "after_publish")


@given(seed=st.integers(0, 10**6),
       schedule=st.lists(st.tuples(st.integers(0, 39), st.sampled_from(SERVICE_POINTS["dual_write"])), max_size=8))
def test_dual_write_loses_one_event_per_crash_between_commit_and_publish(seed, schedule):
    r = sk.scenarios.publish("dual_write", messages=40, seed=seed, crash_schedule=schedule)
    between = sum(1 for p in dict(schedule).values() if p == "between_commit_and_publish")
    assert r.report.lost == between
    assert r.report.committed - r.report.published == between


def test_a_relay_crash_after_publish_gives_exactly_one_duplicate():
    r = sk.scenarios.publish("outbox", messages=40, seed=4, relay_crash_schedule=[(7, "after_publish")])
    assert r.report.duplicates == 1 and r.report.extra_copies == 1
    assert r.report.lost == 0 and r.report.relay_crashes == 1
    dup = r.checks["duplicates"].examples[0]
    t = r.trace
    crash = t[(t.component == "relay") & (t.event == "crash")]
    assert crash.msg_id.tolist() == [dup] and crash.detail.tolist() == ["after_publish"]


def test_outbox_duplicates_grow_with_relay_crashes_and_nothing_is_lost():
    df = sk.compare("publish", ["outbox"], seeds=4, relay_crash_rate=0.1, messages=100)
    assert (df.lost == 0).all() and (df.ghosts == 0).all() and (df.pending == 0).all()
    assert df.duplicates.sum() > 0


def test_a_dead_relay_stops_publishing_while_requests_still_succeed_and_the_alerts_fire():
    r = sk.scenarios.publish("outbox", messages=200, seed=1, relay_dies_at=2000, alert_lag=50, alert_age=2000)
    rep = r.report
    assert rep.succeeded == rep.requests == 200 and rep.failed_requests == 0
    t = r.trace
    assert (t.loc[t.event == "append", "time"] <= 2000 + 10).all()
    assert rep.pending == rep.committed - rep.published > 100
    assert rep.lost == 0  # the events wait in the outbox: nothing is gone, only stuck
    alerts = t[t.event == "alert"]
    assert {d.split("=")[0] for d in alerts.detail} == {"outbox_lag", "outbox_age"}
    assert 2000 < rep.first_alert_at < 2000 + 2000 + 2 * r.params["monitor_interval"]
    assert rep.alerts == 2 and rep.outbox_age_max > 2000
    assert r.series["outbox_lag"].outbox_lag.iloc[-1] == rep.pending


def test_a_healthy_relay_raises_no_alert():
    r = sk.scenarios.publish("outbox", messages=200, seed=1)
    assert r.report.alerts == 0 and math.isnan(r.report.first_alert_at)
    assert 0 < r.report.outbox_lag_max < 50


def test_a_broker_outage_slows_dual_write_requests_but_not_outbox_requests():
    common = dict(messages=200, seed=5, broker_outage=(2000, 2500))  # longer than alert_age=2000
    dual = sk.scenarios.publish("dual_write", **common).report
    box = sk.scenarios.publish("outbox", **common).report
    assert dual.latency_max > 1000 > 50 > box.latency_max
    assert box.lost == box.pending == 0 and box.alerts >= 1  # the backlog drains after the outage


def test_a_broker_outage_longer_than_the_publish_timeout_loses_dual_writes():
    r = sk.scenarios.publish("dual_write", messages=100, seed=5, broker_outage=(1000, 3000), publish_timeout=500)
    assert r.report.lost > 0 and r.report.lost == r.report.failed_requests
    assert r.report.ghosts == 0


def test_compare_under_one_seed_gives_every_design_the_same_arrivals_and_crash_draws():
    df = sk.compare("publish", DESIGNS, seeds=[0, 1, 2], crash_rate=0.1, messages=60)
    per_seed = df.groupby("seed")
    assert (per_seed.last_request_at.nunique() == 1).all()
    assert (per_seed.crashes.nunique() == 1).all()
    assert df.last_request_at.nunique() == 3  # and different seeds differ


def test_crash_rate_is_the_chance_a_request_crashes():
    df = sk.compare("publish", ["dual_write"], seeds=6, crash_rate=0.2, messages=200)
    rate = df.crashes.sum() / df.requests.sum()
    assert rate == pytest.approx(0.2, abs=0.03)
    # one of the three points loses the event: a third of the crashes
    assert df.lost.sum() / df.crashes.sum() == pytest.approx(1 / 3, abs=0.08)
    assert sk.scenarios.publish("outbox", crash_rate=1.0, messages=20).report.crashes == 20


def test_one_seed_one_history():
    a = sk.scenarios.publish("outbox", crash_rate=0.1, relay_crash_rate=0.1, messages=60, seed=9)
    b = sk.scenarios.publish("outbox", crash_rate=0.1, relay_crash_rate=0.1, messages=60, seed=9)
    assert a.trace.equals(b.trace)


def test_designs_without_an_outbox_have_empty_outbox_series():
    r = sk.scenarios.publish("dual_write", messages=20)
    assert set(r.series) == {"outbox_lag", "outbox_age"}
    assert r.series["outbox_lag"].empty and list(r.series["outbox_age"].columns) == ["time", "outbox_age"]


def test_report_has_every_field_the_lesson_names():
    rep = sk.scenarios.publish("outbox", messages=20).report
    for field in ("lost", "ghosts", "duplicates", "requests", "committed", "published", "alerts", "pending",
                  "latency_mean", "latency_p99", "delivery_p99"):
        assert field in rep


def test_outbox_metrics_plot_titles_the_alert():
    r = sk.scenarios.publish("outbox", messages=100, seed=1, relay_dies_at=1000)
    lag_ax, age_ax = sk.plots.outbox_metrics(r)
    assert "relay died at 1.0 s" in lag_ax.get_title() and "alert fired" in lag_ax.get_title()
    assert age_ax.get_ylabel().endswith("(s)")
    plt.close("all")
    with pytest.raises(sk.ConfigError):
        sk.plots.outbox_metrics(r, metric="depth")


def test_unknown_design_is_a_config_error_listing_the_designs():
    with pytest.raises(sk.ConfigError) as err:
        sk.scenarios.publish("two_phase_commit")
    for design in DESIGNS:
        assert design in str(err.value)


@pytest.mark.parametrize("kwargs,param", [
    (dict(crash_rate=-0.1), "crash_rate"),
    (dict(crash_rate=1.5), "crash_rate"),
    (dict(crash_rate="often"), "crash_rate"),
    (dict(relay_crash_rate=2), "relay_crash_rate"),
    (dict(messages=0), "messages"),
    (dict(seed=1.5), "seed"),
    (dict(arrival_rate=0), "arrival_rate"),
    (dict(crash_schedule=[(0, "between_commit_and_publish")]), "crash_schedule"),  # not an outbox point
    (dict(crash_schedule=[(-1, "before_commit")]), "crash_schedule"),
    (dict(relay_crash_schedule=[(0, "before_commit")]), "relay_crash_schedule"),
    (dict(relay_dies_at=-1), "relay_dies_at"),
    (dict(db_outage=(100,)), "db_outage"),
    (dict(broker_outage=(100, 0)), "broker_outage"),
    (dict(alert_lag=-5), "alert_lag"),
    (dict(alert_age="soon"), "alert_age"),
    (dict(publish_timeout=0), "publish_timeout"),
    (dict(batch_size=0), "batch_size"),
    (dict(service_time="fast"), "service_time"),
])
def test_bad_parameters_are_config_errors(kwargs, param):
    with pytest.raises(sk.ConfigError) as err:
        sk.scenarios.publish("outbox", **kwargs)
    assert err.value.param == param


def test_every_trace_event_is_documented():
    r = sk.scenarios.publish("outbox", crash_rate=0.1, relay_crash_rate=0.1, messages=60, seed=1,
                             db_outage=(500, 300), broker_outage=(1500, 2500))
    assert set(r.trace.event) <= set(sk.EVENTS)
